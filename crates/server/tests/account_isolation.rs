//! A provider account belongs to the application whose consent flow connected it: another
//! application of the same person can neither see it, push to it, nor remove it.

use trove_sdk::{AuthorizeOptions, Client, ContractDetails, Push, PushRequest, SourceType, TokenPair};
use trove_server::admin::{NewProvider, NewProviderAuth};
use trove_server::store::ContractKind;
use trove_testkit::consent_browser::{ConsentBrowser, Decision};
use trove_testkit::{RegisteredContract, TestServer};

const CALLBACK: &str = "https://app.example/cb";

fn details(contract: &RegisteredContract) -> ContractDetails {
    ContractDetails::from_pem(contract.contract_id.clone(), &contract.private_key.to_pkcs1_pem().unwrap()).unwrap()
}

async fn consent(server: &TestServer, app: &str, contract: &ContractDetails, source_type: SourceType, create: bool) -> (Client, TokenPair, Option<String>) {
    let client = Client::builder(app).base_url(server.api_base()).onboard_url(server.onboard_base()).build().unwrap();
    let mut options = AuthorizeOptions::new(contract, CALLBACK, "s");
    options.source_type = source_type;
    let authorize = client.get_authorize_url(options).await.unwrap();
    let callback = ConsentBrowser::new()
        .unwrap()
        .authorize(&authorize.url, "jo-person", "a long enough password", Decision::Allow, create)
        .await
        .unwrap();
    assert!(callback.success, "{:?}", callback.error_code);
    let token = client.exchange_code_for_token(contract, callback.code.as_deref().unwrap(), &authorize.code_verifier).await.unwrap();
    (client, token, callback.account_reference)
}

#[tokio::test]
async fn other_application_cannot_use_account() {
    let server = TestServer::start_with(|config| config.sandbox_provider = true).await.unwrap();
    server
        .admin
        .add_provider(NewProvider {
            id: None,
            name: "Sandbox GP".into(),
            organization_type: "general-practitioner".into(),
            data_services: vec!["measurements-vital-signs".into()],
            fhir_base_url: None,
            auth: NewProviderAuth::Sandbox,
            published_status: "approved".into(),
            allow_loopback: true,
        })
        .await
        .unwrap();
    let owner = details(&server.add_contract("appb", "write", ContractKind::Write, &[CALLBACK]).await.unwrap());
    let other = details(&server.add_contract("appc", "write", ContractKind::Write, &[CALLBACK]).await.unwrap());

    let (owner_client, owner_token, reference) = consent(&server, "appb", &owner, SourceType::Push, true).await;
    let accounts = owner_client.read_accounts(&owner, &owner_token).await.unwrap().value;
    assert_eq!(accounts.len(), 1);
    assert_eq!(Some(accounts[0].reference.clone()), reference);
    let account_id = accounts[0].id.clone();

    let (other_client, other_token, _) = consent(&server, "appc", &other, SourceType::Pull, false).await;
    assert_eq!(other_token.user_id, owner_token.user_id, "the same library");
    assert!(other_client.read_accounts(&other, &other_token).await.unwrap().value.is_empty());

    let observation: serde_json::Value =
        serde_json::from_slice(&std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fhir/tests/data/observation-heart-rate.json")).unwrap())
            .unwrap();
    let push = Push::Provider { standard: "fhir".into(), version: "stu3".into(), account_id: account_id.clone(), json: observation.clone() };
    let error = other_client.push_data(PushRequest::new(&other, &other_token, push)).await.unwrap_err();
    assert_eq!(error.status().map(|status| status.as_u16()), Some(404), "{error}");

    let response = reqwest::Client::new()
        .delete(format!("{}permission-access/service/h:accountId", server.api_base()))
        .bearer_auth(
            trove_protocol::jws::sign(
                &trove_protocol::jws::Header::client(),
                &trove_protocol::claims::UserClaims::new("appc_write", &other_token.access_token),
                &other.private_key,
            )
            .unwrap(),
        )
        .header("accountId", &account_id)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The owner still has the account and can push to it.
    assert_eq!(owner_client.read_accounts(&owner, &owner_token).await.unwrap().value.len(), 1);
    let push = Push::Provider { standard: "fhir".into(), version: "stu3".into(), account_id, json: observation };
    owner_client.push_data(PushRequest::new(&owner, &owner_token, push)).await.unwrap();
    server.stop().await;
}
