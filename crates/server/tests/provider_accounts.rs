//! The provider directory and PUSH accounts over HTTP: `discovery/sources`, the account list,
//! deleting an account, and the revoke link with its page, plus the ZAL import behind them.
//!
//! NOTE: the library, its grant and its accounts are written straight into the store, in place
//! of the consent pages, so these tests exercise the account endpoints alone.

use reqwest::header::LOCATION;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};
use trove_protocol::claims::{AppClaims, UserClaims};
use trove_protocol::jws::{self, Header};
use trove_protocol::keys::RsaPrivateKey;
use trove_protocol::wire::TokenPair;
use trove_protocol::{random, time};
use trove_sdk::ContractDetails;
use trove_server::admin::{NewProvider, NewProviderAuth, ZalImportOptions};
use trove_server::service::hashing::secret_hash;
use trove_server::store::{
    AccountTokens, AuthCode, Authorization, AuthorizationStatus, Consent, ContractKind, Library, NewTokenPair, ProviderAccount,
    ReadSession,
};
use trove_testkit::TestServer;

const APP: &str = "health-app";
const CALLBACK: &str = "https://app.example/callback";
const EXAMPLE_ZAL: &str = include_str!("data/zal-release2-example.xml");

/// A contract's user with a valid access token on a fresh library.
struct User {
    client_id: String,
    contract_id: String,
    key: RsaPrivateKey,
    access_token: String,
    refresh_token: String,
    library_id: String,
}

impl User {
    fn user_jwt(&self) -> String {
        jws::sign(&Header::client(), &UserClaims::new(&self.client_id, &self.access_token), &self.key).unwrap()
    }

    fn app_jwt(&self) -> String {
        jws::sign(&Header::client(), &AppClaims::new(&self.client_id), &self.key).unwrap()
    }

    fn token_pair(&self) -> TokenPair {
        TokenPair {
            access_token: self.access_token.clone(),
            access_expires_on: time::now_ms() / 1000 + 3600,
            refresh_token: self.refresh_token.clone(),
            refresh_expires_on: time::now_ms() / 1000 + 86_400,
            user_id: self.library_id.clone(),
            consent_id: String::new(),
        }
    }
}

/// Registers a contract and gives a new library a token pair for it through the store.
async fn user(server: &TestServer, contract_id: &str) -> User {
    let registered = server.add_contract(APP, contract_id, ContractKind::Write, &[CALLBACK]).await.unwrap();
    let store = &server.server.state.store;
    let now = time::now_ms();
    let library_id = random::alphanumeric(16);
    let library = Library { id: library_id.clone(), username: library_id.clone(), password_hash: "unused".into(), created_ms: now };
    store.create_library(library).await.unwrap();

    let authorization_id = random::alphanumeric(16);
    let session_key = random::alphanumeric(16);
    let authorization = Authorization {
        id: authorization_id.clone(),
        code_hash: secret_hash(&random::alphanumeric(16)),
        app_id: APP.into(),
        contract_id: contract_id.into(),
        redirect_uri: CALLBACK.into(),
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
    store.create_authorization(authorization, session).await.unwrap();
    let consent = Consent {
        id: random::alphanumeric(16),
        library_id: library_id.clone(),
        app_id: APP.into(),
        contract_id: contract_id.into(),
        created_ms: now,
    };
    let consent_id = consent.id.clone();
    let code = AuthCode {
        code_hash: secret_hash(&random::alphanumeric(16)),
        consent_id: consent_id.clone(),
        code_challenge: "unused".into(),
        expires_ms: now + 600_000,
    };
    assert!(store.allow_authorization(&authorization_id, consent, code).await.unwrap());

    let access_token = random::token::<32>();
    let refresh_token = random::token::<32>();
    let pair = NewTokenPair {
        access_hash: secret_hash(&access_token),
        access_expires_ms: now + 3_600_000,
        refresh_hash: secret_hash(&refresh_token),
        refresh_expires_ms: now + 86_400_000,
    };
    store.create_token_family(&random::alphanumeric(16), &consent_id, pair).await.unwrap();
    User {
        client_id: format!("{APP}_{contract_id}"),
        contract_id: contract_id.into(),
        key: registered.private_key,
        access_token,
        refresh_token,
        library_id,
    }
}

/// Adds a sandbox provider through the admin API and returns its id.
async fn sandbox_provider(server: &TestServer, name: &str, data_services: &[&str], organization_type: &str) -> i64 {
    let new = NewProvider {
        id: None,
        name: name.into(),
        organization_type: organization_type.into(),
        data_services: data_services.iter().map(|service| service.to_string()).collect(),
        fhir_base_url: None,
        auth: NewProviderAuth::Sandbox,
        published_status: "approved".into(),
        allow_loopback: false,
    };
    server.admin.add_provider(new).await.unwrap().id
}

/// Creates a PUSH account of `library_id` at `provider_id` through the store.
async fn account(server: &TestServer, library_id: &str, provider_id: i64) -> ProviderAccount {
    let now = time::now_ms();
    let account = ProviderAccount {
        id: random::alphanumeric(20),
        reference: random::alphanumeric(20),
        library_id: library_id.into(),
        provider_id,
        authorization_id: None,
        created_ms: now,
        updated_ms: now,
        tokens: AccountTokens::default(),
    };
    server.server.state.store.create_account(account.clone()).await.unwrap();
    account
}

async fn post_sources(server: &TestServer, user: &User, body: Option<Value>) -> (StatusCode, Value) {
    let request = Client::new().post(format!("{}discovery/sources", server.api_base())).bearer_auth(user.app_jwt());
    let request = match body {
        Some(body) => request.json(&body),
        None => request.header("content-type", "application/json"),
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

fn ids(page: &Value) -> Vec<i64> {
    page["data"].as_array().unwrap().iter().map(|item| item["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn discovery_lists_push_sources() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;
    let gp = sandbox_provider(&server, "Huisarts Noord", &["measurements-vital-signs"], "general-practitioner").await;
    let hospital = sandbox_provider(&server, "Ziekenhuis Zuid", &["documents"], "hospital").await;

    let (status, page) = post_sources(&server, &user, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), vec![gp, hospital]);
    assert_eq!(page["total"], 2);
    assert_eq!(page["offset"], 0);
    let item = &page["data"][0];
    assert_eq!(item["name"], "Huisarts Noord");
    assert_eq!(item["publishedStatus"], "approved");
    assert_eq!(item["service"]["id"], gp);
    assert_eq!(item["json"]["authorisation"]["type"], "none");

    // The Node SDK's defaults: pull sources only, approved only.
    let node_default = json!({"query": {"filter": {"type": {"id": [1]}, "publishedStatus": ["approved"]}}});
    let (_, page) = post_sources(&server, &user, Some(node_default)).await;
    assert_eq!(ids(&page), Vec::<i64>::new());
    assert_eq!(page["total"], 0);

    let push_hospitals = json!({
        "limit": 10,
        "sort": {"name": "desc"},
        "query": {"filter": {"type": {"id": [2]}, "service": {"id": [hospital]}}}
    });
    let (_, page) = post_sources(&server, &user, Some(push_hospitals)).await;
    assert_eq!(ids(&page), vec![hospital]);

    let (status, body) = post_sources(&server, &user, Some(json!({"limit": -1}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "ValidationErrors");
    server.stop().await;
}

#[tokio::test]
async fn discovery_requires_app_signature() {
    let server = TestServer::start().await.unwrap();
    let response = Client::new().post(format!("{}discovery/sources", server.api_base())).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ValidationErrors");
    server.stop().await;
}

#[tokio::test]
async fn discovery_side_lists_empty() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;
    for list in ["countries", "platforms", "categories"] {
        let response = Client::new()
            .post(format!("{}discovery/{list}", server.api_base()))
            .bearer_auth(user.app_jwt())
            .json(&json!({"query": {}}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{list}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"data": []}), "{list}");
    }
    server.stop().await;
}

#[tokio::test]
async fn accounts_list_push_accounts() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;
    let other = self::user(&server, "writer2").await;
    let provider = sandbox_provider(&server, "Huisarts Noord", &["documents"], "general-practitioner").await;
    let mine = account(&server, &user.library_id, provider).await;
    account(&server, &other.library_id, provider).await;

    let response = Client::new()
        .get(format!("{}permission-access/accounts", server.api_base()))
        .bearer_auth(user.user_jwt())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let listed: Value = response.json().await.unwrap();
    let listed = listed.as_array().expect("a bare JSON array");
    assert_eq!(listed.len(), 1, "only the caller's library: {listed:?}");
    let element = &listed[0];
    for member in [
        "id",
        "reference",
        "type",
        "createdDate",
        "serviceGroupId",
        "serviceGroupName",
        "serviceTypeId",
        "serviceTypeName",
        "serviceTypeReference",
        "sourceId",
        "updatedDate",
    ] {
        assert!(element.get(member).is_some_and(|value| !value.is_null()), "missing {member}: {element}");
    }
    assert_eq!(element["id"], mine.id.as_str());
    assert_eq!(element["reference"], mine.reference.as_str());
    assert_eq!(element["type"], "PUSH");
    assert_eq!(element["sourceId"], provider);
    assert_eq!(element["serviceProviderName"], "Huisarts Noord");
    assert_eq!(element["accessTokenStatus"]["authorized"], true);

    // The Rust SDK validates the same shape.
    let client = trove_sdk::Client::builder(APP).base_url(server.api_base()).build().unwrap();
    let key = RsaPrivateKey::from_pem(&user.key.to_pkcs1_pem().unwrap()).unwrap();
    let contract = ContractDetails::new(user.contract_id.clone(), key);
    let accounts = client.read_accounts(&contract, &user.token_pair()).await.unwrap();
    assert_eq!(accounts.value.len(), 1);
    assert_eq!(accounts.value[0].id, mine.id);
    server.stop().await;
}

async fn delete_account(server: &TestServer, user: &User, account_id: Option<&str>, path_segment: &str) -> (StatusCode, Value) {
    let mut request = Client::new()
        .delete(format!("{}permission-access/service/{path_segment}", server.api_base()))
        .bearer_auth(user.user_jwt())
        .header("content-type", "application/json");
    if let Some(account_id) = account_id {
        request = request.header("accountId", account_id);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn delete_account_by_header() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;
    let other = self::user(&server, "writer2").await;
    let provider = sandbox_provider(&server, "Huisarts Noord", &["documents"], "general-practitioner").await;
    let mine = account(&server, &user.library_id, provider).await;
    let theirs = account(&server, &other.library_id, provider).await;

    let (status, body) = delete_account(&server, &user, None, "h:accountId").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "ValidationErrors");

    let (status, body) = delete_account(&server, &user, Some(&theirs.id), "h:accountId").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another library's account: {body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&theirs.id));

    let (status, body) = delete_account(&server, &user, Some(&mine.id), "h:accountId").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deleted"], true);
    let store = &server.server.state.store;
    assert!(store.find_account(&user.library_id, &mine.id).await.unwrap().is_none());
    assert!(store.find_account(&other.library_id, &theirs.id).await.unwrap().is_some());

    let (status, _) = delete_account(&server, &user, Some(&mine.id), "h:accountId").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice");
    server.stop().await;
}

#[tokio::test]
async fn h_account_id_is_literal_segment() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;
    let provider = sandbox_provider(&server, "Huisarts Noord", &["documents"], "general-practitioner").await;
    let mine = account(&server, &user.library_id, provider).await;

    // Another segment falls through to the API's fallback and leaves the account alone.
    let (status, body) = delete_account(&server, &user, Some(&mine.id), "x:accountId").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NotFound");
    let (status, _) = delete_account(&server, &user, Some(&mine.id), "accountId").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(server.server.state.store.find_account(&user.library_id, &mine.id).await.unwrap().is_some());

    let response = Client::new()
        .get(format!("{}permission-access/revoke/h:accountId", server.api_base()))
        .bearer_auth(user.user_jwt())
        .header("accountId", &mine.id)
        .header("redirectUri", CALLBACK)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

async fn revoke_location(server: &TestServer, user: &User, account_id: &str, redirect_uri: &str) -> (StatusCode, Value) {
    let response = Client::new()
        .get(format!("{}permission-access/revoke/h:accountId", server.api_base()))
        .bearer_auth(user.user_jwt())
        .header("accept", "application/json")
        .header("accountId", account_id)
        .header("redirectUri", redirect_uri)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Returns the value of a hidden form field in a page.
fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name} in {html}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

fn browser() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Returns the `name=value` pair of the first `Set-Cookie` header, for a `Cookie` header.
fn set_cookie_pair(response: &reqwest::Response) -> String {
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn revoke_page_removes_account() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;
    let provider = sandbox_provider(&server, "Huisarts Noord", &["documents"], "general-practitioner").await;
    let mine = account(&server, &user.library_id, provider).await;

    let (status, body) = revoke_location(&server, &user, &mine.id, "https://elsewhere.example/").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "InvalidRedirectUri");
    let (status, body) = revoke_location(&server, &user, "no-such-account", CALLBACK).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = revoke_location(&server, &user, &mine.id, CALLBACK).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let location = body["location"].as_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{}revoke?", server.onboard_base())), "{location}");

    let browser = browser();
    let page = browser.get(format!("{location}&lng=nl")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = set_cookie_pair(&page);
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.contains("form-action 'self' https://app.example"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(html.contains("lang=\"nl\""), "{html}");
    assert!(html.contains("Huisarts Noord"));
    let code = hidden_field(&html, "code");
    let csrf = hidden_field(&html, "csrf");
    let form_url = format!("{}revoke", server.onboard_base());

    // A post without the cookie (another site's form) is rejected and uses nothing.
    let forged = Client::new()
        .post(&form_url)
        .form(&[("code", code.as_str()), ("csrf", csrf.as_str()), ("decision", "revoke")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let store = &server.server.state.store;
    assert!(store.find_account(&user.library_id, &mine.id).await.unwrap().is_some());

    let confirmed = browser
        .post(&form_url)
        .header("cookie", &cookie)
        .form(&[("code", code.as_str()), ("csrf", csrf.as_str()), ("decision", "revoke"), ("lng", "nl")])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::SEE_OTHER);
    let target = confirmed.headers()[LOCATION].to_str().unwrap();
    assert_eq!(target, format!("{CALLBACK}?result=success"));
    assert!(store.find_account(&user.library_id, &mine.id).await.unwrap().is_none());

    let reused = browser
        .post(&form_url)
        .header("cookie", &cookie)
        .form(&[("code", code.as_str()), ("csrf", csrf.as_str()), ("decision", "revoke")])
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST, "a link works once");
    server.stop().await;
}

#[tokio::test]
async fn revoke_page_cancel_keeps_account() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;
    let provider = sandbox_provider(&server, "Huisarts Noord", &["documents"], "general-practitioner").await;
    let mine = account(&server, &user.library_id, provider).await;
    let (_, body) = revoke_location(&server, &user, &mine.id, CALLBACK).await;
    let location = body["location"].as_str().unwrap();

    let browser = browser();
    let page = browser.get(location).header("accept-language", "en-GB,en;q=0.8").send().await.unwrap();
    let cookie = set_cookie_pair(&page);
    let html = page.text().await.unwrap();
    assert!(html.contains("lang=\"en\""));
    let code = hidden_field(&html, "code");
    let csrf = hidden_field(&html, "csrf");
    let cancelled = browser
        .post(format!("{}revoke", server.onboard_base()))
        .header("cookie", &cookie)
        .form(&[("code", code.as_str()), ("csrf", csrf.as_str()), ("decision", "cancel")])
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    let target = url::Url::parse(cancelled.headers()[LOCATION].to_str().unwrap()).unwrap();
    let query: Vec<(String, String)> = target.query_pairs().into_owned().collect();
    assert_eq!(query[0], ("result".to_string(), "failed".to_string()));
    assert_eq!(query[1].0, "error_message");
    assert!(server.server.state.store.find_account(&user.library_id, &mine.id).await.unwrap().is_some());

    let unknown = browser.get(format!("{}revoke?code=nonsense", server.onboard_base())).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    server.stop().await;
}

fn zal_options() -> ZalImportOptions {
    ZalImportOptions { allow_loopback: false, client_id: "trove.example".into(), client_secret: Some("zal-secret".to_string().into()) }
}

#[tokio::test]
async fn zal_import_feeds_discovery() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;

    let summary = server.admin.import_zal(EXAMPLE_ZAL.as_bytes(), zal_options()).await.unwrap();
    assert_eq!((summary.volgnummer, summary.providers, summary.added, summary.deprecated), (42, 3, 3, 0));

    let (_, page) = post_sources(&server, &user, Some(json!({"query": {"search": {"name": ["delinde"]}}}))).await;
    assert_eq!(page["total"], 2);
    let item = &page["data"][0];
    assert_eq!(item["reference"], "huisartsdelinde@medmij");
    assert_eq!(item["json"]["authorisation"]["type"], "saas");
    assert_eq!(item["dataTypes"], json!(["measurements-vital-signs"]));

    // The client secret is stored sealed: its bytes appear nowhere in the database file.
    let database = std::fs::read(server.data_dir.join(trove_server::DATABASE_FILE)).unwrap();
    let wal = std::fs::read(server.data_dir.join(format!("{}-wal", trove_server::DATABASE_FILE))).unwrap_or_default();
    for bytes in [&database, &wal] {
        assert!(!bytes.windows(10).any(|window| window == b"zal-secret"));
    }
    server.stop().await;
}

#[tokio::test]
async fn zal_import_rejects_older_volgnummer() {
    let server = TestServer::start().await.unwrap();
    server.admin.import_zal(EXAMPLE_ZAL.as_bytes(), zal_options()).await.unwrap();

    for volgnummer in ["42", "41"] {
        let replayed = EXAMPLE_ZAL.replacen("<Volgnummer>42<", &format!("<Volgnummer>{volgnummer}<"), 1);
        let error = server.admin.import_zal(replayed.as_bytes(), zal_options()).await.unwrap_err();
        assert!(error.to_string().contains("already imported"), "{error}");
    }
    server.stop().await;
}

#[tokio::test]
async fn zal_reimport_keeps_ids_and_deprecates() {
    let server = TestServer::start().await.unwrap();
    server.admin.import_zal(EXAMPLE_ZAL.as_bytes(), zal_options()).await.unwrap();
    let before = server.admin.list_providers().await.unwrap();

    // The next list drops the hospital and moves the GP's FHIR endpoint.
    let start = EXAMPLE_ZAL.find("<Zorgaanbieder>\n            <Zorgaanbiedernaam>ziekenhuisrivierenland").unwrap();
    let end = EXAMPLE_ZAL.rfind("</Zorgaanbieder>").unwrap() + "</Zorgaanbieder>".len();
    let next = format!("{}{}", &EXAMPLE_ZAL[..start], &EXAMPLE_ZAL[end..])
        .replacen("<Volgnummer>42<", "<Volgnummer>43<", 1)
        .replacen("https://fhir.delinde.example/stu3", "https://fhir2.delinde.example/stu3", 1);
    let summary = server.admin.import_zal(next.as_bytes(), zal_options()).await.unwrap();
    assert_eq!((summary.providers, summary.added, summary.deprecated), (2, 0, 1));

    let after = server.admin.list_providers().await.unwrap();
    assert_eq!(after.iter().map(|p| p.id).collect::<Vec<_>>(), before.iter().map(|p| p.id).collect::<Vec<_>>());
    assert_eq!(after[0].fhir_base_url, "https://fhir2.delinde.example/stu3");
    assert_eq!(after[2].published_status, "deprecated");
    server.stop().await;
}

#[tokio::test]
async fn zal_import_rejects_hostile_lists() {
    let server = TestServer::start().await.unwrap();
    let cases = [
        (
            "DOCTYPE with entity",
            EXAMPLE_ZAL.replacen(
                "<Zorgaanbiederslijst",
                "<!DOCTYPE z [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<Zorgaanbiederslijst",
                1,
            ),
            "DOCTYPE",
        ),
        (
            "wrong namespace",
            EXAMPLE_ZAL.replacen("release2/", "release9/", 1),
            "xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release9/",
        ),
        ("http URI", EXAMPLE_ZAL.replacen("https://login.rivierenland.example/token", "http://login.rivierenland.example/token", 1), "http://login.rivierenland.example/token"),
    ];
    for (case, text, expected) in cases {
        let error = server.admin.import_zal(text.as_bytes(), zal_options()).await.unwrap_err();
        assert!(format!("{error:#}").contains(expected), "{case}: {error:#}");
    }
    assert!(server.admin.list_providers().await.unwrap().is_empty());
    assert!(server.server.state.store.last_zal_volgnummer().await.unwrap().is_none());
    server.stop().await;
}

#[tokio::test]
async fn provider_removal_guards_accounts() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;
    let provider = sandbox_provider(&server, "Huisarts Noord", &["documents"], "general-practitioner").await;
    account(&server, &user.library_id, provider).await;

    let error = server.admin.remove_provider(provider, false).await.unwrap_err();
    assert!(error.to_string().contains("--with-accounts"), "{error}");
    assert_eq!(server.admin.remove_provider(provider, true).await.unwrap(), 1);
    assert!(server.server.state.store.list_accounts(&user.library_id).await.unwrap().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn provider_set_changes_fields() {
    let server = TestServer::start().await.unwrap();
    let user = user(&server, "writer").await;
    server.admin.import_zal(EXAMPLE_ZAL.as_bytes(), zal_options()).await.unwrap();

    let updated = server.admin.set_provider(3, None, Some("hospital"), Some("pending")).await.unwrap();
    assert_eq!(updated.organization_type.as_deref(), Some("hospital"));
    assert_eq!(updated.published_status, "pending");
    let (_, page) = post_sources(&server, &user, Some(json!({"query": {"filter": {"organizationType": "hospital"}}}))).await;
    assert_eq!(ids(&page), vec![3]);
    assert_eq!(page["data"][0]["publishedStatus"], "pending");

    assert!(server.admin.set_provider(3, None, Some("castle"), None).await.is_err());
    assert!(server.admin.set_provider(99, Some("x"), None, None).await.is_err());
    server.stop().await;
}
