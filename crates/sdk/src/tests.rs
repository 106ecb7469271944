//! Tests of whole calls against a loopback mock server, checking what goes over the wire.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};
use trove_protocol::encrypted_file;
use trove_protocol::wire::{FileDescriptor, PullSessionOptions, TokenPair, XMetadata};

use crate::test_support::{
    contract, server_token, token_pair, token_response, MockServer, Recorded, Reply, SERVER_KID,
};
use crate::*;

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_jitter: Duration::from_millis(5),
        ..RetryPolicy::default()
    }
}

fn client_for(server: &MockServer) -> Client {
    Client::builder("app-1")
        .base_url(server.base_url())
        .retry(fast_retries())
        .build()
        .unwrap()
}

/// Returns a token-change callback that records every pair it receives, with the record.
fn recording_callback() -> (TokenChangeCallback, Arc<Mutex<Vec<TokenPair>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let callback: TokenChangeCallback =
        Arc::new(move |pair: &TokenPair| sink.lock().unwrap().push(pair.clone()));
    (callback, seen)
}

fn assert_node_claims(claims: &Value) {
    let nonce = claims["nonce"].as_str().expect("nonce is a string");
    assert_eq!(nonce.len(), 32, "nonce {nonce}");
    assert!(
        nonce.chars().all(|c| c.is_ascii_alphanumeric()),
        "nonce {nonce}"
    );
    let timestamp = claims["timestamp"]
        .as_i64()
        .expect("timestamp is an integer");
    let now = trove_protocol::time::now_ms();
    assert!(
        (now - timestamp).abs() < 60_000,
        "timestamp {timestamp} is not in ms near {now}"
    );
    assert_eq!(claims["client_id"], "app-1_contract-1");
}

fn claim_names(claims: &Value) -> Vec<String> {
    claims.as_object().unwrap().keys().cloned().collect()
}

fn encrypted_download(plain: &[u8], compression: Option<&str>) -> Reply {
    let payload = match compression {
        Some("gzip") => {
            use std::io::Write;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(plain).unwrap();
            encoder.finish().unwrap()
        }
        _ => plain.to_vec(),
    };
    let body = encrypted_file::encrypt(&contract().private_key.public_key(), &payload).unwrap();
    let metadata = XMetadata {
        metadata: json!({"mimetype": "text/plain", "accounts": [], "filename": "note.txt"}),
        compression: compression.map(str::to_string),
    };
    Reply::new(200)
        .header("content-type", "application/octet-stream")
        .header("x-metadata", &metadata.encode())
        .header("last-modified", "Tue, 01 Jul 2025 10:00:00 GMT")
        .body(body)
}

#[tokio::test]
async fn authorize_sends_authz_claims_and_builds_url() {
    let server = MockServer::start(|request| match request.path() {
        "oauth/authorize" => {
            let token = server_token(&request.base_url, SERVER_KID, &json!({"preauthorization_code": "PRE-1"}));
            Reply::json(200, &json!({"token": token, "session": {"key": "session-1", "expiry": 1_900_000_000_000i64}}))
        }
        _ => Reply::new(404),
    })
    .await;
    let client = client_for(&server);
    let contract = contract();
    let linked = token_pair("other-contract-access", "other-refresh");
    let options = AuthorizeOptions {
        user_access_token: Some(linked),
        session_options: Some(PullSessionOptions {
            source_fetch: Some(false),
            ..Default::default()
        }),
        locale: Some("nl".into()),
        ..AuthorizeOptions::new(&contract, "http://127.0.0.1:9/callback", "state-1")
    };
    let result = client.get_authorize_url(options).await.unwrap();

    let expected_url = format!(
        "http://{}/apps/saas/authorize?code=PRE-1&sourceType=pull&lng=nl",
        server.addr
    );
    assert_eq!(result.url, expected_url);
    assert_eq!(result.session.key, "session-1");

    let request = &server.requests_to("oauth/authorize")[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("accept"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["agent"]["sdk"]["name"], "trove-rust");
    assert_eq!(body["actions"], json!({"pull": {"sourceFetch": false}}));

    let authorization = request
        .header("authorization")
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap();
    let (header, _) = Recorded::decode_jwt(authorization);
    assert_eq!(header, json!({"alg": "PS512", "typ": "JWT"}));
    let claims = request.bearer_claims();
    assert_node_claims(&claims);
    assert_eq!(
        claim_names(&claims),
        [
            "access_token",
            "client_id",
            "code_challenge",
            "code_challenge_method",
            "nonce",
            "redirect_uri",
            "response_mode",
            "response_type",
            "state",
            "timestamp"
        ]
    );
    assert_eq!(claims["access_token"], "other-contract-access");
    assert_eq!(
        claims["code_challenge"],
        trove_protocol::pkce::challenge(&result.code_verifier)
    );
    assert_eq!(claims["code_challenge_method"], "S256");
    assert_eq!(claims["redirect_uri"], "http://127.0.0.1:9/callback");
    assert_eq!(claims["response_mode"], "query");
    assert_eq!(claims["response_type"], "code");
    assert_eq!(claims["state"], "state-1");
}

#[tokio::test]
async fn authorize_without_link_omits_access_token() {
    let server = MockServer::start(|request| {
        let token = server_token(
            &request.base_url,
            SERVER_KID,
            &json!({"preauthorization_code": "PRE"}),
        );
        Reply::json(
            200,
            &json!({"token": token, "session": {"key": "k", "expiry": 1}}),
        )
    })
    .await;
    let contract = contract();
    let options = AuthorizeOptions::new(&contract, "http://127.0.0.1:9/cb", "s");
    client_for(&server)
        .get_authorize_url(options)
        .await
        .unwrap();
    let request = &server.requests_to("oauth/authorize")[0];
    let claims = request.bearer_claims();
    assert!(claims.get("access_token").is_none(), "{claims}");
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert!(body.get("actions").is_none(), "{body}");
}

#[tokio::test]
async fn authorize_exchanges_storage_id() {
    let server = MockServer::start(|request| match request.path() {
        "reference" => Reply::json(200, &json!({"id": "storage-ref-1"})),
        _ => {
            let token = server_token(
                &request.base_url,
                SERVER_KID,
                &json!({"preauthorization_code": "PRE"}),
            );
            Reply::json(
                200,
                &json!({"token": token, "session": {"key": "k", "expiry": 1}}),
            )
        }
    })
    .await;
    let contract = contract();
    let options = AuthorizeOptions {
        storage_id: Some("cloud-9".into()),
        ..AuthorizeOptions::new(&contract, "http://127.0.0.1:9/cb", "s")
    };
    let result = client_for(&server)
        .get_authorize_url(options)
        .await
        .unwrap();
    assert!(
        result.url.ends_with("&storageRef=storage-ref-1"),
        "{}",
        result.url
    );

    let request = &server.requests_to("reference")[0];
    assert_eq!(request.method, "POST");
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body, json!({"type": "cloudId", "value": "cloud-9"}));
    let claims = request.bearer_claims();
    assert_node_claims(&claims);
    assert_eq!(claim_names(&claims), ["client_id", "nonce", "timestamp"]);
}

#[tokio::test]
async fn exchange_sends_no_body_and_maps_token() {
    let server = MockServer::start(|request| {
        Reply::json(
            200,
            &serde_json::from_slice(&token_response(&request.base_url, "acc-1", "ref-1")).unwrap(),
        )
    })
    .await;
    let contract = contract();
    let pair = client_for(&server)
        .exchange_code_for_token(&contract, "CODE-1", "verifier-1")
        .await
        .unwrap();
    assert_eq!(pair.access_token, "acc-1");
    assert_eq!(pair.refresh_token, "ref-1");
    assert_eq!(pair.user_id, "library-1");
    assert_eq!(pair.consent_id, "consent-1");
    assert_eq!(pair.access_expires_on, 2_000_000_000);

    let request = &server.requests_to("oauth/token")[0];
    assert_eq!(request.header("content-type"), None);
    assert_eq!(request.header("content-length"), Some("0"));
    assert!(!request.chunked);
    assert!(request.body.is_empty());
    let claims = request.bearer_claims();
    assert_node_claims(&claims);
    assert_eq!(
        claim_names(&claims),
        [
            "client_id",
            "code",
            "code_verifier",
            "grant_type",
            "nonce",
            "timestamp"
        ]
    );
    assert_eq!(claims["code"], "CODE-1");
    assert_eq!(claims["code_verifier"], "verifier-1");
    assert_eq!(claims["grant_type"], "authorization_code");
}

#[tokio::test]
async fn refresh_sends_empty_json_body() {
    let server = MockServer::start(|request| {
        Reply::json(
            200,
            &serde_json::from_slice(&token_response(&request.base_url, "acc-2", "ref-2")).unwrap(),
        )
    })
    .await;
    let contract = contract();
    let pair = client_for(&server)
        .refresh_token(&contract, &token_pair("acc-1", "ref-1"))
        .await
        .unwrap();
    assert_eq!(pair.access_token, "acc-2");

    let request = &server.requests_to("oauth/token")[0];
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("content-length"), Some("0"));
    assert!(request.body.is_empty());
    let claims = request.bearer_claims();
    assert_node_claims(&claims);
    assert_eq!(
        claim_names(&claims),
        [
            "client_id",
            "grant_type",
            "nonce",
            "refresh_token",
            "timestamp"
        ]
    );
    assert_eq!(claims["grant_type"], "refresh_token");
    assert_eq!(claims["refresh_token"], "ref-1");
}

#[tokio::test]
async fn jwks_is_cached_between_tokens() {
    let server = MockServer::start(|request| {
        Reply::json(
            200,
            &serde_json::from_slice(&token_response(&request.base_url, "a", "r")).unwrap(),
        )
    })
    .await;
    let client = client_for(&server);
    let contract = contract();
    client
        .exchange_code_for_token(&contract, "c1", "v")
        .await
        .unwrap();
    client
        .exchange_code_for_token(&contract, "c2", "v")
        .await
        .unwrap();
    assert_eq!(server.requests_to("jwks/oauth").len(), 1);
}

#[tokio::test]
async fn unknown_kid_fetches_jwks_again() {
    let server = MockServer::start(|request| {
        let token = server_token(
            &request.base_url,
            "rotated-key",
            &json!({"preauthorization_code": "PRE"}),
        );
        Reply::json(
            200,
            &json!({"token": token, "session": {"key": "k", "expiry": 1}}),
        )
    })
    .await;
    let client = client_for(&server);
    let contract = contract();
    let error = client
        .get_authorize_url(AuthorizeOptions::new(
            &contract,
            "http://127.0.0.1:9/cb",
            "s",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::InvalidTokenSignature(_)),
        "{error:?}"
    );
    // Once for the first token; the second call finds the cached set without the kid and
    // fetches again.
    client
        .get_authorize_url(AuthorizeOptions::new(
            &contract,
            "http://127.0.0.1:9/cb",
            "s",
        ))
        .await
        .unwrap_err();
    assert_eq!(server.requests_to("jwks/oauth").len(), 2);
}

#[tokio::test]
async fn foreign_jku_is_rejected_without_fetch() {
    let server = MockServer::start(|_| {
        let token = server_token(
            "http://127.0.0.2:1/v1.7/",
            SERVER_KID,
            &json!({"preauthorization_code": "PRE"}),
        );
        Reply::json(
            200,
            &json!({"token": token, "session": {"key": "k", "expiry": 1}}),
        )
    })
    .await;
    let contract = contract();
    let error = client_for(&server)
        .get_authorize_url(AuthorizeOptions::new(
            &contract,
            "http://127.0.0.1:9/cb",
            "s",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::InvalidTokenSignature(reason) if reason.contains("outside")),
        "{error:?}"
    );
    assert!(server.requests_to("jwks/oauth").is_empty());
}

#[tokio::test]
async fn token_signed_by_other_key_is_rejected() {
    let server = MockServer::start(|request| {
        let header = trove_protocol::jws::Header::server(
            format!("{}jwks/oauth", request.base_url),
            SERVER_KID,
        );
        // Signed with the contract key, not the key the JWKS publishes.
        let token = trove_protocol::jws::sign(
            &header,
            &json!({"preauthorization_code": "P"}),
            &contract().private_key,
        )
        .unwrap();
        Reply::json(
            200,
            &json!({"token": token, "session": {"key": "k", "expiry": 1}}),
        )
    })
    .await;
    let contract = contract();
    let error = client_for(&server)
        .get_authorize_url(AuthorizeOptions::new(
            &contract,
            "http://127.0.0.1:9/cb",
            "s",
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::InvalidTokenSignature(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn get_retries_with_fresh_nonce() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let server = MockServer::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) < 2 {
            Reply::error(503, "ServiceUnavailable")
        } else {
            Reply::json(200, &json!([]))
        }
    })
    .await;
    let contract = contract();
    let result = client_for(&server)
        .read_accounts(&contract, &token_pair("a", "r"))
        .await
        .unwrap();
    assert!(result.value.is_empty());
    let requests = server.requests_to("permission-access/accounts");
    assert_eq!(requests.len(), 3);
    let nonces: std::collections::HashSet<String> = requests
        .iter()
        .map(|request| {
            request.bearer_claims()["nonce"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(nonces.len(), 3, "every attempt has its own nonce");
}

#[tokio::test]
async fn get_gives_up_after_limit() {
    let server = MockServer::start(|_| Reply::error(502, "BadGateway")).await;
    let contract = contract();
    let error = client_for(&server)
        .read_accounts(&contract, &token_pair("a", "r"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(reqwest::StatusCode::BAD_GATEWAY));
    assert_eq!(server.requests_to("permission-access/accounts").len(), 3);
}

#[tokio::test]
async fn post_is_not_retried() {
    let server = MockServer::start(|_| Reply::error(503, "ServiceUnavailable")).await;
    let contract = contract();
    let error = client_for(&server)
        .read_session(
            &contract,
            &token_pair("a", "r"),
            &PullSessionOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("ServiceUnavailable"));
    assert_eq!(server.requests_to("permission-access/trigger").len(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::builder("app-1")
        .base_url(format!("http://{addr}/v1.7/"))
        .retry(fast_retries())
        .build()
        .unwrap();
    let contract = contract();
    let error = client
        .read_accounts(&contract, &token_pair("a", "r"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Transport(inner) if inner.is_connect()),
        "{error:?}"
    );
}

/// Starts a server whose user endpoints accept only the access token `fresh` and whose token
/// endpoint issues `fresh`.
async fn refreshing_server(reject_with: Reply) -> MockServer {
    MockServer::start(move |request| {
        if request.path() == "oauth/token" {
            return Reply::json(
                200,
                &serde_json::from_slice(&token_response(
                    &request.base_url,
                    "fresh",
                    "fresh-refresh",
                ))
                .unwrap(),
            );
        }
        if request.bearer_claims()["access_token"] != "fresh" {
            return reject_with.clone();
        }
        match request.path() {
            "permission-access/accounts" => Reply::json(200, &json!([])),
            "permission-access/trigger" => {
                Reply::json(200, &json!({"session": {"key": "s-1", "expiry": 5}}))
            }
            "permission-access/import" => Reply::json(201, &json!({"status": "delivered"})),
            _ => Reply::new(404),
        }
    })
    .await
}

#[tokio::test]
async fn invalid_token_refreshes_once() {
    let server = refreshing_server(Reply::error(401, "InvalidToken")).await;
    let (callback, seen) = recording_callback();
    let client = client_for(&server).with_token_change(callback);
    let contract = contract();
    let result = client
        .read_accounts(&contract, &token_pair("stale", "old-refresh"))
        .await
        .unwrap();

    assert!(result.refreshed);
    assert_eq!(result.token.access_token, "fresh");
    assert_eq!(result.token.refresh_token, "fresh-refresh");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].access_token, "fresh");
    assert_eq!(server.requests_to("permission-access/accounts").len(), 2);
    let refresh = &server.requests_to("oauth/token")[0];
    assert_eq!(refresh.bearer_claims()["refresh_token"], "old-refresh");
}

#[tokio::test]
async fn unparseable_401_refreshes_json_call() {
    let server = refreshing_server(Reply::new(401).body("Unauthorized")).await;
    let contract = contract();
    let result = client_for(&server)
        .read_session(
            &contract,
            &token_pair("stale", "r"),
            &PullSessionOptions::default(),
        )
        .await
        .unwrap();
    assert!(result.refreshed);
    assert_eq!(result.value.key, "s-1");
}

#[tokio::test]
async fn other_401_code_is_not_refreshed_for_json() {
    let server = refreshing_server(Reply::error(401, "ConsentRevoked")).await;
    let (callback, seen) = recording_callback();
    let client = client_for(&server).with_token_change(callback);
    let contract = contract();
    let error = client
        .read_accounts(&contract, &token_pair("stale", "r"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("ConsentRevoked"));
    assert!(server.requests_to("oauth/token").is_empty());
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn library_push_replays_body_after_401() {
    let server = refreshing_server(Reply::error(401, "ConsentRevoked")).await;
    let opened = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&opened);
    let body = PushBody::from_stream_factory(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        futures::stream::iter([
            Ok(Bytes::from_static(b"chunk one, ")),
            Ok(Bytes::from_static(b"chunk two")),
        ])
    });
    let (callback, seen) = recording_callback();
    let contract = contract();
    let stale = token_pair("stale", "r");
    let mut request = PushRequest::new(
        &contract,
        &stale,
        Push::Library {
            descriptor: FileDescriptor::new("text/plain"),
            body,
        },
    );
    request.on_token_change = Some(callback);
    let result = client_for(&server).push_data(request).await.unwrap();

    assert!(result.refreshed);
    assert_eq!(result.value, Some(json!({"status": "delivered"})));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(opened.load(Ordering::SeqCst), 2);
    let pushes = server.requests_to("permission-access/import");
    assert_eq!(pushes.len(), 2);
    for push in &pushes {
        assert_eq!(push.body, b"chunk one, chunk two");
        assert!(push.chunked, "a stream body goes out chunked");
    }
}

#[tokio::test]
async fn expired_token_refreshes_before_push() {
    let server = refreshing_server(Reply::error(401, "InvalidToken")).await;
    let (callback, seen) = recording_callback();
    let contract = contract();
    let mut expired = token_pair("stale", "r");
    expired.access_expires_on = trove_protocol::time::now_s() - 10;
    let push = Push::Library {
        descriptor: FileDescriptor::new("text/plain"),
        body: PushBody::from(b"data".to_vec()),
    };
    let mut request = PushRequest::new(&contract, &expired, push);
    request.on_token_change = Some(callback);
    let result = client_for(&server).push_data(request).await.unwrap();

    assert!(result.refreshed);
    assert_eq!(result.token.access_token, "fresh");
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(server.requests_to("oauth/token").len(), 1);
    let pushes = server.requests_to("permission-access/import");
    assert_eq!(pushes.len(), 1, "the stale token is never sent");
    assert_eq!(pushes[0].bearer_claims()["access_token"], "fresh");
}

#[tokio::test]
async fn second_401_is_returned_mapped() {
    let server = MockServer::start(|request| {
        if request.path() == "oauth/token" {
            Reply::json(
                200,
                &serde_json::from_slice(&token_response(&request.base_url, "still-bad", "r2"))
                    .unwrap(),
            )
        } else {
            Reply::error(401, "InvalidToken")
        }
    })
    .await;
    let (callback, seen) = recording_callback();
    let client = client_for(&server).with_token_change(callback);
    let contract = contract();
    let error = client
        .read_accounts(&contract, &token_pair("stale", "r"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Server { code, reference, .. } if code == "InvalidToken" && reference == "ref-1"),
        "{error:?}"
    );
    assert_eq!(server.requests_to("oauth/token").len(), 1);
    assert_eq!(server.requests_to("permission-access/accounts").len(), 2);
    // The refresh succeeded, so the app still learns the new pair.
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn failed_refresh_returns_refresh_error() {
    let server = MockServer::start(|_| Reply::error(401, "InvalidToken")).await;
    let contract = contract();
    let error = client_for(&server)
        .read_accounts(&contract, &token_pair("stale", "dead"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("InvalidToken"));
    assert_eq!(server.requests_to("oauth/token").len(), 1);
    assert_eq!(server.requests_to("permission-access/accounts").len(), 1);
}

#[tokio::test]
async fn library_push_sends_descriptor_and_length() {
    let server = MockServer::start(|_| Reply::new(201)).await;
    let contract = contract();
    let token = token_pair("acc", "r");
    let mut descriptor = FileDescriptor::new("application/pdf");
    descriptor.tags = Some(vec!["t".into()]);
    let push = Push::Library {
        descriptor,
        body: PushBody::from(b"%PDF-1.4 bytes".to_vec()),
    };
    let result = client_for(&server)
        .push_data(PushRequest::new(&contract, &token, push))
        .await
        .unwrap();
    assert_eq!(result.value, None);
    assert!(!result.refreshed);

    let request = &server.requests_to("permission-access/import")[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(request.header("content-length"), Some("14"));
    assert!(!request.chunked);
    assert_eq!(request.body, b"%PDF-1.4 bytes");
    let claims = request.bearer_claims();
    assert_node_claims(&claims);
    assert_eq!(
        claim_names(&claims),
        ["access_token", "client_id", "nonce", "timestamp"]
    );
    assert_eq!(claims["access_token"], "acc");

    let descriptor_jwt = request.header("filedescriptor").unwrap();
    let payload: Value =
        trove_protocol::jws::verify(descriptor_jwt, &contract.private_key.public_key()).unwrap();
    assert_eq!(
        payload,
        json!({"metadata": {"mimeType": "application/pdf", "accounts": [], "tags": ["t"]}})
    );
}

#[tokio::test]
async fn file_push_streams_with_content_length() {
    let server = MockServer::start(|_| Reply::new(201)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.bin");
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let contract = contract();
    let token = token_pair("acc", "r");
    let push = Push::Library {
        descriptor: FileDescriptor::new("application/octet-stream"),
        body: PushBody::File(path),
    };
    client_for(&server)
        .push_data(PushRequest::new(&contract, &token, push))
        .await
        .unwrap();

    let request = &server.requests_to("permission-access/import")[0];
    assert!(!request.chunked, "a file body goes out with Content-Length");
    assert_eq!(request.header("content-length"), Some("200000"));
    assert_eq!(request.body, content);
}

#[tokio::test]
async fn missing_push_file_is_io_error() {
    let server = MockServer::start(|_| Reply::new(201)).await;
    let contract = contract();
    let token = token_pair("acc", "r");
    let body = PushBody::File("/nonexistent/trove-sdk-test-file".into());
    let push = Push::Library {
        descriptor: FileDescriptor::new("text/plain"),
        body,
    };
    let error = client_for(&server)
        .push_data(PushRequest::new(&contract, &token, push))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Io(inner) if inner.kind() == std::io::ErrorKind::NotFound),
        "{error:?}"
    );
    assert!(server.requests_to("permission-access/import").is_empty());
}

#[tokio::test]
async fn provider_push_uses_account_header() {
    let server = MockServer::start(|_| Reply::json(200, &json!({}))).await;
    let contract = contract();
    let token = token_pair("acc", "r");
    let push = Push::Provider {
        standard: "fhir".into(),
        version: "stu3".into(),
        account_id: "account-7".into(),
        json: json!({"resourceType": "Bundle", "type": "collection"}),
    };
    client_for(&server)
        .push_data(PushRequest::new(&contract, &token, push))
        .await
        .unwrap();

    let request = &server.requests_to("permission-access/import/h:accountId/fhir/stu3")[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("accountid"), Some("account-7"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["resourceType"], "Bundle");
}

#[tokio::test]
async fn provider_push_rejects_non_json_reply() {
    let server = MockServer::start(|_| Reply::new(200).body("ok")).await;
    let contract = contract();
    let token = token_pair("acc", "r");
    let push = Push::Provider {
        standard: "fhir".into(),
        version: "stu3".into(),
        account_id: "a".into(),
        json: json!({}),
    };
    let error = client_for(&server)
        .push_data(PushRequest::new(&contract, &token, push))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnexpectedResponse { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn read_session_sends_trigger_body() {
    let server =
        MockServer::start(|_| Reply::json(200, &json!({"session": {"key": "s-9", "expiry": 123}})))
            .await;
    let contract = contract();
    let options = PullSessionOptions {
        source_fetch: Some(false),
        ..Default::default()
    };
    let result = client_for(&server)
        .read_session(&contract, &token_pair("a", "r"), &options)
        .await
        .unwrap();
    assert_eq!(
        result.value,
        Session {
            key: "s-9".into(),
            expiry: 123
        }
    );
    let request = &server.requests_to("permission-access/trigger")[0];
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["sourceFetch"], false);
    assert_eq!(body["agent"]["sdk"]["name"], "trove-rust");
    assert_eq!(request.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn read_session_without_session_is_unexpected() {
    let server = MockServer::start(|_| Reply::json(200, &json!({}))).await;
    let contract = contract();
    let error = client_for(&server)
        .read_session(
            &contract,
            &token_pair("a", "r"),
            &PullSessionOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UnexpectedResponse { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn read_file_decrypts_gzip_download() {
    let plain: Vec<u8> = b"line of text\n".repeat(5000);
    let expected = plain.clone();
    let server = MockServer::start(move |_| encrypted_download(&plain, Some("gzip"))).await;
    let contract = contract();
    let result = client_for(&server)
        .read_file_to_vec(&contract, &token_pair("a", "r"), "session-1", "file-1.txt")
        .await
        .unwrap();
    assert_eq!(result.value.data, expected);
    assert_eq!(result.value.file_name, "file-1.txt");
    assert_eq!(result.value.metadata.metadata["mimetype"], "text/plain");
    assert_eq!(result.value.metadata.compression.as_deref(), Some("gzip"));
    assert_eq!(
        result.value.last_modified.as_deref(),
        Some("Tue, 01 Jul 2025 10:00:00 GMT")
    );

    let request = &server.requests_to("permission-access/query/session-1/file-1.txt")[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.header("accept"), Some("application/octet-stream"));
}

#[tokio::test]
async fn read_file_streams_as_async_read() {
    use tokio::io::AsyncReadExt;
    let server = MockServer::start(|_| encrypted_download(b"streamed payload", None)).await;
    let contract = contract();
    let download = client_for(&server)
        .read_file(&contract, &token_pair("a", "r"), "s", "f")
        .await
        .unwrap();
    let mut reader = download.value.body.into_async_read();
    let mut text = String::new();
    reader.read_to_string(&mut text).await.unwrap();
    assert_eq!(text, "streamed payload");
}

#[tokio::test]
async fn read_file_refreshes_on_any_401() {
    let server = MockServer::start(|request| {
        if request.path() == "oauth/token" {
            return Reply::json(
                200,
                &serde_json::from_slice(&token_response(&request.base_url, "fresh", "r2")).unwrap(),
            );
        }
        if request.bearer_claims()["access_token"] == "fresh" {
            encrypted_download(b"after refresh", None)
        } else {
            Reply::error(401, "SomethingElse")
        }
    })
    .await;
    let contract = contract();
    let result = client_for(&server)
        .read_file_to_vec(&contract, &token_pair("stale", "r"), "s", "f")
        .await
        .unwrap();
    assert!(result.refreshed);
    assert_eq!(result.value.data, b"after refresh");
}

#[tokio::test]
async fn read_file_without_metadata_is_unexpected() {
    let server = MockServer::start(|_| Reply::new(200).body(vec![0u8; 288])).await;
    let contract = contract();
    let error = client_for(&server)
        .read_file(&contract, &token_pair("a", "r"), "s", "f")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::UnexpectedResponse { reason, .. } if reason.contains("x-metadata")),
        "{error:?}"
    );
}

#[tokio::test]
async fn read_file_with_bad_length_fails() {
    let server = MockServer::start(|_| {
        let metadata = XMetadata {
            metadata: json!({}),
            compression: None,
        };
        Reply::new(200)
            .header("x-metadata", &metadata.encode())
            .body(vec![0u8; 300])
    })
    .await;
    let contract = contract();
    let error = client_for(&server)
        .read_file(&contract, &token_pair("a", "r"), "s", "f")
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Decryption(reason) if reason.contains("300")),
        "{error:?}"
    );
}

#[tokio::test]
async fn read_file_metadata_uses_head() {
    let server = MockServer::start(|_| encrypted_download(b"x", None)).await;
    let contract = contract();
    let result = client_for(&server)
        .read_file_metadata(&contract, &token_pair("a", "r"), "s", "f")
        .await
        .unwrap();
    assert_eq!(result.value.metadata.metadata["filename"], "note.txt");
    let request = &server.requests_to("permission-access/query/s/f")[0];
    assert_eq!(request.method, "HEAD");
    assert_eq!(request.header("accept"), Some("application/json"));
}

#[tokio::test]
async fn delete_user_sends_delete() {
    let server = MockServer::start(|_| Reply::json(200, &json!({"deleted": true}))).await;
    let contract = contract();
    client_for(&server)
        .delete_user(&contract, &token_pair("a", "r"))
        .await
        .unwrap();
    let request = &server.requests_to("user")[0];
    assert_eq!(request.method, "DELETE");
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(request.bearer_claims()["access_token"], "a");
}

#[tokio::test]
async fn delete_user_does_not_refresh() {
    let server = MockServer::start(|_| Reply::error(401, "InvalidToken")).await;
    let contract = contract();
    let error = client_for(&server)
        .delete_user(&contract, &token_pair("a", "r"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("InvalidToken"));
    assert!(server.requests_to("oauth/token").is_empty());
}

/// Returns a handler that serves `listings` in turn on the file list, then repeats the last
/// one, and serves an encrypted file for any other path.
fn listing_server(listings: Vec<Value>) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    let polls = AtomicUsize::new(0);
    move |request| {
        if request.path() == "permission-access/query/session-1" {
            let index = polls.fetch_add(1, Ordering::SeqCst).min(listings.len() - 1);
            Reply::json(200, &listings[index])
        } else {
            let name = request.path().rsplit('/').next().unwrap().to_string();
            encrypted_download(format!("content of {name}").as_bytes(), None)
        }
    }
}

fn quick_options(
    on_file: impl Fn(FileDownload) -> futures::future::BoxFuture<'static, std::result::Result<(), BoxError>>
        + Send
        + Sync
        + 'static,
) -> ReadAllOptions {
    ReadAllOptions {
        poll_interval: Duration::from_millis(10),
        ..ReadAllOptions::new("session-1", on_file)
    }
}

#[tokio::test]
async fn read_all_files_follows_states() {
    let server = MockServer::start(listing_server(vec![
        json!({"status": {"state": "pending"}, "fileList": [{"name": "ignored-while-pending", "updatedDate": 1}]}),
        json!({"status": {"state": "running"}, "fileList": [{"name": "a", "updatedDate": 1}]}),
        json!({"status": {"state": "completed"}, "fileList": [{"name": "a", "updatedDate": 1}, {"name": "b", "updatedDate": 2}, {"name": "zero", "updatedDate": 0}]}),
    ]))
    .await;
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    let states = Arc::new(Mutex::new(Vec::new()));
    let state_sink = Arc::clone(&states);
    let mut options = quick_options(move |file| {
        let sink = Arc::clone(&sink);
        Box::pin(async move {
            let name = file.file_name.clone();
            let data = file.body.to_vec().await?;
            sink.lock()
                .unwrap()
                .push((name, String::from_utf8(data).unwrap()));
            Ok(())
        })
    });
    options.on_status_change = Some(Arc::new(move |status| {
        state_sink.lock().unwrap().push(status.state.clone())
    }));
    let contract = contract();
    let result = client_for(&server)
        .read_all_files(&contract, &token_pair("a", "r"), options)
        .await
        .unwrap();

    let outcome = result.value;
    assert_eq!(outcome.status.state, "completed");
    assert_eq!(outcome.files_read, 2);
    assert!(outcome.file_errors.is_empty());
    assert!(!outcome.timed_out);
    let mut received = received.lock().unwrap().clone();
    received.sort();
    assert_eq!(
        received,
        [
            ("a".to_string(), "content of a".to_string()),
            ("b".to_string(), "content of b".to_string())
        ]
    );
    assert_eq!(*states.lock().unwrap(), ["running", "completed"]);
    assert!(server
        .requests_to("permission-access/query/session-1/ignored-while-pending")
        .is_empty());
}

#[tokio::test]
async fn read_all_files_times_out() {
    let server = MockServer::start(listing_server(vec![
        json!({"status": {"state": "running"}, "fileList": []}),
    ]))
    .await;
    let mut options = quick_options(|_| Box::pin(async { Ok(()) }));
    options.timeout = Some(Duration::from_millis(100));
    let contract = contract();
    let result = client_for(&server)
        .read_all_files(&contract, &token_pair("a", "r"), options)
        .await
        .unwrap();
    assert!(result.value.timed_out);
    assert_eq!(result.value.status.state, "running");
    assert!(
        server
            .requests_to("permission-access/query/session-1")
            .len()
            >= 2
    );
}

#[tokio::test]
async fn read_all_files_bounds_concurrency() {
    let files: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("f{i}"), "updatedDate": 1}))
        .collect();
    let server = MockServer::start(listing_server(vec![
        json!({"status": {"state": "completed"}, "fileList": files}),
    ]))
    .await;

    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (active_in, peak_in) = (Arc::clone(&active), Arc::clone(&peak));
    let mut options = quick_options(move |file| {
        let (active, peak) = (Arc::clone(&active_in), Arc::clone(&peak_in));
        Box::pin(async move {
            let now = active.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            // Long enough to outlast the RSA work of the next download in a debug build.
            tokio::time::sleep(Duration::from_millis(250)).await;
            file.body.to_vec().await?;
            active.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        })
    });
    options.concurrency = 2;

    let contract = contract();
    let result = client_for(&server)
        .read_all_files(&contract, &token_pair("a", "r"), options)
        .await
        .unwrap();
    assert_eq!(result.value.files_read, 6);
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn read_all_files_reports_file_errors() {
    let server = MockServer::start(|request| {
        if request.path() == "permission-access/query/session-1" {
            Reply::json(200, &json!({"status": {"state": "partial"}, "fileList": [{"name": "good", "updatedDate": 1}, {"name": "gone", "updatedDate": 1}]}))
        } else if request.path().ends_with("/gone") {
            Reply::error(404, "FileNotFound")
        } else {
            encrypted_download(b"ok", None)
        }
    })
    .await;

    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reported);
    let mut options = quick_options(|file| {
        Box::pin(async move { file.body.to_vec().await.map(|_| ()).map_err(Into::into) })
    });
    options.on_file_error = Some(Arc::new(move |name, _| {
        sink.lock().unwrap().push(name.to_string())
    }));
    let contract = contract();
    let result = client_for(&server)
        .read_all_files(&contract, &token_pair("a", "r"), options)
        .await
        .unwrap();
    assert_eq!(result.value.status.state, "partial");
    assert_eq!(result.value.files_read, 1);
    assert_eq!(result.value.file_errors.len(), 1);
    assert_eq!(result.value.file_errors[0].file_name, "gone");
    assert_eq!(
        result.value.file_errors[0].error.code(),
        Some("FileNotFound")
    );
    assert_eq!(*reported.lock().unwrap(), ["gone"]);
}

#[tokio::test]
async fn read_all_files_refreshes_once_for_parallel_downloads() {
    let files: Vec<Value> = (0..4)
        .map(|i| json!({"name": format!("f{i}"), "updatedDate": 1}))
        .collect();
    let listing = json!({"status": {"state": "completed"}, "fileList": files});
    let list_calls = AtomicUsize::new(0);
    let server = MockServer::start(move |request| {
        if request.path() == "oauth/token" {
            return Reply::json(
                200,
                &serde_json::from_slice(&token_response(&request.base_url, "fresh", "r2")).unwrap(),
            );
        }
        if request.path() == "permission-access/query/session-1" {
            // The listing works with the old token, so every download meets the 401 first.
            list_calls.fetch_add(1, Ordering::SeqCst);
            return Reply::json(200, &listing);
        }
        if request.bearer_claims()["access_token"] == "fresh" {
            encrypted_download(b"data", None)
        } else {
            Reply::error(401, "InvalidToken")
        }
    })
    .await;

    let (callback, seen) = recording_callback();
    let mut options = quick_options(|file| {
        Box::pin(async move { file.body.to_vec().await.map(|_| ()).map_err(Into::into) })
    });
    options.on_token_change = Some(callback);

    let contract = contract();
    let result = client_for(&server)
        .read_all_files(&contract, &token_pair("stale", "r"), options)
        .await
        .unwrap();
    assert_eq!(result.value.files_read, 4);
    assert!(result.refreshed);
    assert_eq!(result.token.access_token, "fresh");
    assert_eq!(server.requests_to("oauth/token").len(), 1);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn read_all_files_stops_on_cancel() {
    let server = MockServer::start(listing_server(vec![
        json!({"status": {"state": "running"}, "fileList": []}),
    ]))
    .await;
    let stop = CancellationToken::new();
    let mut options = quick_options(|_| Box::pin(async { Ok(()) }));
    options.stop = Some(stop.clone());
    options.timeout = None;
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.cancel();
    });
    let contract = contract();
    let result = client_for(&server)
        .read_all_files(&contract, &token_pair("a", "r"), options)
        .await
        .unwrap();
    canceller.await.unwrap();
    assert!(result.value.stopped);
    assert!(!result.value.timed_out);
}

#[test]
fn debug_output_hides_secrets() {
    let contract = contract();
    let token = token_pair("secret-access-token", "secret-refresh-token");
    let pem = contract.private_key.to_pkcs1_pem().unwrap();
    let key_body_line = pem.lines().nth(1).unwrap().to_string();

    let authorize_options = AuthorizeOptions {
        user_access_token: Some(token.clone()),
        ..AuthorizeOptions::new(&contract, "http://127.0.0.1:9/cb", "s")
    };
    let authorize_url = AuthorizeUrl {
        url: "http://127.0.0.1/apps/saas/authorize?code=x".into(),
        code_verifier: "secret-code-verifier".into(),
        session: Session {
            key: "k".into(),
            expiry: 1,
        },
    };
    let push = PushRequest::new(
        &contract,
        &token,
        Push::Library {
            descriptor: FileDescriptor::new("text/plain"),
            body: PushBody::from(b"secret-body".to_vec()),
        },
    );
    let with_token = WithToken {
        value: (),
        token: token.clone(),
        refreshed: true,
    };
    let builder = Client::builder("app").on_token_change(Arc::new(|_| {}));
    let client = Client::builder("app").build().unwrap();

    let outputs = [
        format!("{contract:?}"),
        format!("{token:?}"),
        format!("{authorize_options:?}"),
        format!("{authorize_url:?}"),
        format!("{push:?}"),
        format!("{with_token:?}"),
        format!("{builder:?}"),
        format!("{client:?}"),
    ];
    for output in outputs {
        for secret in [
            "secret-access-token",
            "secret-refresh-token",
            "secret-code-verifier",
            "secret-body",
            key_body_line.as_str(),
        ] {
            assert!(!output.contains(secret), "{secret:?} appears in {output}");
        }
    }
}

#[test]
fn public_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let client = Client::builder("app").build().unwrap();
    let contract = contract();
    let token = token_pair("a", "r");
    let push = PushRequest::new(
        &contract,
        &token,
        Push::Library {
            descriptor: FileDescriptor::new("text/plain"),
            body: PushBody::from(Vec::new()),
        },
    );
    assert_send(&client.push_data(push));
    assert_send(&client.read_file(&contract, &token, "s", "f"));
    assert_send(&client.read_all_files(
        &contract,
        &token,
        ReadAllOptions::new("s", |_| async { Ok(()) }),
    ));
    assert_send(&client.get_authorize_url(AuthorizeOptions::new(
        &contract,
        "http://127.0.0.1/cb",
        "s",
    )));
}

#[tokio::test]
async fn decrypted_stream_is_send_and_static() {
    fn assert_static_send<T: Send + 'static>(_: &T) {}
    let server = MockServer::start(|_| encrypted_download(b"x", None)).await;
    let contract = contract();
    let download = client_for(&server)
        .read_file(&contract, &token_pair("a", "r"), "s", "f")
        .await
        .unwrap();
    let stream = download.value.body;
    assert_static_send(&stream);
    let chunks: Vec<_> = stream.collect().await;
    assert_eq!(chunks.len(), 1);
}
