//! Push onboarding on the consent pages (`sourceType=push`): the provider choice filtered by
//! `service` and `sourcesScope`, the OAuth authorization code flow with PKCE at a provider,
//! the PUSH account it creates, and `accountReference` on the app's callback.
//!
//! The provider is a small OAuth authorization server run in this process on a loopback port.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use secrecy::ExposeSecret;
use serde_json::json;
use trove_protocol::claims::AuthorizeClaims;
use trove_protocol::jws::{self, Header, Unverified};
use trove_protocol::{b64, claims, pkce, random, time};
use trove_server::admin::{NewProvider, NewProviderAuth, SecretString};
use trove_server::service::providers::open_account_tokens;
use trove_server::store::ContractKind;
use trove_testkit::consent_browser::{CallbackResult, ConsentBrowser, Navigation, Page};
use trove_testkit::{RegisteredContract, TestServer};
use url::Url;

const CALLBACK: &str = "http://127.0.0.1:9/cb";
const PASSWORD: &str = "correct horse battery";
const CLIENT_ID: &str = "trove-test-client";
const CLIENT_SECRET: &str = "provider-client-secret";

/// What the fake authorization server saw and issued.
#[derive(Default)]
struct FakeState {
    /// Issued codes with the PKCE challenge and redirect URI of their request.
    codes: HashMap<String, (String, String)>,
    /// Query parameters of each authorization request.
    authorize_requests: Vec<HashMap<String, String>>,
    /// Form bodies of each token request.
    token_requests: Vec<HashMap<String, String>>,
    /// Reject authorization requests with `error=access_denied`.
    deny: bool,
}

/// An OAuth 2.0 authorization server on 127.0.0.1 that approves every request at once.
struct FakeProvider {
    base: String,
    state: Arc<Mutex<FakeState>>,
    task: tokio::task::JoinHandle<()>,
}

async fn fake_authorize(State(state): State<Arc<Mutex<FakeState>>>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut fake = state.lock().unwrap();
    fake.authorize_requests.push(query.clone());
    let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
    let mut target = Url::parse(&redirect_uri).unwrap();
    if fake.deny {
        target.query_pairs_mut().append_pair("error", "access_denied");
    } else {
        let code = random::alphanumeric(20);
        fake.codes.insert(code.clone(), (query.get("code_challenge").cloned().unwrap_or_default(), redirect_uri.clone()));
        target.query_pairs_mut().append_pair("code", &code);
    }
    if let Some(oauth_state) = query.get("state") {
        target.query_pairs_mut().append_pair("state", oauth_state);
    }
    Redirect::to(target.as_str()).into_response()
}

async fn fake_token(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut fake = state.lock().unwrap();
    fake.token_requests.push(form.clone());
    let expected = format!("Basic {}", b64::encode_standard(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get("authorization").and_then(|value| value.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some((challenge, redirect_uri)) = fake.codes.remove(&code) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if form.get("grant_type").map(String::as_str) != Some("authorization_code")
        || form.get("redirect_uri") != Some(&redirect_uri)
        || !pkce::verify(&verifier, &challenge)
    {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant"}))).into_response();
    }
    Json(json!({
        "access_token": format!("provider-access-{code}"),
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": format!("provider-refresh-{code}"),
    }))
    .into_response()
}

impl FakeProvider {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let app = Router::new()
            .route("/authorize", get(fake_authorize))
            .route("/token", post(fake_token))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, state, task }
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn new_provider(name: &str, organization_type: &str, data_services: &[&str], auth: NewProviderAuth) -> NewProvider {
    NewProvider {
        id: None,
        name: name.into(),
        organization_type: organization_type.into(),
        data_services: data_services.iter().map(|service| service.to_string()).collect(),
        fhir_base_url: Some("http://127.0.0.1:9/fhir".into()),
        auth,
        published_status: "approved".into(),
        allow_loopback: true,
    }
}

fn oauth(provider: &FakeProvider) -> NewProviderAuth {
    NewProviderAuth::OAuth {
        client_id: CLIENT_ID.into(),
        client_secret: Some(SecretString::from(CLIENT_SECRET.to_string())),
        authorize_endpoint: format!("{}/authorize", provider.base),
        token_endpoint: format!("{}/token", provider.base),
        scope: Some("48".into()),
    }
}

async fn setup() -> (TestServer, RegisteredContract) {
    let server = TestServer::start().await.unwrap();
    server.ensure_application("app1", "Zorgapp").await.unwrap();
    let contract = server.add_contract("app1", "write", ContractKind::Write, &[CALLBACK]).await.unwrap();
    (server, contract)
}

/// Calls `POST oauth/authorize` as the Node SDK would and returns the preauthorization code.
async fn preauthorization_code(server: &TestServer, contract: &RegisteredContract, state: &str) -> String {
    let verifier = pkce::create_verifier();
    let claims = AuthorizeClaims {
        access_token: None,
        client_id: format!("{}_{}", contract.app_id, contract.contract_id),
        code_challenge: pkce::challenge(&verifier),
        code_challenge_method: "S256".into(),
        nonce: claims::new_nonce(),
        redirect_uri: CALLBACK.into(),
        response_mode: "query".into(),
        response_type: "code".into(),
        state: Some(state.into()),
        timestamp: time::now_ms(),
    };
    let jwt = jws::sign(&Header::client(), &claims, &contract.private_key).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}oauth/authorize", server.api_base()))
        .bearer_auth(jwt)
        .json(&json!({"agent": {"sdk": {"name": "nodejs", "version": "16.1.5"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let payload = Unverified::parse(body["token"].as_str().unwrap()).unwrap().payload;
    payload["preauthorization_code"].as_str().unwrap().to_string()
}

/// Builds the onboarding URL the way the Node SDK does, `sourcesScope` encoded twice.
fn onboarding_url(server: &TestServer, code: &str, service: Option<i64>, scope: Option<serde_json::Value>) -> String {
    let mut url = Url::parse(&format!("{}authorize", server.onboard_base())).unwrap();
    url.query_pairs_mut().append_pair("code", code).append_pair("sourceType", "push");
    if let Some(service) = service {
        url.query_pairs_mut().append_pair("service", &service.to_string());
    }
    if let Some(scope) = scope {
        let once: String = url::form_urlencoded::byte_serialize(scope.to_string().as_bytes()).collect::<String>().replace('+', "%20");
        url.query_pairs_mut().append_pair("sourcesScope", &once);
    }
    url.into()
}

/// Opens the onboarding URL, registers a library unless the browser is signed in, and returns
/// the consent page.
async fn consent_page(browser: &ConsentBrowser, url: &str) -> Page {
    let start = browser.open(url).await.unwrap().into_page().unwrap();
    if start.consent_form().is_some() {
        return start;
    }
    let form = start.form_posting_to("/apps/saas/register").expect("the register form");
    let username = format!("user{}", random::alphanumeric(8).to_lowercase());
    let page = browser.submit(&start, form, &[("username", &username), ("password", PASSWORD)], None).await.unwrap();
    let page = page.into_page().unwrap();
    assert!(page.consent_form().is_some(), "expected the consent page, got {}", page.text());
    page
}

/// Returns the provider ids offered as radio buttons on a consent page.
fn offered(page: &Page) -> Vec<i64> {
    let mut ids = Vec::new();
    for piece in page.html.split("name=\"provider\" value=\"").skip(1) {
        ids.push(piece.split('"').next().unwrap().parse().unwrap());
    }
    ids
}

async fn allow_with(browser: &ConsentBrowser, page: &Page, provider: i64) -> Navigation {
    let form = page.consent_form().unwrap();
    let button = form.button("decision", "allow").expect("the allow button");
    browser.submit(page, form, &[("provider", &provider.to_string())], Some(button)).await.unwrap()
}

#[tokio::test]
async fn scope_filters_offered_providers() {
    let (server, contract) = setup().await;
    let fake = FakeProvider::start().await;
    let gp = server
        .admin
        .add_provider(new_provider("Huisarts Noord", "general-practitioner", &["measurements-vital-signs"], oauth(&fake)))
        .await
        .unwrap()
        .id;
    let hospital =
        server.admin.add_provider(new_provider("Ziekenhuis Zuid", "hospital", &["documents"], NewProviderAuth::Sandbox)).await.unwrap().id;
    let mut hidden = new_provider("Oud Ziekenhuis", "hospital", &["documents"], NewProviderAuth::Sandbox);
    hidden.published_status = "deprecated".into();
    server.admin.add_provider(hidden).await.unwrap();

    let cases = [
        (None, None, vec![gp, hospital]),
        (None, Some(json!({"dataType": ["documents"]})), vec![hospital]),
        (None, Some(json!({"organizationType": "general-practitioner"})), vec![gp]),
        (Some(gp), None, vec![gp]),
        (Some(gp), Some(json!({"dataType": ["documents"]})), vec![]),
    ];
    for (service, scope, expected) in cases {
        let code = preauthorization_code(&server, &contract, "s").await;
        let browser = ConsentBrowser::new().unwrap();
        let page = consent_page(&browser, &onboarding_url(&server, &code, service, scope.clone())).await;
        assert_eq!(offered(&page), expected, "service {service:?}, scope {scope:?}");
        if expected.is_empty() {
            let form = page.consent_form().unwrap();
            assert!(form.button("decision", "allow").is_none(), "no provider, no allow button");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn oauth_provider_flow_creates_account() {
    let (server, contract) = setup().await;
    let fake = FakeProvider::start().await;
    let provider = server
        .admin
        .add_provider(new_provider("Huisarts Noord", "general-practitioner", &["measurements-vital-signs"], oauth(&fake)))
        .await
        .unwrap();

    let code = preauthorization_code(&server, &contract, "app-state").await;
    let browser = ConsentBrowser::new().unwrap();
    let page = consent_page(&browser, &onboarding_url(&server, &code, None, None)).await;
    let policy = page.headers["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.contains(&fake.base), "form-action must admit the provider: {policy}");

    let Navigation::Left(to_provider) = allow_with(&browser, &page, provider.id).await else {
        panic!("expected a redirect to the provider");
    };
    assert!(to_provider.as_str().starts_with(&format!("{}/authorize?", fake.base)), "{to_provider}");
    let query: HashMap<String, String> = to_provider.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["scope"], "48");
    assert_eq!(query["redirect_uri"], format!("{}provider/callback", server.onboard_base()));

    let Navigation::Left(back) = browser.open(to_provider.as_str()).await.unwrap() else { panic!("the provider must redirect back") };
    let callback = browser.open(back.as_str()).await.unwrap();
    let callback: CallbackResult = callback.into_callback().unwrap();
    assert!(callback.success, "{}", callback.url);
    assert!(callback.code.is_some());
    assert_eq!(callback.state.as_deref(), Some("app-state"));
    let reference = callback.account_reference.clone().expect("accountReference on the callback");

    let token_request = fake.state.lock().unwrap().token_requests[0].clone();
    assert_eq!(token_request["grant_type"], "authorization_code");
    assert_eq!(token_request["redirect_uri"], format!("{}provider/callback", server.onboard_base()));
    assert!(!token_request.contains_key("client_secret"), "the secret travels in the Authorization header");

    let store = &server.server.state.store;
    let authorization_code_hash = trove_server::service::hashing::secret_hash(&code);
    let authorization = store.find_authorization(&authorization_code_hash).await.unwrap().unwrap();
    let account = store.find_account_by_authorization(&authorization.id).await.unwrap().expect("the PUSH account");
    assert_eq!(account.reference, reference);
    assert_eq!(account.provider_id, provider.id);
    let tokens = open_account_tokens(&server.server.state.master, &account).unwrap();
    assert!(tokens.access_token.unwrap().expose_secret().starts_with("provider-access-"));
    assert!(tokens.refresh_token.unwrap().expose_secret().starts_with("provider-refresh-"));
    assert!(tokens.expires_ms.unwrap() > time::now_ms());
    server.stop().await;
}

#[tokio::test]
async fn sandbox_provider_skips_oauth() {
    let (server, contract) = setup().await;
    let provider =
        server.admin.add_provider(new_provider("Sandbox", "hospital", &["documents"], NewProviderAuth::Sandbox)).await.unwrap();

    let code = preauthorization_code(&server, &contract, "st").await;
    let browser = ConsentBrowser::new().unwrap();
    let scope = json!({"dataType": ["documents"], "organizationType": "hospital"});
    let page = consent_page(&browser, &onboarding_url(&server, &code, Some(provider.id), Some(scope))).await;
    let callback = allow_with(&browser, &page, provider.id).await.into_callback().unwrap();
    assert!(callback.success, "{}", callback.url);
    let reference = callback.account_reference.expect("accountReference");
    let store = &server.server.state.store;
    let authorization = store.find_authorization(&trove_server::service::hashing::secret_hash(&code)).await.unwrap().unwrap();
    let account = store.find_account_by_authorization(&authorization.id).await.unwrap().unwrap();
    assert_eq!(account.reference, reference);
    assert!(account.tokens.access_token.is_none());
    server.stop().await;
}

#[tokio::test]
async fn provider_outside_scope_rejected() {
    let (server, contract) = setup().await;
    let documents =
        server.admin.add_provider(new_provider("Docs", "hospital", &["documents"], NewProviderAuth::Sandbox)).await.unwrap();
    let vitals = server
        .admin
        .add_provider(new_provider("Vitals", "hospital", &["measurements-vital-signs"], NewProviderAuth::Sandbox))
        .await
        .unwrap();

    let code = preauthorization_code(&server, &contract, "st").await;
    let browser = ConsentBrowser::new().unwrap();
    let page = consent_page(&browser, &onboarding_url(&server, &code, None, Some(json!({"dataType": ["documents"]})))).await;
    assert_eq!(offered(&page), vec![documents.id]);
    let refused = allow_with(&browser, &page, vitals.id).await.into_page().unwrap();
    assert_eq!(refused.status.as_u16(), 400, "{}", refused.text());
    let store = &server.server.state.store;
    let authorization = store.find_authorization(&trove_server::service::hashing::secret_hash(&code)).await.unwrap().unwrap();
    assert!(store.find_account_by_authorization(&authorization.id).await.unwrap().is_none());
    server.stop().await;
}

#[tokio::test]
async fn provider_denial_returns_error() {
    let (server, contract) = setup().await;
    let fake = FakeProvider::start().await;
    fake.state.lock().unwrap().deny = true;
    let provider =
        server.admin.add_provider(new_provider("Huisarts", "general-practitioner", &["documents"], oauth(&fake))).await.unwrap();

    let code = preauthorization_code(&server, &contract, "st").await;
    let browser = ConsentBrowser::new().unwrap();
    let page = consent_page(&browser, &onboarding_url(&server, &code, None, None)).await;
    let Navigation::Left(to_provider) = allow_with(&browser, &page, provider.id).await else { panic!("expected the provider") };
    let Navigation::Left(back) = browser.open(to_provider.as_str()).await.unwrap() else { panic!("expected a redirect back") };
    let callback = browser.open(back.as_str()).await.unwrap().into_callback().unwrap();
    assert!(!callback.success);
    assert_eq!(callback.error_code.as_deref(), Some("USER_CANCEL"));
    assert_eq!(callback.state.as_deref(), Some("st"));
    assert!(callback.account_reference.is_none());
    server.stop().await;
}

#[tokio::test]
async fn provider_callback_state_single_use() {
    let (server, contract) = setup().await;
    let fake = FakeProvider::start().await;
    let provider =
        server.admin.add_provider(new_provider("Huisarts", "general-practitioner", &["documents"], oauth(&fake))).await.unwrap();

    let code = preauthorization_code(&server, &contract, "st").await;
    let browser = ConsentBrowser::new().unwrap();
    let page = consent_page(&browser, &onboarding_url(&server, &code, None, None)).await;
    let Navigation::Left(to_provider) = allow_with(&browser, &page, provider.id).await else { panic!("expected the provider") };
    let Navigation::Left(back) = browser.open(to_provider.as_str()).await.unwrap() else { panic!("expected a redirect back") };
    browser.open(back.as_str()).await.unwrap().into_callback().unwrap();

    let replayed = browser.open(back.as_str()).await.unwrap().into_page().unwrap();
    assert_eq!(replayed.status.as_u16(), 400);

    // A callback from another browser (no session cookie) is refused, even with a fresh state.
    let code = preauthorization_code(&server, &contract, "st").await;
    let page = consent_page(&browser, &onboarding_url(&server, &code, None, None)).await;
    let Navigation::Left(to_provider) = allow_with(&browser, &page, provider.id).await else { panic!("expected the provider") };
    let Navigation::Left(back) = browser.open(to_provider.as_str()).await.unwrap() else { panic!("expected a redirect back") };
    let stranger = ConsentBrowser::new().unwrap();
    let refused = stranger.open(back.as_str()).await.unwrap().into_page().unwrap();
    assert_eq!(refused.status.as_u16(), 400);
    server.stop().await;
}
