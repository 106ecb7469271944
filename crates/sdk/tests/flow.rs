//! The SDK against a real server on an ephemeral loopback port: the whole consent, push and
//! read-back flow, and each rejection the protocol defines.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use trove_protocol::claims::{AuthorizeClaims, UserClaims};
use trove_protocol::jws::{self, Header};
use trove_protocol::{b64, pkce};
use trove_sdk::{
    AuthorizeOptions, Client, ContractDetails, Criterion, CriterionMetadata, Error, FileDescriptor,
    PullSessionOptions, Push, PushBody, PushRequest, Scope, TokenPair,
};
use trove_server::store::ContractKind;
use trove_testkit::consent_browser::{ConsentBrowser, Decision};
use trove_testkit::{RegisteredContract, TestServer};

const CALLBACK: &str = "https://app.example/callback";
const PASSWORD: &str = "correct horse battery";

fn details(contract: &RegisteredContract) -> ContractDetails {
    let pem = contract.private_key.to_pkcs1_pem().unwrap();
    ContractDetails::from_pem(contract.contract_id.clone(), &pem).unwrap()
}

fn client_for(server: &TestServer, app_id: &str) -> Client {
    Client::builder(app_id)
        .base_url(server.api_base())
        .onboard_url(server.onboard_base())
        .build()
        .unwrap()
}

/// Runs authorize, the consent page and the code exchange.
async fn consent(
    client: &Client,
    contract: &ContractDetails,
    username: &str,
    link: Option<&TokenPair>,
    create_library: bool,
) -> (TokenPair, String) {
    let mut options = AuthorizeOptions::new(contract, CALLBACK, "state-1");
    options.user_access_token = link.cloned();
    let authorize = client.get_authorize_url(options).await.expect("authorize");
    let callback = ConsentBrowser::new()
        .unwrap()
        .authorize(
            &authorize.url,
            username,
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
    assert_eq!(callback.state.as_deref(), Some("state-1"));
    let code = callback.code.expect("code on the callback");
    let token = client
        .exchange_code_for_token(contract, &code, &authorize.code_verifier)
        .await
        .expect("exchange");
    (token, authorize.session.key)
}

fn library_push(bytes: &[u8], mime: &str, tags: &[&str]) -> Push {
    let mut descriptor = FileDescriptor::new(mime);
    descriptor.tags = Some(tags.iter().map(|tag| tag.to_string()).collect());
    descriptor.accounts = vec![trove_sdk::DescriptorAccount {
        account_id: "acct-7".into(),
    }];
    Push::Library {
        descriptor,
        body: PushBody::from(bytes.to_vec()),
    }
}

fn server_code(error: &Error) -> Option<(u16, String)> {
    match error {
        Error::Server { status, code, .. } => Some((status.as_u16(), code.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn push_then_read_back_through_linked_contract() {
    let server = TestServer::start().await.unwrap();
    let write = server
        .add_contract("app1", "write", ContractKind::Write, &[CALLBACK])
        .await
        .unwrap();
    let read = server
        .add_contract("app1", "raw", ContractKind::ReadRaw, &[CALLBACK])
        .await
        .unwrap();
    let (write, read) = (details(&write), details(&read));
    let client = client_for(&server, "app1");

    let (write_token, _) = consent(&client, &write, "alice", None, true).await;
    let pdf = b"%PDF-1.4 not really a pdf but bytes all the same".repeat(50);
    let big: Vec<u8> = (0..300_000u32).map(|index| (index % 253) as u8).collect();
    client
        .push_data(PushRequest::new(
            &write,
            &write_token,
            library_push(&pdf, "application/pdf", &["invoice"]),
        ))
        .await
        .unwrap();
    client
        .push_data(PushRequest::new(
            &write,
            &write_token,
            library_push(&big, "image/jpeg", &["photo"]),
        ))
        .await
        .unwrap();

    let (read_token, session) = consent(&client, &read, "alice", Some(&write_token), false).await;
    assert_eq!(
        read_token.user_id, write_token.user_id,
        "linked to the same library"
    );

    let list = client
        .read_file_list(&read, &read_token, &session)
        .await
        .unwrap()
        .value;
    assert_eq!(list.status.state, "completed");
    let entries = list.file_list.unwrap();
    assert_eq!(entries.len(), 2);
    let mut found = Vec::new();
    for entry in &entries {
        assert!(entry.updated_date > 0);
        assert!(entry
            .name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte)));
        let file = client
            .read_file_to_vec(&read, &read_token, &session, &entry.name)
            .await
            .unwrap()
            .value;
        let metadata = &file.metadata.metadata;
        assert_eq!(metadata["appid"], "app1");
        assert_eq!(metadata["contractid"], "write");
        assert_eq!(metadata["accounts"][0]["accountid"], "acct-7");
        assert!(metadata["created"].as_i64().unwrap() > 0);
        assert!(
            file.metadata.compression.is_none(),
            "no compression unless asked"
        );
        found.push((
            metadata["mimetype"].as_str().unwrap().to_string(),
            file.data,
        ));
    }
    found.sort();
    assert_eq!(found[0], ("application/pdf".to_string(), pdf.clone()));
    assert_eq!(found[1], ("image/jpeg".to_string(), big.clone()));

    // scope.criteria filters, and gzip only when asked.
    let options = PullSessionOptions {
        scope: Some(Scope {
            criteria: Some(vec![Criterion {
                metadata: Some(CriterionMetadata {
                    tags: Some(vec!["photo".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        accept: Some(trove_sdk::AcceptOptions {
            compression: Some("gzip".into()),
        }),
        ..Default::default()
    };
    let filtered = client
        .read_session(&read, &read_token, &options)
        .await
        .unwrap()
        .value;
    let entries = client
        .read_file_list(&read, &read_token, &filtered.key)
        .await
        .unwrap()
        .value
        .file_list
        .unwrap();
    assert_eq!(entries.len(), 1);
    let file = client
        .read_file_to_vec(&read, &read_token, &filtered.key, &entries[0].name)
        .await
        .unwrap()
        .value;
    assert_eq!(file.metadata.compression.as_deref(), Some("gzip"));
    assert_eq!(file.data, big);

    assert!(client
        .read_accounts(&read, &read_token)
        .await
        .unwrap()
        .value
        .is_empty());
    client.delete_user(&write, &write_token).await.unwrap();
    let after = client
        .read_file_list(&read, &read_token, &session)
        .await
        .unwrap_err();
    assert_eq!(
        server_code(&after).map(|(status, _)| status),
        Some(401),
        "{after}"
    );
    server.stop().await;
}

#[tokio::test]
async fn other_application_sees_nothing() {
    let server = TestServer::start().await.unwrap();
    let write = details(
        &server
            .add_contract("app1", "write", ContractKind::Write, &[CALLBACK])
            .await
            .unwrap(),
    );
    let other = details(
        &server
            .add_contract("app2", "raw", ContractKind::ReadRaw, &[CALLBACK])
            .await
            .unwrap(),
    );
    let client1 = client_for(&server, "app1");
    let client2 = client_for(&server, "app2");
    let (token, _) = consent(&client1, &write, "bob", None, true).await;
    client1
        .push_data(PushRequest::new(
            &write,
            &token,
            library_push(b"secret", "text/plain", &[]),
        ))
        .await
        .unwrap();

    // The same person signs in for the other application: same library, but none of app1's files.
    let (other_token, session) = consent(&client2, &other, "bob", None, false).await;
    assert_eq!(other_token.user_id, token.user_id);
    let list = client2
        .read_file_list(&other, &other_token, &session)
        .await
        .unwrap()
        .value;
    assert_eq!(list.file_list.unwrap_or_default().len(), 0);

    // Linking with another application's token is refused.
    let mut options = AuthorizeOptions::new(&other, CALLBACK, "s");
    options.user_access_token = Some(token.clone());
    let error = client2.get_authorize_url(options).await.unwrap_err();
    assert_eq!(server_code(&error), Some((401, "InvalidToken".into())));

    // app2 deleting "the user" removes only what app2 has: app1 keeps its files and token.
    client2.delete_user(&other, &other_token).await.unwrap();
    let gone = client2.read_file_list(&other, &other_token, &session).await.unwrap_err();
    assert_eq!(server_code(&gone).map(|(status, _)| status), Some(401));
    client1
        .push_data(PushRequest::new(&write, &token, library_push(b"still here", "text/plain", &[])))
        .await
        .expect("app1's consent survives app2's delete");
    // Once app1 deletes too, nothing is left and the library goes with it.
    client1.delete_user(&write, &token).await.unwrap();
    let authorize = client1.get_authorize_url(AuthorizeOptions::new(&write, CALLBACK, "s")).await.unwrap();
    let callback = ConsentBrowser::new().unwrap().authorize(&authorize.url, "bob", PASSWORD, Decision::Allow, false).await;
    assert!(callback.is_err(), "bob's sign-in is gone with the library");
    server.stop().await;
}

#[tokio::test]
async fn consent_denied_reports_user_cancel() {
    let server = TestServer::start().await.unwrap();
    let write = details(
        &server
            .add_contract("app1", "write", ContractKind::Write, &[CALLBACK])
            .await
            .unwrap(),
    );
    let client = client_for(&server, "app1");
    let authorize = client
        .get_authorize_url(AuthorizeOptions::new(&write, CALLBACK, "s1"))
        .await
        .unwrap();
    let callback = ConsentBrowser::new()
        .unwrap()
        .authorize(&authorize.url, "carol", PASSWORD, Decision::Deny, true)
        .await
        .unwrap();
    assert!(!callback.success);
    assert_eq!(callback.error_code.as_deref(), Some("USER_CANCEL"));
    assert!(callback.code.is_none());
    server.stop().await;
}

#[tokio::test]
async fn callback_not_allowed_is_rejected() {
    let server = TestServer::start().await.unwrap();
    let write = details(
        &server
            .add_contract("app1", "write", ContractKind::Write, &[CALLBACK])
            .await
            .unwrap(),
    );
    let client = client_for(&server, "app1");
    let error = client
        .get_authorize_url(AuthorizeOptions::new(
            &write,
            "https://evil.example/cb",
            "s",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        server_code(&error),
        Some((400, "InvalidRedirectUri".into()))
    );
    server.stop().await;
}

#[tokio::test]
async fn code_reuse_and_wrong_verifier_are_rejected() {
    let server = TestServer::start().await.unwrap();
    let write = details(
        &server
            .add_contract("app1", "write", ContractKind::Write, &[CALLBACK])
            .await
            .unwrap(),
    );
    let client = client_for(&server, "app1");
    let browser = ConsentBrowser::new().unwrap();

    let authorize = client
        .get_authorize_url(AuthorizeOptions::new(&write, CALLBACK, "s"))
        .await
        .unwrap();
    let callback = browser
        .authorize(&authorize.url, "dave", PASSWORD, Decision::Allow, true)
        .await
        .unwrap();
    let code = callback.code.unwrap();
    let first = client
        .exchange_code_for_token(&write, &code, &authorize.code_verifier)
        .await
        .unwrap();
    let reused = client
        .exchange_code_for_token(&write, &code, &authorize.code_verifier)
        .await
        .unwrap_err();
    assert_eq!(
        server_code(&reused),
        Some((401, "InvalidToken".into())),
        "{reused}"
    );
    // The reuse revoked the pair the first exchange issued.
    let revoked = client.refresh_token(&write, &first).await.unwrap_err();
    assert_eq!(server_code(&revoked), Some((401, "InvalidToken".into())), "{revoked}");

    let authorize = client
        .get_authorize_url(AuthorizeOptions::new(&write, CALLBACK, "s"))
        .await
        .unwrap();
    let callback = browser
        .authorize(&authorize.url, "dave", PASSWORD, Decision::Allow, false)
        .await
        .unwrap();
    let wrong = client
        .exchange_code_for_token(&write, &callback.code.unwrap(), &pkce::create_verifier())
        .await
        .unwrap_err();
    assert_eq!(
        server_code(&wrong),
        Some((400, "ValidationErrors".into())),
        "{wrong}"
    );
    server.stop().await;
}

/// Sends one raw authorize request with the given bearer and returns status and error code.
async fn raw_authorize(server: &TestServer, bearer: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}oauth/authorize", server.api_base()))
        .bearer_auth(bearer)
        .json(&json!({"agent": {"sdk": {"name": "test", "version": "0"}}}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body)
}

fn authorize_claims(client_id: &str) -> AuthorizeClaims {
    AuthorizeClaims {
        access_token: None,
        client_id: client_id.into(),
        code_challenge: pkce::challenge(&pkce::create_verifier()),
        code_challenge_method: "S256".into(),
        nonce: trove_protocol::claims::new_nonce(),
        redirect_uri: CALLBACK.into(),
        response_mode: "query".into(),
        response_type: "code".into(),
        state: Some("s".into()),
        timestamp: trove_protocol::time::now_ms(),
    }
}

fn assert_error(body: &Value, code: &str) {
    let members: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(members, vec!["error"], "only the error member: {body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string());
    assert_eq!(body["error"]["reference"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn request_signature_rejections() {
    let server = TestServer::start().await.unwrap();
    let write = server
        .add_contract("app1", "write", ContractKind::Write, &[CALLBACK])
        .await
        .unwrap();
    let other = server
        .add_contract("app1", "other", ContractKind::Write, &[CALLBACK])
        .await
        .unwrap();

    // A good request, then the same JWT again: nonce replay.
    let token = jws::sign(
        &Header::client(),
        &authorize_claims("app1_write"),
        &write.private_key,
    )
    .unwrap();
    assert_eq!(raw_authorize(&server, &token).await.0, 200);
    let (status, body) = raw_authorize(&server, &token).await;
    assert_eq!(status, 406);
    assert_error(&body, "InvalidRequest");

    // Signed by another contract's key.
    let forged = jws::sign(
        &Header::client(),
        &authorize_claims("app1_write"),
        &other.private_key,
    )
    .unwrap();
    let (status, body) = raw_authorize(&server, &forged).await;
    assert_eq!(status, 400);
    assert_error(&body, "ValidationErrors");

    // HS512 and none.
    let payload = b64::encode(serde_json::to_vec(&authorize_claims("app1_write")).unwrap());
    for alg in ["HS512", "none"] {
        let header = b64::encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let token = format!(
            "{header}.{payload}.{}",
            if alg == "none" { "" } else { "c2lnbmF0dXJl" }
        );
        let (status, body) = raw_authorize(&server, &token).await;
        assert_eq!(status, 400, "{alg}");
        assert_error(&body, "ValidationErrors");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(alg),
            "{body}"
        );
    }

    // Unknown client and a stale timestamp.
    let unknown = jws::sign(
        &Header::client(),
        &authorize_claims("nope_write"),
        &write.private_key,
    )
    .unwrap();
    let (status, body) = raw_authorize(&server, &unknown).await;
    assert_eq!(status, 401);
    assert_error(&body, "InvalidClient");
    let mut stale = authorize_claims("app1_write");
    stale.timestamp -= 10 * 60 * 1000;
    let stale = jws::sign(&Header::client(), &stale, &write.private_key).unwrap();
    let (status, body) = raw_authorize(&server, &stale).await;
    assert_eq!(status, 400);
    assert_error(&body, "ValidationErrors");
    server.stop().await;
}

#[tokio::test]
async fn expired_access_token_is_refreshed_once() {
    let server = TestServer::start_with(|config| config.access_token_ttl = Duration::from_secs(1))
        .await
        .unwrap();
    let write = details(
        &server
            .add_contract("app1", "write", ContractKind::Write, &[CALLBACK])
            .await
            .unwrap(),
    );
    let calls = Arc::new(AtomicUsize::new(0));
    let latest: Arc<Mutex<Option<TokenPair>>> = Arc::default();
    let (calls_seen, latest_seen) = (Arc::clone(&calls), Arc::clone(&latest));
    let client = Client::builder("app1")
        .base_url(server.api_base())
        .onboard_url(server.onboard_base())
        .on_token_change(Arc::new(move |token: &TokenPair| {
            calls_seen.fetch_add(1, Ordering::SeqCst);
            *latest_seen.lock().unwrap() = Some(token.clone());
        }))
        .build()
        .unwrap();
    let (token, _) = consent(&client, &write, "erin", None, true).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let result = client
        .push_data(PushRequest::new(
            &write,
            &token,
            library_push(b"after expiry", "text/plain", &[]),
        ))
        .await
        .unwrap();
    assert!(result.refreshed);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "token-change callback called once"
    );
    let new_token = latest.lock().unwrap().clone().unwrap();
    assert_eq!(new_token, result.token);
    assert_ne!(new_token.access_token, token.access_token);
    assert_ne!(
        new_token.refresh_token, token.refresh_token,
        "refresh tokens rotate"
    );
    server.stop().await;
}

#[tokio::test]
async fn refresh_token_reuse_revokes_family() {
    let server = TestServer::start_with(|config| config.refresh_grace = Duration::ZERO)
        .await
        .unwrap();
    let write = details(
        &server
            .add_contract("app1", "write", ContractKind::Write, &[CALLBACK])
            .await
            .unwrap(),
    );
    let client = client_for(&server, "app1");
    let (token, _) = consent(&client, &write, "frank", None, true).await;
    let rotated = client.refresh_token(&write, &token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    let reused = client.refresh_token(&write, &token).await.unwrap_err();
    assert_eq!(
        server_code(&reused),
        Some((401, "InvalidToken".into())),
        "{reused}"
    );
    // Reuse revoked the whole family, including the pair issued by the rotation.
    let after = client.refresh_token(&write, &rotated).await.unwrap_err();
    assert_eq!(server_code(&after), Some((401, "InvalidToken".into())));
    let push = client
        .push_data(PushRequest::new(
            &write,
            &rotated,
            library_push(b"x", "text/plain", &[]),
        ))
        .await
        .unwrap_err();
    assert!(matches!(server_code(&push), Some((401, _))), "{push}");
    server.stop().await;
}

#[tokio::test]
async fn refresh_within_grace_window_returns_current_pair() {
    let server = TestServer::start().await.unwrap();
    let write = details(&server.add_contract("app1", "write", ContractKind::Write, &[CALLBACK]).await.unwrap());
    let client = client_for(&server, "app1");
    let (token, _) = consent(&client, &write, "gina", None, true).await;
    let first = client.refresh_token(&write, &token).await.unwrap();
    let second = client.refresh_token(&write, &token).await.unwrap();
    assert_eq!(first, second, "a retry within the grace window gets the same pair");
    client.push_data(PushRequest::new(&write, &first, library_push(b"a", "text/plain", &[]))).await.unwrap();
    let third = client.refresh_token(&write, &first).await.unwrap();
    assert_ne!(third.refresh_token, first.refresh_token, "the current pair still rotates");
    server.stop().await;
}

#[tokio::test]
async fn invalid_descriptor_and_wrong_contract_kind() {
    let server = TestServer::start_with(|config| config.max_upload_bytes = 1000)
        .await
        .unwrap();
    let write = server
        .add_contract("app1", "write", ContractKind::Write, &[CALLBACK])
        .await
        .unwrap();
    let raw = server
        .add_contract("app1", "raw", ContractKind::ReadRaw, &[CALLBACK])
        .await
        .unwrap();
    let (write_details, raw_details) = (details(&write), details(&raw));
    let client = client_for(&server, "app1");
    let (token, _) = consent(&client, &write_details, "hank", None, true).await;
    let (raw_token, _) = consent(&client, &raw_details, "hank", Some(&token), false).await;

    let push = |key: &trove_protocol::keys::RsaPrivateKey,
                client_id: &str,
                access: &str,
                descriptor: Value,
                body: Vec<u8>| {
        let bearer =
            jws::sign(&Header::client(), &UserClaims::new(client_id, access), key).unwrap();
        let descriptor = jws::sign(
            &Header::client(),
            &trove_protocol::claims::FileDescriptorClaims {
                metadata: descriptor,
            },
            key,
        )
        .unwrap();
        let url = format!("{}permission-access/import", server.api_base());
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(bearer)
                .header("content-type", "application/octet-stream")
                .header("FileDescriptor", descriptor)
                .body(body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        }
    };

    let (status, body) = push(
        &write.private_key,
        "app1_write",
        &token.access_token,
        json!({"accounts": []}),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(&body, "ValidationErrors");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mimeType"),
        "{body}"
    );

    let (status, body) = push(
        &write.private_key,
        "app1_write",
        &token.access_token,
        json!({"mimeType": "text/plain", "accounts": []}),
        vec![0u8; 2000],
    )
    .await;
    assert_eq!(status, 413);
    assert_error(&body, "ValidationErrors");

    let (status, body) = push(
        &raw.private_key,
        "app1_raw",
        &raw_token.access_token,
        json!({"mimeType": "text/plain", "accounts": []}),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 403);
    assert_error(&body, "InsufficientScope");

    // Trigger with a write contract.
    let error = client
        .read_session(&write_details, &token, &PullSessionOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        server_code(&error),
        Some((400, "InvalidContractDataRequest".into()))
    );
    server.stop().await;
}
