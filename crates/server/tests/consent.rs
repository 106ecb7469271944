//! The consent pages end to end: a real server on a loopback port, authorize requests signed
//! like the Node SDK signs them, and the testkit's form-walking browser.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::json;
use trove_protocol::claims::{AuthorizeClaims, ExchangeClaims};
use trove_protocol::jws::{self, Header, Unverified};
use trove_protocol::{claims, pkce, time};
use trove_server::store::ContractKind;
use trove_testkit::consent_browser::{CallbackResult, ConsentBrowser, Decision, Navigation, Page};
use trove_testkit::{RegisteredContract, TestServer};
use url::Url;

const CALLBACK: &str = "http://127.0.0.1:9/cb?from=trove";
const PASSWORD: &str = "correct horse battery";
/// A state with characters that need escaping in a query string.
const STATE: &str = "s 1&x=/?+é";

/// A started authorization: the onboarding URL and the PKCE verifier for the exchange.
struct Flow {
    url: String,
    verifier: String,
}

/// Returns the API base on the loopback listener, which also works when the public URL names
/// another host.
fn local_api(server: &TestServer) -> String {
    format!("http://{}/v1.7/", server.server.addr)
}

fn client_id(contract: &RegisteredContract) -> String {
    format!("{}_{}", contract.app_id, contract.contract_id)
}

/// Calls `POST oauth/authorize` as the Node SDK would and returns the onboarding URL.
async fn begin(
    server: &TestServer,
    contract: &RegisteredContract,
    callback: &str,
    state: Option<&str>,
    link: Option<&str>,
    lng: Option<&str>,
) -> Flow {
    let verifier = pkce::create_verifier();
    let claims = AuthorizeClaims {
        access_token: link.map(str::to_string),
        client_id: client_id(contract),
        code_challenge: pkce::challenge(&verifier),
        code_challenge_method: "S256".into(),
        nonce: claims::new_nonce(),
        redirect_uri: callback.into(),
        response_mode: "query".into(),
        response_type: "code".into(),
        state: state.map(str::to_string),
        timestamp: time::now_ms(),
    };
    let jwt = jws::sign(&Header::client(), &claims, &contract.private_key).unwrap();

    let response = reqwest::Client::new()
        .post(format!("{}oauth/authorize", local_api(server)))
        .bearer_auth(jwt)
        .json(&json!({"agent": {"sdk": {"name": "nodejs", "version": "16.1.5"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "authorize failed: {}", response.text().await.unwrap());
    let body: serde_json::Value = response.json().await.unwrap();
    let payload = Unverified::parse(body["token"].as_str().unwrap()).unwrap().payload;
    let code = payload["preauthorization_code"].as_str().unwrap();

    let mut url = Url::parse(&format!("{}authorize", server.onboard_base())).unwrap();
    url.query_pairs_mut().append_pair("code", code).append_pair("sourceType", "pull");
    if let Some(lng) = lng {
        url.query_pairs_mut().append_pair("lng", lng);
    }
    Flow { url: url.into(), verifier }
}

/// Exchanges an authorization code and returns the token payload.
async fn exchange(server: &TestServer, contract: &RegisteredContract, code: &str, verifier: &str) -> serde_json::Value {
    let claims = ExchangeClaims {
        client_id: client_id(contract),
        code: code.into(),
        code_verifier: verifier.into(),
        grant_type: "authorization_code".into(),
        nonce: claims::new_nonce(),
        timestamp: time::now_ms(),
    };
    let jwt = jws::sign(&Header::client(), &claims, &contract.private_key).unwrap();
    let response =
        reqwest::Client::new().post(format!("{}oauth/token", local_api(server))).bearer_auth(jwt).send().await.unwrap();
    assert_eq!(response.status(), 200, "exchange failed: {}", response.text().await.unwrap());
    let body: serde_json::Value = response.json().await.unwrap();
    Unverified::parse(body["token"].as_str().unwrap()).unwrap().payload
}

async fn server_with_write_contract() -> (TestServer, RegisteredContract) {
    let server = TestServer::start().await.unwrap();
    server.ensure_application("app1", "Tuinlog & Co").await.unwrap();
    let contract =
        server.add_contract("app1", "write", ContractKind::Write, &[CALLBACK, "myapp://auth"]).await.unwrap();
    (server, contract)
}

fn page(navigation: Navigation) -> Page {
    navigation.into_page().expect("a page of the server")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers.get_all("set-cookie").iter().map(|value| value.to_str().unwrap().to_string()).collect()
}

/// Registers `username` through the start page and returns the consent page it lands on.
async fn register(browser: &ConsentBrowser, flow: &Flow, username: &str) -> Page {
    let start = page(browser.open(&flow.url).await.unwrap());
    let form = start.form_posting_to("/apps/saas/register").expect("register form");
    page(browser.submit(&start, form, &[("username", username), ("password", PASSWORD)], None).await.unwrap())
}

/// Presses a decision button on a consent page and returns the callback.
async fn decide(browser: &ConsentBrowser, page: &Page, decision: Decision) -> CallbackResult {
    let form = page.consent_form().expect("consent form");
    let button = form.button("decision", decision.as_str()).expect("decision button");
    browser.submit(page, form, &[], Some(button)).await.unwrap().into_callback().unwrap()
}

#[tokio::test]
async fn start_page_english_by_default() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, CALLBACK, Some(STATE), None, None).await;
    let code = Url::parse(&flow.url).unwrap().query_pairs().find(|(key, _)| key == "code").unwrap().1.into_owned();

    let start = page(ConsentBrowser::new().unwrap().open(&flow.url).await.unwrap());
    assert_eq!(start.status, 200);
    assert_eq!(start.lang().as_deref(), Some("en"));
    assert!(start.text().contains("Tuinlog & Co asks for access"), "{}", start.text());
    for action in ["/apps/saas/login", "/apps/saas/register"] {
        let form = start.form_posting_to(action).unwrap_or_else(|| panic!("no form posting to {action}"));
        assert_eq!(form.method, reqwest::Method::POST);
        assert!(form.field("username").is_some());
        assert_eq!(form.field("password").map(|field| field.kind.as_str()), Some("password"));
        assert_eq!(form.hidden("code"), Some(code.as_str()));
        assert_eq!(form.hidden("lng"), Some("en"));
        assert!(form.hidden("csrf").is_some_and(|csrf| csrf.len() == 43));
    }
    let labels: Vec<&str> =
        start.forms.iter().flat_map(|form| &form.buttons).map(|button| button.label.as_str()).collect();
    assert_eq!(labels, ["Sign in", "Create library"]);
    server.stop().await;
}

#[tokio::test]
async fn start_page_dutch_by_accept_language() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    let browser = ConsentBrowser::new().unwrap().with_accept_language("fr;q=0.9, nl-NL, en;q=0.8");

    let start = page(browser.open(&flow.url).await.unwrap());
    assert_eq!(start.lang().as_deref(), Some("nl"));
    let labels: Vec<&str> =
        start.forms.iter().flat_map(|form| &form.buttons).map(|button| button.label.as_str()).collect();
    assert_eq!(labels, ["Inloggen", "Bibliotheek aanmaken"]);
    assert!(start.text().contains("Gebruikersnaam"));
    assert_eq!(start.form_posting_to("/apps/saas/login").unwrap().hidden("lng"), Some("nl"));
    server.stop().await;
}

#[tokio::test]
async fn lng_parameter_beats_accept_language() {
    let (server, contract) = server_with_write_contract().await;
    let dutch_browser = ConsentBrowser::new().unwrap().with_accept_language("nl");

    let english = begin(&server, &contract, CALLBACK, None, None, Some("en")).await;
    let start = page(dutch_browser.open(&english.url).await.unwrap());
    assert_eq!(start.lang().as_deref(), Some("en"));

    let dutch = begin(&server, &contract, CALLBACK, None, None, Some("nl")).await;
    let start = page(ConsentBrowser::new().unwrap().open(&dutch.url).await.unwrap());
    assert_eq!(start.lang().as_deref(), Some("nl"));

    // The chosen language travels through registration to the consent page.
    let consent = register(&ConsentBrowser::new().unwrap(), &dutch, "dutch.user").await;
    assert_eq!(consent.lang().as_deref(), Some("nl"));
    let form = consent.consent_form().unwrap();
    assert_eq!(form.button("decision", "allow").unwrap().label, "Toestaan");
    assert_eq!(form.button("decision", "deny").unwrap().label, "Weigeren");
    server.stop().await;
}

#[tokio::test]
async fn register_then_allow_returns_code_and_state() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, CALLBACK, Some(STATE), None, None).await;
    let browser = ConsentBrowser::new().unwrap();

    let consent = register(&browser, &flow, "alice@example.org").await;
    assert_eq!(consent.status, 200);
    assert_eq!(consent.redirects.len(), 1);
    assert_eq!(consent.redirects[0].0, 303);
    assert_eq!(consent.redirects[0].1.path(), "/apps/saas/consent");
    let text = consent.text();
    assert!(text.contains("Tuinlog & Co"), "{text}");
    assert!(text.contains("alice@example.org"), "{text}");
    assert!(text.contains("add files to your library"), "{text}");
    let form = consent.consent_form().expect("consent form");
    let values: Vec<&str> = form.buttons.iter().map(|button| button.value.as_str()).collect();
    assert_eq!(values, ["allow", "deny"]);

    let callback = decide(&browser, &consent, Decision::Allow).await;
    assert!(callback.success, "{}", callback.url);
    assert_eq!(callback.state.as_deref(), Some(STATE));
    assert_eq!(callback.error_code, None);
    assert_eq!(callback.account_reference, None);
    assert_eq!(callback.url.query_pairs().next().unwrap(), ("from".into(), "trove".into()));
    assert!(callback.url.as_str().starts_with("http://127.0.0.1:9/cb?from=trove&success=true&code="));

    let payload = exchange(&server, &contract, callback.code.as_deref().unwrap(), &flow.verifier).await;
    assert!(payload["sub"].as_str().is_some_and(|sub| !sub.is_empty()));
    server.stop().await;
}

#[tokio::test]
async fn deny_returns_user_cancel() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, CALLBACK, Some(STATE), None, None).await;
    let browser = ConsentBrowser::new().unwrap();

    let consent = register(&browser, &flow, "bob").await;
    let callback = decide(&browser, &consent, Decision::Deny).await;
    assert!(!callback.success);
    assert_eq!(callback.error_code.as_deref(), Some("USER_CANCEL"));
    assert_eq!(callback.code, None);
    assert_eq!(callback.state.as_deref(), Some(STATE));

    // The authorization is decided: opening the link again ends at INVALID_CODE.
    let again = browser.open(&flow.url).await.unwrap().into_callback().unwrap();
    assert_eq!(again.error_code.as_deref(), Some("INVALID_CODE"));
    server.stop().await;
}

#[tokio::test]
async fn decided_authorization_is_invalid_code() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    let browser = ConsentBrowser::new().unwrap();
    let consent = register(&browser, &flow, "carol").await;
    assert!(decide(&browser, &consent, Decision::Allow).await.success);

    // Pressing Allow a second time on the same page gets no second code.
    let replay = decide(&browser, &consent, Decision::Allow).await;
    assert!(!replay.success);
    assert_eq!(replay.error_code.as_deref(), Some("INVALID_CODE"));
    assert_eq!(replay.code, None);
    assert_eq!(replay.state, None, "no state was sent, so none comes back");
    server.stop().await;
}

#[tokio::test]
async fn expired_code_redirects_invalid_code() {
    let server = TestServer::start_with(|config| config.code_ttl = Duration::from_millis(300)).await.unwrap();
    let contract = server.add_contract("app1", "write", ContractKind::Write, &[CALLBACK]).await.unwrap();
    let flow = begin(&server, &contract, CALLBACK, Some(STATE), None, None).await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let navigation = ConsentBrowser::new().unwrap().open(&flow.url).await.unwrap();
    let Navigation::Left(url) = &navigation else { panic!("expected a redirect to the callback, got {navigation:?}") };
    assert!(url.as_str().starts_with("http://127.0.0.1:9/cb?from=trove&success=false&errorCode=INVALID_CODE"));
    let callback = navigation.into_callback().unwrap();
    assert!(!callback.success);
    assert_eq!(callback.error_code.as_deref(), Some("INVALID_CODE"));
    assert_eq!(callback.state.as_deref(), Some(STATE));
    server.stop().await;
}

#[tokio::test]
async fn code_expiring_on_open_page_is_invalid() {
    let server = TestServer::start_with(|config| config.code_ttl = Duration::from_secs(2)).await.unwrap();
    let contract = server.add_contract("app1", "write", ContractKind::Write, &[CALLBACK]).await.unwrap();
    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    let browser = ConsentBrowser::new().unwrap();
    let consent = register(&browser, &flow, "dave").await;
    assert!(consent.consent_form().is_some());

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let callback = decide(&browser, &consent, Decision::Allow).await;
    assert!(!callback.success);
    assert_eq!(callback.error_code.as_deref(), Some("INVALID_CODE"));
    server.stop().await;
}

#[tokio::test]
async fn unknown_or_missing_code_is_400() {
    let (server, _) = server_with_write_contract().await;
    let browser = ConsentBrowser::new().unwrap();
    for query in ["?code=no-such-code", "", "?code=", "?code=a&code=b"] {
        let url = format!("{}authorize{query}", server.onboard_base());
        let error_page = page(browser.open(&url).await.unwrap());
        assert_eq!(error_page.status, 400, "for {url}");
        assert!(error_page.text().contains("This link is invalid"), "for {url}: {}", error_page.text());
        assert!(error_page.forms.is_empty());
    }
    let dutch = page(browser.open(&format!("{}consent?code=nope&lng=nl", server.onboard_base())).await.unwrap());
    assert_eq!(dutch.status, 400);
    assert!(dutch.text().contains("Deze link is ongeldig"), "{}", dutch.text());
    server.stop().await;
}

#[tokio::test]
async fn csrf_mismatch_is_403() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    let browser = ConsentBrowser::new().unwrap();

    let start = page(browser.open(&flow.url).await.unwrap());
    let register_form = start.form_posting_to("/apps/saas/register").unwrap();
    let forged = [("username", "mallory"), ("password", PASSWORD), ("csrf", "forged-value")];
    let rejected = page(browser.submit(&start, register_form, &forged, None).await.unwrap());
    assert_eq!(rejected.status, 403);
    assert!(rejected.text().contains("could not be verified"), "{}", rejected.text());

    let consent = register(&browser, &flow, "erin").await;
    let form = consent.consent_form().unwrap();
    let allow = form.button("decision", "allow").unwrap();
    let wrong = page(browser.submit(&consent, form, &[("csrf", "x".repeat(43).as_str())], Some(allow)).await.unwrap());
    assert_eq!(wrong.status, 403);
    let missing = page(browser.submit(&consent, &form.without("csrf"), &[], Some(allow)).await.unwrap());
    assert_eq!(missing.status, 403);

    // A fresh browser has no CSRF cookie, so even the right field value is refused.
    let cookieless = page(ConsentBrowser::new().unwrap().submit(&consent, form, &[], Some(allow)).await.unwrap());
    assert_eq!(cookieless.status, 403);

    // The refused attempts left the authorization pending.
    assert!(decide(&browser, &consent, Decision::Allow).await.success);
    server.stop().await;
}

#[tokio::test]
async fn wrong_password_is_401_without_session() {
    let (server, contract) = server_with_write_contract().await;
    let first = begin(&server, &contract, CALLBACK, None, None, None).await;
    register(&ConsentBrowser::new().unwrap(), &first, "frank").await;

    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    let browser = ConsentBrowser::new().unwrap();
    let start = page(browser.open(&flow.url).await.unwrap());
    let login = start.form_posting_to("/apps/saas/login").unwrap();
    let failed = page(
        browser.submit(&start, login, &[("username", "frank"), ("password", "not the password")], None).await.unwrap(),
    );
    assert_eq!(failed.status, 401);
    assert_eq!(failed.alerts(), ["The username or password is incorrect. Check both and try again."]);
    assert!(failed.consent_form().is_none());
    let login = failed.form_posting_to("/apps/saas/login").unwrap();
    assert_eq!(login.field("username").unwrap().value, "frank", "the username stays filled in");
    assert_eq!(login.field("password").unwrap().value, "", "the password is never echoed");
    assert!(set_cookies(&failed.headers).iter().all(|cookie| !cookie.starts_with("trove_session=")));
    assert_eq!(browser.cookie(&failed.url, "trove_session"), None);

    // An unknown username gets the same response.
    let unknown =
        page(browser.submit(&failed, login, &[("username", "nobody"), ("password", PASSWORD)], None).await.unwrap());
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.alerts(), failed.alerts());

    // The right password from the re-rendered page signs in.
    let login = unknown.form_posting_to("/apps/saas/login").unwrap();
    let consent =
        page(browser.submit(&unknown, login, &[("username", "frank"), ("password", PASSWORD)], None).await.unwrap());
    assert!(consent.consent_form().is_some(), "{}", consent.text());
    assert!(browser.cookie(&consent.url, "trove_session").is_some());
    server.stop().await;
}

#[tokio::test]
async fn repeated_failures_lock_out_username() {
    let (server, contract) = server_with_write_contract().await;
    let first = begin(&server, &contract, CALLBACK, None, None, None).await;
    register(&ConsentBrowser::new().unwrap(), &first, "grace").await;

    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    let browser = ConsentBrowser::new().unwrap();
    let mut current = page(browser.open(&flow.url).await.unwrap());
    for attempt in 0..5 {
        let login = current.form_posting_to("/apps/saas/login").unwrap().clone();
        current = page(
            browser
                .submit(&current, &login, &[("username", "grace"), ("password", "wrong password")], None)
                .await
                .unwrap(),
        );
        assert_eq!(current.status, 401, "attempt {attempt}");
    }
    let login = current.form_posting_to("/apps/saas/login").unwrap().clone();
    let locked =
        page(browser.submit(&current, &login, &[("username", "grace"), ("password", PASSWORD)], None).await.unwrap());
    assert_eq!(locked.status, 429);
    assert!(locked.alerts()[0].contains("Too many failed sign-in attempts"), "{:?}", locked.alerts());
    assert_eq!(browser.cookie(&locked.url, "trove_session"), None);
    server.stop().await;
}

#[tokio::test]
async fn register_rejects_invalid_and_taken() {
    let (server, contract) = server_with_write_contract().await;
    let first = begin(&server, &contract, CALLBACK, None, None, None).await;
    register(&ConsentBrowser::new().unwrap(), &first, "heidi").await;

    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    let browser = ConsentBrowser::new().unwrap();
    let start = page(browser.open(&flow.url).await.unwrap());
    let form = start.form_posting_to("/apps/saas/register").unwrap();
    let cases = [
        ("heidi", PASSWORD, 409, "already taken"),
        ("hi", PASSWORD, 400, "3 to 64 characters"),
        ("has space", PASSWORD, 400, "3 to 64 characters"),
        ("ivan", "short", 400, "at least 8 characters"),
    ];
    for (username, password, status, message) in cases {
        let result =
            page(browser.submit(&start, form, &[("username", username), ("password", password)], None).await.unwrap());
        assert_eq!(result.status, status, "for {username:?}");
        assert!(result.alerts().iter().any(|alert| alert.contains(message)), "for {username:?}: {:?}", result.alerts());
        assert_eq!(result.form_posting_to("/apps/saas/register").unwrap().field("username").unwrap().value, username);
        assert_eq!(browser.cookie(&result.url, "trove_session"), None);
    }
    server.stop().await;
}

#[tokio::test]
async fn cookies_are_http_only_and_lax() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    let browser = ConsentBrowser::new().unwrap();

    let start = page(browser.open(&flow.url).await.unwrap());
    let csrf_cookies = set_cookies(&start.headers);
    assert_eq!(csrf_cookies.len(), 1, "{csrf_cookies:?}");
    assert!(csrf_cookies[0].starts_with("trove_csrf="));
    for attribute in ["; HttpOnly", "; SameSite=Lax", "; Path=/apps/saas"] {
        assert!(csrf_cookies[0].contains(attribute), "{} lacks {attribute}", csrf_cookies[0]);
    }
    assert!(!csrf_cookies[0].contains("Secure"), "a plain-HTTP server must not set Secure");

    // The session cookie is set on the 303 response to registration, which the browser
    // followed. Send the form by hand to see it.
    let form = start.form_posting_to("/apps/saas/register").unwrap();
    let csrf = browser.cookie(&start.url, "trove_csrf").unwrap();
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(form.action.clone())
        .header("cookie", format!("trove_csrf={csrf}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", form.hidden("code").unwrap()),
            ("lng", "en"),
            ("username", "judy"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let session: Vec<String> =
        set_cookies(response.headers()).into_iter().filter(|cookie| cookie.starts_with("trove_session=")).collect();
    assert_eq!(session.len(), 1);
    for attribute in ["; HttpOnly", "; SameSite=Lax", "; Path=/apps/saas", "; Max-Age=3600"] {
        assert!(session[0].contains(attribute), "{} lacks {attribute}", session[0]);
    }
    server.stop().await;
}

#[tokio::test]
async fn https_public_url_sets_secure_cookies() {
    let server =
        TestServer::start_with(|config| config.public_url = Some("https://trove.example".into())).await.unwrap();
    let contract = server.add_contract("app1", "write", ContractKind::Write, &[CALLBACK]).await.unwrap();
    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    // The onboarding URL names the public host, so ask the loopback listener for the same path.
    let public = Url::parse(&flow.url).unwrap();
    let local = format!("http://{}{}?{}", server.server.addr, public.path(), public.query().unwrap());
    let response = reqwest::get(&local).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(response.headers());
    assert_eq!(cookies.len(), 1);
    assert!(cookies[0].ends_with("; Secure"), "{}", cookies[0]);
    server.stop().await;
}

#[tokio::test]
async fn security_headers_on_pages_and_redirects() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, CALLBACK, None, None, None).await;
    let browser = ConsentBrowser::new().unwrap();

    let start = page(browser.open(&flow.url).await.unwrap());
    let policy = header(&start.headers, "content-security-policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("form-action 'self' http://127.0.0.1:9"), "{policy}");
    assert_eq!(header(&start.headers, "x-frame-options"), "DENY");
    assert_eq!(header(&start.headers, "referrer-policy"), "no-referrer");
    assert_eq!(header(&start.headers, "cache-control"), "no-store");
    assert_eq!(header(&start.headers, "content-type"), "text/html; charset=utf-8");

    let custom = begin(&server, &contract, "myapp://auth", None, None, None).await;
    let start = page(browser.open(&custom.url).await.unwrap());
    assert!(header(&start.headers, "content-security-policy").ends_with("form-action 'self' myapp:"));

    // Redirects to the callback carry codes in the URL, so they get the same headers. A decided
    // flow's link redirects to the callback with INVALID_CODE.
    let decided = begin(&server, &contract, CALLBACK, None, None, None).await;
    ConsentBrowser::new().unwrap().authorize(&decided.url, "olivia", PASSWORD, Decision::Deny, true).await.unwrap();
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&decided.url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(header(response.headers(), "location").contains("errorCode=INVALID_CODE"));
    assert_eq!(header(response.headers(), "referrer-policy"), "no-referrer");
    assert_eq!(header(response.headers(), "cache-control"), "no-store");
    server.stop().await;
}

#[tokio::test]
async fn custom_scheme_callback_completes() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, "myapp://auth", Some("ios-state"), None, None).await;
    let callback =
        ConsentBrowser::new().unwrap().authorize(&flow.url, "kim", PASSWORD, Decision::Allow, true).await.unwrap();
    assert!(callback.success);
    assert!(callback.url.as_str().starts_with("myapp://auth?success=true&code="), "{}", callback.url);
    assert_eq!(callback.state.as_deref(), Some("ios-state"));
    exchange(&server, &contract, callback.code.as_deref().unwrap(), &flow.verifier).await;
    server.stop().await;
}

#[tokio::test]
async fn linked_flow_skips_sign_in() {
    let (server, write) = server_with_write_contract().await;
    let read_raw = server.add_contract("app1", "readraw", ContractKind::ReadRaw, &[CALLBACK]).await.unwrap();
    let first = begin(&server, &write, CALLBACK, None, None, None).await;
    let callback =
        ConsentBrowser::new().unwrap().authorize(&first.url, "liam", PASSWORD, Decision::Allow, true).await.unwrap();
    let write_token = exchange(&server, &write, callback.code.as_deref().unwrap(), &first.verifier).await;
    let access_token = write_token["access_token"]["value"].as_str().unwrap();

    let linked = begin(&server, &read_raw, CALLBACK, Some("linked"), Some(access_token), None).await;
    let browser = ConsentBrowser::new().unwrap();
    let consent = page(browser.open(&linked.url).await.unwrap());
    assert_eq!(consent.status, 200);
    assert!(consent.redirects.is_empty());
    assert!(consent.form_posting_to("/apps/saas/login").is_none(), "a linked flow needs no sign-in");
    assert!(consent.consent_form().is_some());
    let text = consent.text();
    assert!(text.contains("liam"), "{text}");
    assert!(text.contains("read back the files this application added to your library"), "{text}");
    assert!(!text.contains("Not liam?"), "a linked flow offers no other library");

    let callback = decide(&browser, &consent, Decision::Allow).await;
    assert!(callback.success);
    assert_eq!(callback.state.as_deref(), Some("linked"));
    let read_token = exchange(&server, &read_raw, callback.code.as_deref().unwrap(), &linked.verifier).await;
    assert_eq!(read_token["sub"], write_token["sub"]);
    server.stop().await;
}

#[tokio::test]
async fn signed_in_browser_skips_sign_in() {
    let (server, contract) = server_with_write_contract().await;
    let browser = ConsentBrowser::new().unwrap();
    let first = begin(&server, &contract, CALLBACK, None, None, None).await;
    let callback = browser.authorize(&first.url, "mia", PASSWORD, Decision::Allow, true).await.unwrap();
    let first_token = exchange(&server, &contract, callback.code.as_deref().unwrap(), &first.verifier).await;

    let second = begin(&server, &contract, CALLBACK, None, None, None).await;
    let consent = page(browser.open(&second.url).await.unwrap());
    assert!(consent.consent_form().is_some(), "{}", consent.text());
    assert!(consent.text().contains("Not mia? Sign in with another library"));

    // prompt=login shows the sign-in forms despite the session.
    let switch = page(browser.open(&format!("{}&prompt=login", second.url)).await.unwrap());
    assert!(switch.form_posting_to("/apps/saas/login").is_some());
    assert!(switch.consent_form().is_none());

    let callback = decide(&browser, &consent, Decision::Allow).await;
    let second_token = exchange(&server, &contract, callback.code.as_deref().unwrap(), &second.verifier).await;
    assert_eq!(second_token["sub"], first_token["sub"]);
    server.stop().await;
}

#[tokio::test]
async fn consent_page_requires_sign_in() {
    let (server, contract) = server_with_write_contract().await;
    let flow = begin(&server, &contract, CALLBACK, None, None, Some("nl")).await;
    let code = Url::parse(&flow.url).unwrap().query_pairs().find(|(key, _)| key == "code").unwrap().1.into_owned();
    let browser = ConsentBrowser::new().unwrap();

    let consent_url = format!("{}consent?code={code}&lng=nl", server.onboard_base());
    let start = page(browser.open(&consent_url).await.unwrap());
    assert_eq!(start.redirects.len(), 1);
    assert_eq!(start.redirects[0].1.path(), "/apps/saas/authorize");
    assert!(start.form_posting_to("/apps/saas/login").is_some());
    assert_eq!(start.lang().as_deref(), Some("nl"));

    // Allow without a session sends the browser to sign in rather than granting anything.
    let registered = register(&ConsentBrowser::new().unwrap(), &flow, "noah").await;
    let form = registered.consent_form().unwrap();
    let csrf = browser.cookie(&start.url, "trove_csrf").unwrap();
    let allow = form.button("decision", "allow").unwrap();
    let bounced = page(browser.submit(&registered, form, &[("csrf", &csrf)], Some(allow)).await.unwrap());
    assert!(bounced.form_posting_to("/apps/saas/login").is_some(), "{}", bounced.text());
    server.stop().await;
}
