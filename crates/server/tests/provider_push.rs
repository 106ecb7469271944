//! Provider pushes through the HTTP endpoint, delivered to the built-in sandbox provider:
//! routing of the literal `h:accountId` segment, the order of checks, STU3 validation with
//! paths in the message, delivery of real STU3 samples, and the outbox rows left behind.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use trove_server::store::deliveries::DeliveryState;
use trove_server::store::{ContractKind, ProviderAuth};
use trove_testkit::TestServer;

use support::{push_account, pusher, sample};

async fn sandbox_server() -> TestServer {
    TestServer::start_with(|config| {
        config.sandbox_provider = true;
        config.sandbox_provider_token = Some("sandbox-test-token".into());
        config.delivery_first_delay = Duration::from_millis(50);
        config.delivery_poll_interval = Duration::from_millis(100);
    })
    .await
    .expect("starting the server")
}

fn sandbox_base(server: &TestServer) -> String {
    format!("{}/sandbox/fhir", server.server.public_url)
}

async fn sandbox_get(server: &TestServer, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{}/{path}", sandbox_base(server)))
        .bearer_auth("sandbox-test-token")
        .send()
        .await
        .expect("reading the sandbox");
    assert_eq!(response.status(), 200, "GET sandbox {path}");
    response.json().await.expect("sandbox JSON")
}

fn server_error(error: &trove_sdk::Error) -> (u16, String, String) {
    match error {
        trove_sdk::Error::Server { status, code, message, .. } => (status.as_u16(), code.clone(), message.clone()),
        other => panic!("expected a server error body, got {other:?}"),
    }
}

#[tokio::test]
async fn h_account_id_segment_routes() {
    let server = sandbox_server().await;
    let user = pusher(&server, "writer", ContractKind::Write).await;

    let error = user.push("no-such-account", sample("observation-body-weight.json")).await.unwrap_err();
    let (status, code, _) = server_error(&error);

    // A 404 from the handler, not the API fallback, shows that the literal segment matched.
    assert_eq!(status, 404);
    assert_eq!(code, "AccountNotFound");
    let fallback = reqwest::Client::new()
        .post(format!("{}permission-access/import/x:accountId/fhir/stu3", server.api_base()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(fallback.status(), 404);
    let body: Value = fallback.json().await.unwrap();
    assert_eq!(body["error"]["code"], "NotFound");
    server.stop().await;
}

#[tokio::test]
async fn read_contract_gets_insufficient_scope() {
    let server = sandbox_server().await;
    let reader = pusher(&server, "reader", ContractKind::ReadRaw).await;

    let error = reader.push("any-account", sample("observation-heart-rate.json")).await.unwrap_err();
    let (status, code, _) = server_error(&error);

    assert_eq!(status, 403);
    assert_eq!(code, "InsufficientScope");
    server.stop().await;
}

#[tokio::test]
async fn unsupported_standard_or_version_named() {
    let server = sandbox_server().await;
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let account = push_account(&server.server.state, &user.library_id, &sandbox_base(&server), |_| ProviderAuth::Sandbox, None).await;

    for (standard, version, named) in [("fhir", "r4", "\"r4\""), ("hl7v2", "stu3", "\"hl7v2\""), ("fhir", "4.0.1", "\"4.0.1\"")] {
        let error = user.push_as(standard, version, &account, sample("patient.json")).await.unwrap_err();
        let (status, code, message) = server_error(&error);
        assert_eq!(status, 400, "{standard}/{version}");
        assert_eq!(code, "ValidationErrors", "{standard}/{version}");
        assert!(message.contains(named), "{standard}/{version}: {message}");
    }
    let accepted = user.push_as("fhir", "3.0.2", &account, sample("patient.json")).await.unwrap();
    assert_eq!(accepted.unwrap()["status"], "delivered");
    server.stop().await;
}

#[tokio::test]
async fn account_of_other_library_not_found() {
    let server = sandbox_server().await;
    let owner = pusher(&server, "writer", ContractKind::Write).await;
    let stranger = pusher(&server, "writer-2", ContractKind::Write).await;
    let account = push_account(&server.server.state, &owner.library_id, &sandbox_base(&server), |_| ProviderAuth::Sandbox, None).await;

    let error = stranger.push(&account, sample("patient.json")).await.unwrap_err();
    let (status, code, _) = server_error(&error);

    assert_eq!(status, 404);
    assert_eq!(code, "AccountNotFound");
    server.stop().await;
}

#[tokio::test]
async fn samples_delivered_to_sandbox() {
    let server = sandbox_server().await;
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let account = push_account(&server.server.state, &user.library_id, &sandbox_base(&server), |_| ProviderAuth::Sandbox, None).await;

    for (file, resource_type) in [
        ("observation-blood-pressure.json", "Observation"),
        ("observation-body-weight.json", "Observation"),
        ("observation-heart-rate.json", "Observation"),
        ("documentreference-pdf.json", "DocumentReference"),
        ("questionnaireresponse.json", "QuestionnaireResponse"),
    ] {
        let reply = user.push(&account, sample(file)).await.unwrap_or_else(|error| panic!("{file}: {error}")).expect("a JSON reply");
        assert_eq!(reply["status"], "delivered", "{file}: {reply}");
        assert_eq!(reply["providerStatus"], 201, "{file}: {reply}");
        let location = reply["location"].as_str().unwrap_or_else(|| panic!("{file}: no location in {reply}"));
        let id = location.split('/').rev().nth(2).expect("a Type/id/_history/1 location");
        let stored = sandbox_get(&server, &format!("{resource_type}/{id}")).await;
        let delivery_id = reply["deliveryId"].as_str().unwrap();
        let stamped = stored.to_string().contains(&format!("\"{delivery_id}\""));
        assert!(stamped, "{file}: the stored resource carries no delivery identifier: {stored}");
    }

    let reply = user.push(&account, sample("bundle-transaction.json")).await.unwrap().unwrap();
    assert_eq!(reply["status"], "delivered", "{reply}");
    let entries = reply["entries"].as_array().expect("entry results");
    assert_eq!(entries.len(), sample("bundle-transaction.json")["entry"].as_array().unwrap().len());
    assert!(entries.iter().all(|entry| entry["status"] == "201 Created"), "{reply}");
    // The Patient entry is a conditional update on its BSN identifier.
    let patients = sandbox_get(&server, "Patient?identifier=urn:oid:2.16.840.1.113883.2.4.6.3|999911120").await;
    assert_eq!(patients["total"], 1, "{patients}");
    server.stop().await;
}

#[tokio::test]
async fn repeated_delivery_creates_once() {
    let server = sandbox_server().await;
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let account = push_account(&server.server.state, &user.library_id, &sandbox_base(&server), |_| ProviderAuth::Sandbox, None).await;

    let reply = user.push(&account, sample("observation-heart-rate.json")).await.unwrap().unwrap();
    let delivery_id = reply["deliveryId"].as_str().unwrap().to_string();
    // Send the stored, stamped body again as a retry would, with the same condition.
    let stamped = sandbox_get(&server, &format!("Observation?identifier=urn:trove:delivery|{delivery_id}")).await;
    let resource = stamped["entry"][0]["resource"].clone();
    let again = reqwest::Client::new()
        .post(format!("{}/Observation", sandbox_base(&server)))
        .bearer_auth("sandbox-test-token")
        .header("If-None-Exist", format!("identifier=urn:trove:delivery|{delivery_id}"))
        .json(&resource)
        .send()
        .await
        .unwrap();

    assert_eq!(again.status(), 200);
    let all = sandbox_get(&server, &format!("Observation?identifier=urn:trove:delivery|{delivery_id}")).await;
    assert_eq!(all["total"], 1);
    server.stop().await;
}

/// Applies `change` to a sample and checks that the push is rejected naming `path`.
async fn assert_rejected(user: &support::Pusher, account: &str, file: &str, change: impl FnOnce(&mut Value), path: &str) {
    let mut document = sample(file);
    change(&mut document);
    let error = user.push(account, document).await.expect_err(path);
    let (status, code, message) = server_error(&error);
    assert_eq!(status, 400, "{path}: {message}");
    assert_eq!(code, "ValidationErrors", "{path}");
    assert!(message.contains(path), "expected {path} in: {message}");
}

#[tokio::test]
async fn invalid_samples_name_their_paths() {
    let server = sandbox_server().await;
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let account = push_account(&server.server.state, &user.library_id, &sandbox_base(&server), |_| ProviderAuth::Sandbox, None).await;

    assert_rejected(&user, &account, "observation-body-weight.json", |o| o["status"] = json!("done"), "Observation.status").await;
    assert_rejected(
        &user,
        &account,
        "observation-body-weight.json",
        |o| o["valueQuantity"]["value"] = json!("68.4"),
        "Observation.valueQuantity.value",
    )
    .await;
    assert_rejected(
        &user,
        &account,
        "observation-blood-pressure.json",
        |o| o["component"][1]["valueQuantity"]["value"] = json!("eighty"),
        "Observation.component[1].valueQuantity.value",
    )
    .await;
    assert_rejected(
        &user,
        &account,
        "observation-heart-rate.json",
        |o| {
            o.as_object_mut().unwrap().remove("code");
        },
        "Observation.code",
    )
    .await;
    assert_rejected(
        &user,
        &account,
        "documentreference-pdf.json",
        |d| d["content"][0]["attachment"]["data"] = json!("not base64!"),
        "DocumentReference.content[0].attachment.data",
    )
    .await;
    assert_rejected(
        &user,
        &account,
        "questionnaireresponse.json",
        |q| q["status"] = json!("finished"),
        "QuestionnaireResponse.status",
    )
    .await;
    assert_rejected(
        &user,
        &account,
        "bundle-transaction.json",
        |b| b["entry"][0]["resource"]["unknownElement"] = json!(true),
        "Bundle.entry[0].resource",
    )
    .await;
    assert_rejected(
        &user,
        &account,
        "bundle-transaction.json",
        |b| {
            b["entry"][1].as_object_mut().unwrap().remove("request");
        },
        "Bundle.entry[1].request",
    )
    .await;
    assert_rejected(&user, &account, "patient.json", |p| p["resourceType"] = json!("Pateint"), "resourceType").await;

    // Nothing rejected reached the outbox.
    let rows = server.server.state.store.list_deliveries(None).await.unwrap();
    assert!(rows.is_empty(), "{rows:?}");
    server.stop().await;
}

#[tokio::test]
async fn non_object_and_oversized_bodies_rejected() {
    let server = TestServer::start_with(|config| {
        config.sandbox_provider = true;
        config.max_provider_push_bytes = 1024;
    })
    .await
    .unwrap();
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let account = push_account(&server.server.state, &user.library_id, &sandbox_base(&server), |_| ProviderAuth::Sandbox, None).await;

    let not_object = user.client.push_data(trove_sdk::PushRequest::new(&user.contract, &user.token, trove_sdk::Push::Provider {
        standard: "fhir".into(),
        version: "stu3".into(),
        account_id: account.clone(),
        json: json!(["not", "an", "object"]),
    }))
    .await
    .unwrap_err();
    assert!(matches!(not_object, trove_sdk::Error::InvalidArgument(_)), "the SDK checks the shape first: {not_object:?}");
    let raw_array = user.push(&account, json!({"resourceType": "Observation"})).await.unwrap_err();
    assert_eq!(server_error(&raw_array).1, "ValidationErrors");

    let too_large = user.push(&account, sample("documentreference-pdf.json")).await.unwrap_err();
    let (status, code, message) = server_error(&too_large);
    assert_eq!(status, 413, "{message}");
    assert_eq!(code, "ValidationErrors");
    assert!(message.contains("1024"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn deliveries_listed_without_body() {
    let server = sandbox_server().await;
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let account = push_account(&server.server.state, &user.library_id, &sandbox_base(&server), |_| ProviderAuth::Sandbox, None).await;
    user.push(&account, sample("observation-body-weight.json")).await.unwrap();

    let delivered = server.admin.list_deliveries(Some(DeliveryState::Delivered)).await.unwrap();
    let pending = server.admin.list_deliveries(Some(DeliveryState::Pending)).await.unwrap();

    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].account_id, account);
    assert_eq!(delivered[0].attempts, 1);
    assert_eq!(delivered[0].provider_status, Some(201));
    assert!(pending.is_empty());
    let listed = serde_json::to_string(&delivered[0]).unwrap();
    assert!(!listed.contains("68.4"), "the listing shows the body: {listed}");
    server.stop().await;
}

#[tokio::test]
async fn sandbox_provider_without_url_uses_builtin() {
    let server = sandbox_server().await;
    let user = pusher(&server, "writer", ContractKind::Write).await;
    // Providers of kind sandbox may leave the FHIR base URL empty.
    let account = push_account(&server.server.state, &user.library_id, "", |_| ProviderAuth::Sandbox, None).await;

    let reply = user.push(&account, sample("observation-body-weight.json")).await.unwrap().expect("a JSON reply");

    assert_eq!(reply["status"], "delivered", "{reply}");
    let stored = sandbox_get(&server, "Observation").await;
    assert_eq!(stored["total"], 1, "{stored}");
    server.stop().await;
}

#[tokio::test]
async fn sandbox_requires_its_token() {
    let server = sandbox_server().await;

    let anonymous = reqwest::Client::new().get(format!("{}/Observation", sandbox_base(&server))).send().await.unwrap();
    let wrong = reqwest::Client::new()
        .post(format!("{}/Observation", sandbox_base(&server)))
        .bearer_auth("guess")
        .json(&sample("observation-body-weight.json"))
        .send()
        .await
        .unwrap();

    assert_eq!(anonymous.status(), 401);
    assert_eq!(wrong.status(), 401);
    server.stop().await;
}

#[tokio::test]
async fn sandbox_off_by_default() {
    let server = TestServer::start().await.unwrap();

    let response = reqwest::Client::new().get(format!("{}/Observation", sandbox_base(&server))).send().await.unwrap();

    assert_eq!(response.status(), 404);
    server.stop().await;
}
