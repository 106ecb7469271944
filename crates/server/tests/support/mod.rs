//! Test setup shared by the provider-push tests: a write contract with a user token, and PUSH
//! accounts created through the store.
//!
//! NOTE: the token and the accounts are written straight into the store, standing in for the
//! consent flow and the provider onboarding, so these tests exercise the push path alone.

#![allow(dead_code)]

use std::path::PathBuf;

use secrecy::SecretString;
use serde_json::Value;
use trove_protocol::random;
use trove_protocol::time;
use trove_protocol::wire::TokenPair;
use trove_sdk::{Client, ContractDetails, Push, PushRequest};
use trove_server::service::hashing::secret_hash;
use trove_server::service::providers::{seal_account_tokens, PlainAccountTokens};
use trove_server::state::AppState;
use trove_server::store::{
    Authorization, AuthorizationStatus, AuthCode, Consent, Library, NewTokenPair, Provider, ProviderAccount, ProviderAuth,
    ReadSession,
};
use trove_testkit::TestServer;

/// Application id of the pushing test app.
pub const APP: &str = "clinic-app";

/// A user of a write contract, ready to push.
pub struct Pusher {
    /// SDK client for the server.
    pub client: Client,
    /// The write contract.
    pub contract: ContractDetails,
    /// The user's token pair.
    pub token: TokenPair,
    /// The user's library.
    pub library_id: String,
}

impl Pusher {
    /// Pushes `document` to `account_id` as FHIR STU3 through the SDK.
    pub async fn push(&self, account_id: &str, document: Value) -> trove_sdk::Result<Option<Value>> {
        self.push_as("fhir", "stu3", account_id, document).await
    }

    /// Pushes with an explicit standard and version.
    pub async fn push_as(&self, standard: &str, version: &str, account_id: &str, document: Value) -> trove_sdk::Result<Option<Value>> {
        let push = Push::Provider {
            standard: standard.into(),
            version: version.into(),
            account_id: account_id.into(),
            json: document,
        };
        let pushed = self.client.push_data(PushRequest::new(&self.contract, &self.token, push)).await?;
        Ok(pushed.value)
    }
}

/// Registers a contract of `kind` and gives a new library a token for it.
pub async fn pusher(server: &TestServer, contract_id: &str, kind: trove_server::store::ContractKind) -> Pusher {
    let registered = server.add_contract(APP, contract_id, kind, &["https://app.example/callback"]).await.expect("adding the contract");
    let state = &server.server.state;
    let now = time::now_ms();
    let library_id = random::alphanumeric(16);
    state
        .store
        .create_library(Library { id: library_id.clone(), username: library_id.clone(), password_hash: "unused".into(), created_ms: now })
        .await
        .expect("creating the library");

    // Test setup: an authorization allowed at once, in place of the consent pages.
    let authorization_id = random::alphanumeric(16);
    let session_key = random::alphanumeric(16);
    let authorization = Authorization {
        id: authorization_id.clone(),
        code_hash: secret_hash(&random::alphanumeric(16)),
        app_id: APP.into(),
        contract_id: contract_id.into(),
        redirect_uri: "https://app.example/callback".into(),
        state: None,
        code_challenge: "unused".into(),
        actions_json: None,
        linked_library: None,
        session_key: session_key.clone(),
        status: AuthorizationStatus::Pending,
        created_ms: now,
        expires_ms: now + 600_000,
    };
    let session = ReadSession {
        key: session_key,
        app_id: APP.into(),
        contract_id: contract_id.into(),
        library_id: None,
        authorization_id: Some(authorization_id.clone()),
        options_json: None,
        expires_ms: now + 600_000,
    };
    state.store.create_authorization(authorization, session).await.expect("creating the authorization");
    let consent = Consent {
        id: random::alphanumeric(16),
        library_id: library_id.clone(),
        app_id: APP.into(),
        contract_id: contract_id.into(),
        created_ms: now,
    };
    let code = AuthCode {
        code_hash: secret_hash(&random::alphanumeric(16)),
        consent_id: consent.id.clone(),
        code_challenge: "unused".into(),
        expires_ms: now + 600_000,
    };
    let consent_id = consent.id.clone();
    assert!(state.store.allow_authorization(&authorization_id, consent, code).await.expect("allowing"));

    let access = random::token::<32>();
    let refresh = random::token::<32>();
    let pair = NewTokenPair {
        access_hash: secret_hash(&access),
        access_expires_ms: now + 3_600_000,
        refresh_hash: secret_hash(&refresh),
        refresh_expires_ms: now + 86_400_000,
    };
    state.store.create_token_family(&random::alphanumeric(16), &consent_id, pair).await.expect("creating tokens");

    let token = TokenPair {
        access_token: access,
        access_expires_on: now / 1000 + 3600,
        refresh_token: refresh,
        refresh_expires_on: now / 1000 + 86_400,
        user_id: library_id.clone(),
        consent_id,
    };
    let client = Client::builder(APP).base_url(server.api_base()).build().expect("building the SDK client");
    let contract = ContractDetails::new(contract_id, registered.private_key);
    Pusher { client, contract, token, library_id }
}

/// Adds a provider, whose authorization `auth` builds from the new provider id, and a PUSH
/// account of `library_id` for it; returns the account id.
pub async fn push_account(
    state: &AppState,
    library_id: &str,
    fhir_base_url: &str,
    auth: impl FnOnce(i64) -> ProviderAuth,
    tokens: Option<PlainAccountTokens>,
) -> String {
    let now = time::now_ms();
    let provider_id = i64::from(u32::from_le_bytes(random::bytes::<4>()) >> 1);
    let auth = auth(provider_id);
    let provider = Provider {
        id: provider_id,
        name: format!("Test provider {provider_id}"),
        organization_type: None,
        data_services: Vec::new(),
        fhir_base_url: fhir_base_url.into(),
        auth,
        published_status: "approved".into(),
        zal_identity: None,
        created_ms: now,
        updated_ms: now,
    };
    state.store.create_provider(provider).await.expect("creating the provider");
    let account_id = random::alphanumeric(16);
    let tokens = tokens.map(|plain| seal_account_tokens(&state.master, &account_id, &plain)).unwrap_or_default();
    let account = ProviderAccount {
        id: account_id.clone(),
        reference: random::alphanumeric(16),
        library_id: library_id.into(),
        provider_id,
        authorization_id: None,
        created_ms: now,
        updated_ms: now,
        tokens,
    };
    state.store.create_account(account).await.expect("creating the PUSH account");
    account_id
}

/// Plain OAuth tokens for [`push_account`].
pub fn oauth_tokens(access: &str, refresh: &str, expires_ms: i64) -> PlainAccountTokens {
    PlainAccountTokens {
        access_token: Some(SecretString::from(access.to_string())),
        refresh_token: Some(SecretString::from(refresh.to_string())),
        expires_ms: Some(expires_ms),
    }
}

/// Reads one of the STU3 samples of `crates/fhir/tests/data`.
pub fn sample(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fhir/tests/data").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    serde_json::from_str(&text).expect("a sample is JSON")
}

/// Waits until `check` returns true, polling every 50 ms for at most `seconds`.
pub async fn eventually<F, Fut>(seconds: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while std::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out after {seconds} s waiting until {what}");
}
