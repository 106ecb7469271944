//! A library push that is cut off half way leaves nothing behind: no file in the library, no
//! blob and no temporary file. A push that was acknowledged survives a server restart.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures::stream;
use trove_protocol::claims::{FileDescriptorClaims, UserClaims};
use trove_protocol::jws::{self, Header};
use trove_sdk::{AuthorizeOptions, Client, ContractDetails, PullSessionOptions, TokenPair};
use trove_server::store::ContractKind;
use trove_testkit::consent_browser::{ConsentBrowser, Decision};
use trove_testkit::{RegisteredContract, TestServer};

const CALLBACK: &str = "https://app.example/cb";

fn details(contract: &RegisteredContract) -> ContractDetails {
    ContractDetails::from_pem(contract.contract_id.clone(), &contract.private_key.to_pkcs1_pem().unwrap()).unwrap()
}

async fn grant(server: &TestServer, contract: &ContractDetails, link: Option<&TokenPair>) -> (TokenPair, String) {
    let client = Client::builder("app1").base_url(server.api_base()).onboard_url(server.onboard_base()).build().unwrap();
    let mut options = AuthorizeOptions::new(contract, CALLBACK, "s");
    options.user_access_token = link.cloned();
    let authorize = client.get_authorize_url(options).await.unwrap();
    let callback = ConsentBrowser::new()
        .unwrap()
        .authorize(&authorize.url, "ivy", "a long enough password", Decision::Allow, link.is_none())
        .await
        .unwrap();
    let token = client.exchange_code_for_token(contract, &callback.code.unwrap(), &authorize.code_verifier).await.unwrap();
    (token, authorize.session.key)
}

fn files_under(path: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            found.extend(files_under(&entry.path()));
        } else {
            found.push(entry.path().display().to_string());
        }
    }
    found
}

fn push_request(server: &TestServer, contract: &RegisteredContract, token: &TokenPair) -> reqwest::RequestBuilder {
    let client_id = format!("{}_{}", contract.app_id, contract.contract_id);
    let bearer = jws::sign(&Header::client(), &UserClaims::new(&client_id, &token.access_token), &contract.private_key).unwrap();
    let descriptor = FileDescriptorClaims { metadata: serde_json::json!({"mimeType": "application/octet-stream", "accounts": []}) };
    let descriptor = jws::sign(&Header::client(), &descriptor, &contract.private_key).unwrap();
    reqwest::Client::new()
        .post(format!("{}permission-access/import", server.api_base()))
        .bearer_auth(bearer)
        .header("FileDescriptor", descriptor)
        .header("content-type", "application/octet-stream")
}

#[tokio::test]
async fn cut_off_push_leaves_nothing() {
    let server = TestServer::start().await.unwrap();
    let write = server.add_contract("app1", "write", ContractKind::Write, &[CALLBACK]).await.unwrap();
    let raw = server.add_contract("app1", "raw", ContractKind::ReadRaw, &[CALLBACK]).await.unwrap();
    let (token, _) = grant(&server, &details(&write), None).await;
    let (raw_token, session) = grant(&server, &details(&raw), Some(&token)).await;

    // A chunked body that fails after 3 MiB: the client aborts the request mid-body.
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..3)
        .map(|_| Ok(Bytes::from(vec![7u8; 1 << 20])))
        .chain(std::iter::once(Err(std::io::Error::other("client gave up"))))
        .collect();
    let result = push_request(&server, &write, &token).body(reqwest::Body::wrap_stream(stream::iter(chunks))).send().await;
    assert!(result.is_err() || !result.unwrap().status().is_success(), "a cut-off push must not be acknowledged");

    // The server notices the broken body asynchronously; give it a moment to clean up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let blobs = files_under(&server.data_dir.join(trove_server::BLOB_DIR));
    assert!(blobs.is_empty(), "no blob or temporary file may remain: {blobs:?}");

    let client = Client::builder("app1").base_url(server.api_base()).onboard_url(server.onboard_base()).build().unwrap();
    let list = client.read_file_list(&details(&raw), &raw_token, &session).await.unwrap().value;
    assert_eq!(list.file_list.unwrap_or_default().len(), 0, "no file may be visible");
    server.stop().await;
}

#[tokio::test]
async fn acknowledged_push_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path().to_path_buf(), |_| {}).await.unwrap();
    let write = server.add_contract("app1", "write", ContractKind::Write, &[CALLBACK]).await.unwrap();
    let raw = server.add_contract("app1", "raw", ContractKind::ReadRaw, &[CALLBACK]).await.unwrap();
    let (token, _) = grant(&server, &details(&write), None).await;
    let (raw_token, _) = grant(&server, &details(&raw), Some(&token)).await;
    let large: Vec<u8> = (0..2_500_000u32).map(|index| (index % 241) as u8).collect();
    for body in [b"small body".to_vec(), large.clone()] {
        let response = push_request(&server, &write, &token).body(body).send().await.unwrap();
        assert_eq!(response.status(), 201);
    }
    server.stop().await;

    let server = TestServer::start_in(dir.path().to_path_buf(), |_| {}).await.unwrap();
    let client = Client::builder("app1").base_url(server.api_base()).onboard_url(server.onboard_base()).build().unwrap();
    let raw_details = details(&raw);
    let session = client.read_session(&raw_details, &raw_token, &PullSessionOptions::default()).await.unwrap().value;
    let entries = client.read_file_list(&raw_details, &raw_token, &session.key).await.unwrap().value.file_list.unwrap();
    assert_eq!(entries.len(), 2);
    let mut sizes = Vec::new();
    for entry in entries {
        let file = client.read_file_to_vec(&raw_details, &raw_token, &session.key, &entry.name).await.unwrap().value;
        if file.data.len() == large.len() {
            assert_eq!(file.data, large);
        }
        sizes.push(file.data.len());
    }
    sizes.sort();
    assert_eq!(sizes, vec![10, large.len()]);
    server.stop().await;
}

#[tokio::test]
async fn rejected_large_push_still_gets_its_status() {
    let server = TestServer::start().await.unwrap();
    let write = server.add_contract("app1", "write", ContractKind::Write, &[CALLBACK]).await.unwrap();
    let (mut token, _) = grant(&server, &details(&write), None).await;
    token.access_token = "not-a-real-token".into();
    // The client sends the whole 8 MiB before reading the response, as reqwest and Node do.
    let response = push_request(&server, &write, &token).body(vec![1u8; 8 << 20]).send().await.expect("a response, not a broken pipe");
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "InvalidToken");
    server.stop().await;
}
