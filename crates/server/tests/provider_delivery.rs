//! Delivery to a provider in another process: the stand-in FHIR STU3 provider with its OAuth
//! server in `tests/provider/provider.py`, run with the virtual environment that
//! `tests/provider/setup.sh` creates (or the Python named by `TROVE_PROVIDER_PYTHON`).
//!
//! Without that environment these tests fail with a message that names the setup script.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use trove_protocol::{pkce, time};
use trove_server::store::deliveries::DeliveryState;
use secrecy::{ExposeSecret, SecretString};
use trove_server::service::providers::{open_account_tokens, seal_provider_secret, ProviderSecret};
use trove_server::store::{ContractKind, ProviderAuth};
use trove_testkit::TestServer;

use support::{eventually, oauth_tokens, push_account, pusher, sample};

const CLIENT_ID: &str = "trove";
const CLIENT_SECRET: &str = "stand-in-secret";
const REDIRECT_URI: &str = "https://trove.test/provider-callback";

/// The stand-in provider process, killed on drop.
struct StandIn {
    child: Child,
    base: String,
    http: reqwest::Client,
}

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    if let Some(configured) = std::env::var_os("TROVE_PROVIDER_PYTHON") {
        return PathBuf::from(configured);
    }
    let venv = repository_root().join("tests/provider/.venv/bin/python");
    assert!(
        venv.exists(),
        "the stand-in provider's Python environment is missing: run tests/provider/setup.sh \
         (or set TROVE_PROVIDER_PYTHON to a Python with tests/provider/requirements.txt installed)"
    );
    venv
}

impl StandIn {
    /// Starts the provider on a free loopback port with its database in `data_dir`.
    fn start(data_dir: &Path) -> Self {
        Self::start_on(data_dir, 0)
    }

    /// Starts the provider on `port` (0 for a free one) with its database in `data_dir`.
    fn start_on(data_dir: &Path, port: u16) -> Self {
        let script = repository_root().join("tests/provider/provider.py");
        let mut child = Command::new(python())
            .arg(&script)
            .args(["--data", &data_dir.display().to_string(), "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .args(["--token-ttl", "300", "--port", &port.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting the stand-in provider with python");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("reading the provider's first line");
        let Some(base) = line.trim().strip_prefix("listening on ").map(str::to_string) else {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collecting the provider's output");
            panic!(
                "the stand-in provider did not start (are tests/provider/requirements.txt installed? run \
                 tests/provider/setup.sh): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        Self { child, base, http: reqwest::Client::new() }
    }

    async fn control(&self, path: &str, body: Value) {
        let response = self.http.post(format!("{}/control/{path}", self.base)).json(&body).send().await.expect("control call");
        assert!(response.status().is_success(), "control/{path}: {}", response.status());
    }

    async fn resources(&self, resource_type: &str) -> Vec<Value> {
        let url = format!("{}/control/resources?type={resource_type}", self.base);
        self.http.get(url).send().await.expect("listing resources").json().await.expect("a JSON list")
    }

    async fn requests(&self) -> Vec<Value> {
        let url = format!("{}/control/requests", self.base);
        self.http.get(url).send().await.expect("listing requests").json().await.expect("a JSON list")
    }

    /// Runs the authorization code flow with PKCE as Trove's onboarding would, returning the
    /// access and refresh tokens.
    async fn authorize(&self) -> (String, String) {
        let verifier = pkce::create_verifier();
        let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let authorize = no_redirects
            .get(format!("{}/oauth/authorize", self.base))
            .query(&[
                ("response_type", "code"),
                ("client_id", CLIENT_ID),
                ("redirect_uri", REDIRECT_URI),
                ("state", "test-state"),
                ("code_challenge", &pkce::challenge(&verifier)),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .expect("authorize request");
        assert_eq!(authorize.status(), 302, "authorize");
        let location = authorize.headers()["location"].to_str().unwrap().to_string();
        let callback = url::Url::parse(&location).unwrap();
        let code = callback.query_pairs().find(|(name, _)| name == "code").expect("a code on the callback").1.to_string();
        let tokens: Value = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT_URI), ("code_verifier", &verifier)])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("a token response");
        (tokens["access_token"].as_str().unwrap().into(), tokens["refresh_token"].as_str().unwrap().into())
    }
}

impl StandIn {
    /// Returns the port the provider listens on.
    fn port(&self) -> u16 {
        url::Url::parse(&self.base).expect("the provider's base URL").port().expect("an explicit port")
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn quick_retries(config: &mut trove_server::Config) {
    config.delivery_first_delay = Duration::from_millis(100);
    config.delivery_max_delay = Duration::from_millis(400);
    config.delivery_poll_interval = Duration::from_millis(100);
    config.delivery_request_timeout = Duration::from_secs(10);
}

/// Returns a builder of the stand-in's OAuth provider entry, with the client secret sealed for
/// the provider id it is given.
fn oauth_provider<'a>(server: &'a TestServer, stand_in: &'a StandIn) -> impl FnOnce(i64) -> ProviderAuth + 'a {
    move |provider_id| ProviderAuth::OAuth {
        client_id: CLIENT_ID.into(),
        client_secret: Some(seal_provider_secret(
            &server.server.state.master,
            provider_id,
            ProviderSecret::ClientSecret,
            &SecretString::from(CLIENT_SECRET),
        )),
        authorize_endpoint: format!("{}/oauth/authorize", stand_in.base),
        token_endpoint: format!("{}/oauth/token", stand_in.base),
        scope: None,
    }
}

async fn delivery_state(server: &TestServer, delivery_id: &str) -> DeliveryState {
    server.server.state.store.find_delivery(delivery_id).await.unwrap().expect("the delivery row").state
}

#[tokio::test]
async fn provider_down_then_up_delivers_once() {
    let provider_dir = tempfile::tempdir().unwrap();
    let stand_in = StandIn::start(provider_dir.path());
    let server = TestServer::start_with(quick_retries).await.unwrap();
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let (access, refresh) = stand_in.authorize().await;
    let tokens = oauth_tokens(&access, &refresh, time::now_ms() + 300_000);
    let account = push_account(&server.server.state, &user.library_id, &stand_in.base, oauth_provider(&server, &stand_in), Some(tokens)).await;
    stand_in.control("down", json!({})).await;

    let reply = user.push(&account, sample("observation-body-weight.json")).await.unwrap().expect("a JSON reply");

    assert_eq!(reply["status"], "pending", "{reply}");
    let delivery_id = reply["deliveryId"].as_str().unwrap().to_string();
    eventually(10, "the worker has retried at least twice", || async {
        let requests = stand_in.requests().await;
        requests.iter().filter(|request| request["status"] == 503).count() >= 2
    })
    .await;
    assert_eq!(delivery_state(&server, &delivery_id).await, DeliveryState::Pending);
    stand_in.control("up", json!({})).await;
    eventually(10, "the delivery is delivered", || async { delivery_state(&server, &delivery_id).await == DeliveryState::Delivered }).await;
    let stored = stand_in.resources("Observation").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let identifiers = stored[0]["identifier"].to_string();
    assert!(identifiers.contains(&delivery_id), "{identifiers}");
    let requests = stand_in.requests().await;
    assert!(requests.iter().all(|request| request["ifNoneExist"] == format!("identifier=urn:trove:delivery|{delivery_id}")));
    server.stop().await;
}

#[tokio::test]
async fn unreachable_provider_retried_until_back() {
    let provider_dir = tempfile::tempdir().unwrap();
    let stand_in = StandIn::start(provider_dir.path());
    let server = TestServer::start_with(quick_retries).await.unwrap();
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let (access, refresh) = stand_in.authorize().await;
    let tokens = oauth_tokens(&access, &refresh, time::now_ms() + 300_000);
    let account = push_account(&server.server.state, &user.library_id, &stand_in.base, oauth_provider(&server, &stand_in), Some(tokens)).await;
    let port = stand_in.port();
    drop(stand_in);

    let reply = user.push(&account, sample("observation-heart-rate.json")).await.unwrap().expect("a JSON reply");

    assert_eq!(reply["status"], "pending", "{reply}");
    let delivery_id = reply["deliveryId"].as_str().unwrap().to_string();
    eventually(10, "a retry has failed to connect", || async {
        let row = server.server.state.store.find_delivery(&delivery_id).await.unwrap().unwrap();
        row.attempts >= 2
    })
    .await;
    let row = server.server.state.store.find_delivery(&delivery_id).await.unwrap().unwrap();
    assert_eq!(row.state, DeliveryState::Pending);
    assert_eq!(row.provider_status, None, "no provider status without a connection");
    assert!(row.last_error.as_deref().unwrap_or_default().contains("could not be reached"), "{:?}", row.last_error);

    // The provider comes back on the same port with the same database, so its tokens still work.
    let stand_in = StandIn::start_on(provider_dir.path(), port);
    eventually(10, "the delivery is delivered", || async { delivery_state(&server, &delivery_id).await == DeliveryState::Delivered }).await;
    assert_eq!(stand_in.resources("Observation").await.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn provider_rejection_is_relayed() {
    let provider_dir = tempfile::tempdir().unwrap();
    let stand_in = StandIn::start(provider_dir.path());
    let server = TestServer::start_with(quick_retries).await.unwrap();
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let (access, refresh) = stand_in.authorize().await;
    let tokens = oauth_tokens(&access, &refresh, time::now_ms() + 300_000);
    let account = push_account(&server.server.state, &user.library_id, &stand_in.base, oauth_provider(&server, &stand_in), Some(tokens)).await;
    stand_in.control("reject", json!({"count": 1, "status": 422, "diagnostics": "Observation.subject must name a known patient"})).await;

    let error = user.push(&account, sample("observation-heart-rate.json")).await.unwrap_err();

    let trove_sdk::Error::Server { status, code, message, .. } = &error else { panic!("expected a server error, got {error:?}") };
    assert_eq!(status.as_u16(), 400);
    assert_eq!(code, "ProviderRejected");
    assert!(message.contains("422"), "{message}");
    assert!(message.contains("Observation.subject must name a known patient"), "{message}");
    let failed = server.admin.list_deliveries(Some(DeliveryState::Failed)).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].provider_status, Some(422));
    assert!(stand_in.resources("Observation").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn expired_token_is_refreshed() {
    let provider_dir = tempfile::tempdir().unwrap();
    let stand_in = StandIn::start(provider_dir.path());
    let server = TestServer::start_with(quick_retries).await.unwrap();
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let (access, refresh) = stand_in.authorize().await;
    // The stored expiry is minutes away, but the provider expires the token now. The first
    // POST therefore gets 401, and Trove must refresh the token and send again.
    let tokens = oauth_tokens(&access, &refresh, time::now_ms() + 300_000);
    let account = push_account(&server.server.state, &user.library_id, &stand_in.base, oauth_provider(&server, &stand_in), Some(tokens)).await;
    stand_in.control("expire-tokens", json!({})).await;

    let reply = user.push(&account, sample("bundle-transaction.json")).await.unwrap().expect("a JSON reply");

    assert_eq!(reply["status"], "delivered", "{reply}");
    let statuses: Vec<Value> = stand_in.requests().await.iter().map(|request| request["status"].clone()).collect();
    assert_eq!(statuses, vec![json!(401), json!(200)], "one 401, then the transaction after the refresh");
    let state = &server.server.state;
    let stored = state.store.find_account(&user.library_id, &account).await.unwrap().unwrap();
    let opened = open_account_tokens(&state.master, &stored).unwrap();
    assert_ne!(opened.access_token.unwrap().expose_secret(), access, "the new access token was stored");
    assert_ne!(opened.refresh_token.unwrap().expose_secret(), refresh, "the rotated refresh token was stored");

    // A token that is known to have expired is refreshed before the first request.
    let expired = server.server.state.store.find_account(&user.library_id, &account).await.unwrap().unwrap();
    let mut tokens = expired.tokens.clone();
    tokens.expires_ms = Some(time::now_ms() - 1000);
    state.store.update_account_tokens(&account, tokens, time::now_ms()).await.unwrap();
    stand_in.control("expire-tokens", json!({})).await;
    let reply = user.push(&account, sample("patient.json")).await.unwrap().expect("a JSON reply");
    assert_eq!(reply["status"], "delivered", "{reply}");
    let statuses: Vec<Value> = stand_in.requests().await.iter().map(|request| request["status"].clone()).collect();
    assert_eq!(statuses, vec![json!(401), json!(200), json!(201)], "no 401 after a refresh made ahead of time");
    server.stop().await;
}

#[tokio::test]
async fn refused_refresh_needs_reauthorization() {
    let provider_dir = tempfile::tempdir().unwrap();
    let stand_in = StandIn::start(provider_dir.path());
    let server = TestServer::start_with(quick_retries).await.unwrap();
    let user = pusher(&server, "writer", ContractKind::Write).await;
    // Tokens the provider never issued stand in for an authorization the person revoked there.
    let tokens = oauth_tokens("revoked-access", "revoked-refresh", time::now_ms() + 300_000);
    let account = push_account(&server.server.state, &user.library_id, &stand_in.base, oauth_provider(&server, &stand_in), Some(tokens)).await;

    let error = user.push(&account, sample("observation-body-weight.json")).await.unwrap_err();

    let trove_sdk::Error::Server { status, code, message, .. } = &error else { panic!("expected a server error, got {error:?}") };
    assert_eq!(status.as_u16(), 403);
    assert_eq!(code, "ServiceAuthorizationError");
    assert!(message.contains("invalid_grant"), "{message}");
    let failed = server.admin.list_deliveries(Some(DeliveryState::Failed)).await.unwrap();
    assert_eq!(failed.len(), 1, "a refused authorization is not retried");
    assert!(stand_in.resources("Observation").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn restart_delivers_pending() {
    let provider_dir = tempfile::tempdir().unwrap();
    let stand_in = StandIn::start(provider_dir.path());
    let data_dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(data_dir.path().to_path_buf(), quick_retries).await.unwrap();
    let user = pusher(&server, "writer", ContractKind::Write).await;
    let (access, refresh) = stand_in.authorize().await;
    let tokens = oauth_tokens(&access, &refresh, time::now_ms() + 300_000);
    let account = push_account(&server.server.state, &user.library_id, &stand_in.base, oauth_provider(&server, &stand_in), Some(tokens)).await;
    stand_in.control("down", json!({})).await;

    let files = ["observation-blood-pressure.json", "observation-body-weight.json", "questionnaireresponse.json", "documentreference-pdf.json"];
    let mut delivery_ids = Vec::new();
    for file in files {
        let reply = user.push(&account, sample(file)).await.unwrap().expect("a JSON reply");
        assert_eq!(reply["status"], "pending", "{file}: {reply}");
        delivery_ids.push(reply["deliveryId"].as_str().unwrap().to_string());
    }
    let pending = server.admin.list_deliveries(Some(DeliveryState::Pending)).await.unwrap();
    assert_eq!(pending.len(), files.len(), "every push waits in the outbox before the restart");
    server.stop().await;
    stand_in.control("up", json!({})).await;

    let restarted = TestServer::start_in(data_dir.path().to_path_buf(), quick_retries).await.unwrap();
    eventually(15, "every pending delivery is delivered after the restart", || async {
        let pending = restarted.server.state.store.list_deliveries(Some(DeliveryState::Pending)).await.unwrap();
        pending.is_empty()
    })
    .await;
    let delivered = restarted.admin.list_deliveries(Some(DeliveryState::Delivered)).await.unwrap();
    assert_eq!(delivered.len(), files.len());
    for delivery_id in &delivery_ids {
        assert!(delivered.iter().any(|row| &row.id == delivery_id), "{delivery_id} was not delivered");
    }
    assert_eq!(stand_in.resources("Observation").await.len(), 2);
    assert_eq!(stand_in.resources("QuestionnaireResponse").await.len(), 1);
    assert_eq!(stand_in.resources("DocumentReference").await.len(), 1);
    restarted.stop().await;
}

/// The whole MedMij path an app takes: push onboarding on the consent pages with the stand-in's
/// own OAuth authorization, the code exchange, finding the account by `accountReference`, and
/// a push that reaches the stand-in with the tokens that onboarding stored.
#[tokio::test]
async fn onboarding_then_push_reaches_provider() {
    use trove_server::admin::{NewProvider, NewProviderAuth};
    use trove_testkit::consent_browser::{ConsentBrowser, Navigation};

    const APP_CALLBACK: &str = "http://127.0.0.1:9/app-callback";
    let provider_dir = tempfile::tempdir().unwrap();
    let stand_in = StandIn::start(provider_dir.path());
    let server = TestServer::start_with(quick_retries).await.unwrap();
    let provider = server
        .admin
        .add_provider(NewProvider {
            id: None,
            name: "Huisarts Stand-in".into(),
            organization_type: "general-practitioner".into(),
            data_services: vec!["measurements-vital-signs".into()],
            fhir_base_url: Some(stand_in.base.clone()),
            auth: NewProviderAuth::OAuth {
                client_id: CLIENT_ID.into(),
                client_secret: Some(SecretString::from(CLIENT_SECRET)),
                authorize_endpoint: format!("{}/oauth/authorize", stand_in.base),
                token_endpoint: format!("{}/oauth/token", stand_in.base),
                scope: None,
            },
            published_status: "approved".into(),
            allow_loopback: true,
        })
        .await
        .unwrap();
    let registered = server.add_contract("clinic-app", "writer", ContractKind::Write, &[APP_CALLBACK]).await.unwrap();
    let contract = trove_sdk::ContractDetails::new("writer", registered.private_key);
    let client = trove_sdk::Client::builder("clinic-app").base_url(server.api_base()).onboard_url(server.onboard_base()).build().unwrap();

    let mut options = trove_sdk::AuthorizeOptions::new(&contract, APP_CALLBACK, "app-state");
    options.source_type = trove_sdk::SourceType::Push;
    options.sources_scope = Some(trove_sdk::SourcesScope {
        data_type: Some(vec!["measurements-vital-signs".into()]),
        organization_type: Some("general-practitioner".into()),
    });
    let authorize = client.get_authorize_url(options).await.unwrap();

    let browser = ConsentBrowser::new().unwrap();
    let start = browser.open(&authorize.url).await.unwrap().into_page().unwrap();
    let register = start.form_posting_to("/apps/saas/register").expect("the register form");
    let consent = browser
        .submit(&start, register, &[("username", "stand-in-user"), ("password", "correct horse battery")], None)
        .await
        .unwrap()
        .into_page()
        .unwrap();
    let form = consent.consent_form().expect("the consent form");
    let allow = form.button("decision", "allow").expect("the allow button");
    let Navigation::Left(to_provider) =
        browser.submit(&consent, form, &[("provider", &provider.id.to_string())], Some(allow)).await.unwrap()
    else {
        panic!("allowing must send the browser to the provider");
    };
    let Navigation::Left(back) = browser.open(to_provider.as_str()).await.unwrap() else {
        panic!("the stand-in must redirect back to Trove");
    };
    let callback = browser.open(back.as_str()).await.unwrap().into_callback().unwrap();
    assert!(callback.success, "{}", callback.url);
    let reference = callback.account_reference.clone().expect("accountReference");

    let token = client.exchange_code_for_token(&contract, callback.code.as_deref().unwrap(), &authorize.code_verifier).await.unwrap();
    let accounts = client.read_accounts(&contract, &token).await.unwrap().value;
    let account = accounts.iter().find(|account| account.reference == reference).expect("the onboarded account");
    assert_eq!(account.r#type, "PUSH");
    assert_eq!(account.source_id, provider.id);

    let push = trove_sdk::Push::Provider {
        standard: "fhir".into(),
        version: "stu3".into(),
        account_id: account.id.clone(),
        json: sample("observation-body-weight.json"),
    };
    client.push_data(trove_sdk::PushRequest::new(&contract, &token, push)).await.unwrap();
    eventually(10, "the Observation is stored at the stand-in", || async { stand_in.resources("Observation").await.len() == 1 })
        .await;
    server.stop().await;
}
