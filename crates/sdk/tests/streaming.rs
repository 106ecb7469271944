//! The SDK's streaming paths against a real server on a loopback port: file and chunked
//! pushes, `read_all_files`, metadata by HEAD, and an expired token before a large upload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use trove_sdk::{
    AuthorizeOptions, Client, ContractDetails, FileDescriptor, PullSessionOptions, Push, PushBody,
    PushRequest, ReadAllOptions, TokenChangeCallback, TokenPair,
};
use trove_server::store::ContractKind;
use trove_testkit::consent_browser::{ConsentBrowser, Decision};
use trove_testkit::{RegisteredContract, TestServer};

const CALLBACK: &str = "https://app.example/callback";

/// Files read back, by pushed display name: the server's file name and the payload.
type ReceivedFiles = HashMap<String, (String, Vec<u8>)>;
const PASSWORD: &str = "correct horse battery";

fn details(contract: &RegisteredContract) -> ContractDetails {
    let pem = contract.private_key.to_pkcs1_pem().unwrap();
    ContractDetails::from_pem(contract.contract_id.clone(), &pem).unwrap()
}

fn client_for(server: &TestServer) -> Client {
    Client::builder("stream-app")
        .base_url(server.api_base())
        .onboard_url(server.onboard_base())
        .build()
        .unwrap()
}

/// Runs authorize, the consent page and the code exchange, and returns the new pair.
async fn consent(
    client: &Client,
    contract: &ContractDetails,
    link: Option<&TokenPair>,
    create_library: bool,
) -> TokenPair {
    let mut options = AuthorizeOptions::new(contract, CALLBACK, "state-1");
    options.user_access_token = link.cloned();
    let authorize = client.get_authorize_url(options).await.expect("authorize");
    let callback = ConsentBrowser::new()
        .unwrap()
        .authorize(
            &authorize.url,
            "bob",
            PASSWORD,
            Decision::Allow,
            create_library,
        )
        .await
        .expect("consent page");
    assert!(
        callback.success,
        "consent failed: {:?}",
        callback.error_code
    );
    let code = callback.code.expect("code on the callback");
    client
        .exchange_code_for_token(contract, &code, &authorize.code_verifier)
        .await
        .expect("exchange")
}

fn named_descriptor(mime: &str, name: &str) -> FileDescriptor {
    let mut descriptor = FileDescriptor::new(mime);
    descriptor.file_name = Some(name.into());
    descriptor
}

/// Returns `length` bytes that differ from position to position, so a shifted or repeated
/// chunk shows up in a comparison.
fn patterned(length: usize) -> Vec<u8> {
    (0..length).map(|index| (index * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn file_and_stream_pushes_read_back() {
    let server = TestServer::start().await.unwrap();
    let write = details(
        &server
            .add_contract("stream-app", "writer", ContractKind::Write, &[CALLBACK])
            .await
            .unwrap(),
    );
    let read = details(
        &server
            .add_contract("stream-app", "reader", ContractKind::ReadRaw, &[CALLBACK])
            .await
            .unwrap(),
    );
    let client = client_for(&server);
    let write_token = consent(&client, &write, None, true).await;

    // A file from disk goes out with Content-Length, the chunk stream with chunked encoding.
    let dir = tempfile::tempdir().unwrap();
    let file_content = patterned(5_000_000);
    let path = dir.path().join("scan.bin");
    std::fs::write(&path, &file_content).unwrap();
    let file_push = Push::Library {
        descriptor: named_descriptor("application/octet-stream", "scan.bin"),
        body: PushBody::File(path),
    };
    client
        .push_data(PushRequest::new(&write, &write_token, file_push))
        .await
        .expect("file push");

    let chunks: Vec<Bytes> = (0..40)
        .map(|index| Bytes::from(format!("line {index}\n")))
        .collect();
    let stream_content: Vec<u8> = chunks.iter().flat_map(|chunk| chunk.to_vec()).collect();
    let stream_push = Push::Library {
        descriptor: named_descriptor("text/plain", "lines.txt"),
        body: PushBody::from_stream_factory(move || {
            futures::stream::iter(chunks.clone().into_iter().map(Ok))
        }),
    };
    client
        .push_data(PushRequest::new(&write, &write_token, stream_push))
        .await
        .expect("stream push");

    let read_token = consent(&client, &read, Some(&write_token), false).await;
    let options = PullSessionOptions {
        source_fetch: Some(false),
        ..Default::default()
    };
    let session = client
        .read_session(&read, &read_token, &options)
        .await
        .expect("read session");

    // Read everything through read_all_files, keyed by the pushed file name.
    let received: Arc<Mutex<ReceivedFiles>> = Arc::default();
    let sink = Arc::clone(&received);
    let mut read_all = ReadAllOptions::new(session.value.key.clone(), move |file| {
        let sink = Arc::clone(&sink);
        async move {
            let display_name = file.metadata.metadata["filename"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let mut data = Vec::new();
            file.body.into_async_read().read_to_end(&mut data).await?;
            sink.lock()
                .unwrap()
                .insert(display_name, (file.file_name, data));
            Ok(())
        }
    });
    read_all.concurrency = 2;
    read_all.poll_interval = Duration::from_millis(100);
    let outcome = client
        .read_all_files(&read, &session.token, read_all)
        .await
        .expect("read all files")
        .value;
    assert_eq!(outcome.status.state, "completed");
    assert_eq!(outcome.files_read, 2);
    assert!(outcome.file_errors.is_empty(), "{:?}", outcome.file_errors);
    assert!(!outcome.timed_out);

    let received = received.lock().unwrap().clone();
    let (scan_name, scan_data) = &received["scan.bin"];
    assert!(
        *scan_data == file_content,
        "scan.bin differs after read-back"
    );
    let (_, lines_data) = &received["lines.txt"];
    assert_eq!(lines_data, &stream_content);

    // HEAD returns the same metadata without the body.
    let metadata = client
        .read_file_metadata(&read, &read_token, &session.value.key, scan_name)
        .await
        .expect("file metadata")
        .value;
    assert_eq!(metadata.metadata.metadata["filename"], "scan.bin");
    assert_eq!(
        metadata.metadata.metadata["mimetype"],
        "application/octet-stream"
    );
    assert!(metadata.last_modified.is_some());
}

#[tokio::test]
async fn expired_token_before_large_file_push() {
    let server = TestServer::start_with(|config| config.access_token_ttl = Duration::from_secs(1))
        .await
        .unwrap();
    let write = details(
        &server
            .add_contract("stream-app", "writer", ContractKind::Write, &[CALLBACK])
            .await
            .unwrap(),
    );
    let client = client_for(&server);
    let token = consent(&client, &write, None, true).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // The server rejects an expired token before reading the upload and closes the connection,
    // so this push only succeeds because the client refreshes before sending.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.bin");
    std::fs::write(&path, patterned(20_000_000)).unwrap();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&calls);
    let callback: TokenChangeCallback =
        Arc::new(move |pair: &TokenPair| sink.lock().unwrap().push(pair.clone()));
    let push = Push::Library {
        descriptor: named_descriptor("application/octet-stream", "large.bin"),
        body: PushBody::File(path),
    };
    let mut request = PushRequest::new(&write, &token, push);
    request.on_token_change = Some(callback);
    let result = client.push_data(request).await.expect("push after expiry");

    assert!(result.refreshed);
    assert_ne!(result.token.access_token, token.access_token);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].access_token, result.token.access_token);
}
