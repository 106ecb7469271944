//! A browser without JavaScript for Trove's consent pages, used by tests and `trove demo`.
//!
//! It keeps cookies, reads `<form>`, `<input>` and `<button>` elements from each page, submits
//! forms as a browser would (the fields' values, overrides, and the pressed button's
//! `name=value`), and follows redirects itself while they stay on the server's origin. The
//! first redirect that leaves the origin is the app's callback: the browser stops there and
//! returns that URL without fetching it, so custom schemes such as `myapp://auth` work too.
//!
//! ```no_run
//! # async fn run(onboarding_url: &str) -> anyhow::Result<()> {
//! use trove_testkit::consent_browser::{ConsentBrowser, Decision};
//!
//! let browser = ConsentBrowser::new()?;
//! let callback = browser.authorize(onboarding_url, "alice", "correct horse", Decision::Allow, true).await?;
//! assert!(callback.success);
//! # Ok(())
//! # }
//! ```

mod html;

use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, ACCEPT, ACCEPT_LANGUAGE, LOCATION};
use reqwest::{Method, StatusCode};
use url::Url;

pub use html::{decode_entities, tokenize, StartTag, Token};

/// Maximum number of redirects followed within the server.
const MAX_REDIRECTS: usize = 10;

/// A form input that is sent with the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The `name` attribute.
    pub name: String,
    /// The value sent unless overridden.
    pub value: String,
    /// The input `type` (`text`, `password`, `hidden`, ...), or `textarea`.
    pub kind: String,
}

/// A submit control: `<button>` (of type submit) or `<input type="submit">`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    /// The `name` attribute; an unnamed button adds nothing to the submission.
    pub name: Option<String>,
    /// The `value` attribute, empty when absent.
    pub value: String,
    /// The visible label: the button's text, or an input's `value`.
    pub label: String,
}

/// A form found on a page.
#[derive(Debug, Clone)]
pub struct Form {
    /// The `action`, resolved against the page URL (the page itself when absent).
    pub action: Url,
    /// The `method`, uppercase: `GET` or `POST`.
    pub method: Method,
    /// Inputs that are sent: text-like and hidden inputs, checked checkboxes and radios,
    /// textareas. `<select>` is not supported.
    pub fields: Vec<Field>,
    /// Submit controls in document order.
    pub buttons: Vec<Button>,
}

impl Form {
    /// Returns the value of the hidden field `name`.
    pub fn hidden(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|field| field.name == name && field.kind == "hidden").map(|field| field.value.as_str())
    }

    /// Returns the field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// Returns the submit button with this `name` and `value`.
    pub fn button(&self, name: &str, value: &str) -> Option<&Button> {
        self.buttons.iter().find(|button| button.name.as_deref() == Some(name) && button.value == value)
    }

    /// Returns a copy without the field `name`, to probe how a server treats a missing field.
    pub fn without(&self, name: &str) -> Form {
        let mut form = self.clone();
        form.fields.retain(|field| field.name != name);
        form
    }
}

/// A page the browser stopped on.
#[derive(Debug, Clone)]
pub struct Page {
    /// The URL that returned this page.
    pub url: Url,
    /// Its HTTP status.
    pub status: StatusCode,
    /// Its response headers.
    pub headers: HeaderMap,
    /// The body.
    pub html: String,
    /// Forms in document order.
    pub forms: Vec<Form>,
    /// The redirects followed to reach this page: status and absolute target.
    pub redirects: Vec<(StatusCode, Url)>,
}

impl Page {
    /// Returns the form whose action path ends with `path`, such as `/apps/saas/login`.
    pub fn form_posting_to(&self, path: &str) -> Option<&Form> {
        self.forms.iter().find(|form| form.action.path().ends_with(path))
    }

    /// Returns the consent decision form, if the page has one.
    pub fn consent_form(&self) -> Option<&Form> {
        self.form_posting_to("/apps/saas/consent")
    }

    /// Returns the `lang` attribute of the `<html>` element.
    pub fn lang(&self) -> Option<String> {
        tokenize(&self.html).into_iter().find_map(|token| match token {
            Token::Start(tag) if tag.name == "html" => tag.attribute("lang").map(str::to_string),
            _ => None,
        })
    }

    /// Returns the text a reader sees, with whitespace collapsed and `<head>` content left out.
    pub fn text(&self) -> String {
        let mut words = Vec::new();
        let mut in_head = false;
        for token in tokenize(&self.html) {
            match token {
                Token::Start(tag) if tag.name == "head" => in_head = true,
                Token::End(name) if name == "head" => in_head = false,
                Token::Text(text) if !in_head => words.extend(text.split_whitespace().map(str::to_string)),
                _ => {}
            }
        }
        words.join(" ")
    }

    /// Returns the messages of elements with `role="alert"`, which the consent pages use for
    /// form errors.
    pub fn alerts(&self) -> Vec<String> {
        let mut alerts = Vec::new();
        let mut depth = 0usize;
        let mut current = String::new();
        let mut alert_tag = String::new();
        for token in tokenize(&self.html) {
            match token {
                Token::Start(tag) if depth == 0 && tag.attribute("role") == Some("alert") => {
                    depth = 1;
                    alert_tag = tag.name;
                }
                Token::Start(tag) if depth > 0 && tag.name == alert_tag => depth += 1,
                Token::End(name) if depth > 0 && name == alert_tag => {
                    depth -= 1;
                    if depth == 0 {
                        alerts.push(current.split_whitespace().collect::<Vec<_>>().join(" "));
                        current.clear();
                    }
                }
                Token::Text(text) if depth > 0 => current.push_str(&text),
                _ => {}
            }
        }
        alerts
    }

    fn summary(&self) -> String {
        let alerts = self.alerts();
        let detail = if alerts.is_empty() { self.text().chars().take(300).collect() } else { alerts.join(" | ") };
        format!("HTTP {} at {}: {detail}", self.status.as_u16(), self.url)
    }
}

/// End point of a navigation.
#[derive(Debug, Clone)]
pub enum Navigation {
    /// A page of the server (any status that is not a redirect).
    Page(Page),
    /// A redirect to another origin, normally the app's callback, which is not fetched.
    Left(Url),
}

impl Navigation {
    /// Returns the page, or an error naming the URL the browser was sent to.
    pub fn into_page(self) -> anyhow::Result<Page> {
        match self {
            Navigation::Page(page) => Ok(page),
            Navigation::Left(url) => Err(anyhow!("expected a page of the server, but was redirected to {url}")),
        }
    }

    /// Returns the callback the browser was sent to, or an error describing the page instead.
    pub fn into_callback(self) -> anyhow::Result<CallbackResult> {
        match self {
            Navigation::Left(url) => Ok(CallbackResult::from_url(url)),
            Navigation::Page(page) => Err(anyhow!("expected a redirect to the callback, but got {}", page.summary())),
        }
    }
}

/// The consent outcome as the app's callback receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackResult {
    /// `success=true`.
    pub success: bool,
    /// The authorization code, on success.
    pub code: Option<String>,
    /// The app's `state`, echoed.
    pub state: Option<String>,
    /// `errorCode` on failure, such as `USER_CANCEL` or `INVALID_CODE`.
    pub error_code: Option<String>,
    /// `accountReference`, when the flow onboarded an account.
    pub account_reference: Option<String>,
    /// The whole callback URL.
    pub url: Url,
}

impl CallbackResult {
    /// Reads the outcome from the callback URL's query.
    pub fn from_url(url: Url) -> Self {
        let parameter =
            |name: &str| url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned());
        Self {
            success: parameter("success").as_deref() == Some("true"),
            code: parameter("code"),
            state: parameter("state"),
            error_code: parameter("errorCode"),
            account_reference: parameter("accountReference"),
            url,
        }
    }
}

/// The button pressed on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// `decision=allow`.
    Allow,
    /// `decision=deny`.
    Deny,
}

impl Decision {
    /// Returns the button's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// A cookie-keeping HTTP client that walks the consent pages like a browser without
/// JavaScript.
pub struct ConsentBrowser {
    client: reqwest::Client,
    jar: Arc<Jar>,
    accept_language: Option<String>,
}

impl ConsentBrowser {
    /// Creates a browser with an empty cookie jar that sends no `Accept-Language`.
    pub fn new() -> anyhow::Result<Self> {
        let jar = Arc::new(Jar::default());
        let client = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the consent browser's HTTP client")?;
        Ok(Self { client, jar, accept_language: None })
    }

    /// Sends `Accept-Language: value` with every request from now on.
    pub fn with_accept_language(mut self, value: &str) -> Self {
        self.accept_language = Some(value.to_string());
        self
    }

    /// Returns the value of cookie `name` that this browser would send to `url`.
    pub fn cookie(&self, url: &Url, name: &str) -> Option<String> {
        let header = self.jar.cookies(url)?;
        let line = header.to_str().ok()?;
        line.split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_string())
    }

    /// Opens `url` with GET and follows redirects within its origin.
    pub async fn open(&self, url: &str) -> anyhow::Result<Navigation> {
        let url = Url::parse(url).with_context(|| format!("invalid URL {url:?}"))?;
        let origin = url.origin();
        let response = self.send(Method::GET, url.clone(), None).await?;
        self.follow(&origin, url, response).await
    }

    /// Submits `form` with its fields, `overrides` replacing or adding values, and the pressed
    /// `button`'s `name=value` when it has a name. Follows redirects within the page's origin.
    pub async fn submit(
        &self,
        page: &Page,
        form: &Form,
        overrides: &[(&str, &str)],
        button: Option<&Button>,
    ) -> anyhow::Result<Navigation> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut pending: Vec<(&str, &str)> = overrides.to_vec();
        for field in &form.fields {
            match pending.iter().position(|(name, _)| *name == field.name) {
                Some(index) => {
                    let (name, value) = pending.remove(index);
                    pairs.push((name.to_string(), value.to_string()));
                }
                None => pairs.push((field.name.clone(), field.value.clone())),
            }
        }
        pairs.extend(pending.into_iter().map(|(name, value)| (name.to_string(), value.to_string())));
        if let Some(Button { name: Some(name), value, .. }) = button {
            pairs.push((name.clone(), value.clone()));
        }

        let origin = page.url.origin();
        let response = if form.method == Method::GET {
            let mut target = form.action.clone();
            target.query_pairs_mut().clear().extend_pairs(&pairs);
            self.send(Method::GET, target, None).await?
        } else {
            self.send(form.method.clone(), form.action.clone(), Some(pairs)).await?
        };
        self.follow(&origin, form.action.clone(), response).await
    }

    /// Walks a whole consent flow from an onboarding URL: signs in (or creates the library when
    /// `create_library` is true) if the page requests it, presses the decision button, and
    /// returns the callback. A flow that is linked or already signed in skips the sign-in.
    pub async fn authorize(
        &self,
        url: &str,
        username: &str,
        password: &str,
        decision: Decision,
        create_library: bool,
    ) -> anyhow::Result<CallbackResult> {
        let mut page = match self.open(url).await? {
            Navigation::Left(callback) => return Ok(CallbackResult::from_url(callback)),
            Navigation::Page(page) => page,
        };
        if page.consent_form().is_none() {
            let path = if create_library { "/apps/saas/register" } else { "/apps/saas/login" };
            let form =
                page.form_posting_to(path).ok_or_else(|| anyhow!("no form posting to {path} on {}", page.summary()))?;
            page = match self.submit(&page, form, &[("username", username), ("password", password)], None).await? {
                Navigation::Left(callback) => return Ok(CallbackResult::from_url(callback)),
                Navigation::Page(page) => page,
            };
        }
        let form = page.consent_form().ok_or_else(|| anyhow!("no consent form on {}", page.summary()))?;
        let button = form
            .button("decision", decision.as_str())
            .ok_or_else(|| anyhow!("the consent form has no button decision={}", decision.as_str()))?;
        self.submit(&page, form, &[], Some(button)).await?.into_callback()
    }

    async fn send(
        &self,
        method: Method,
        url: Url,
        form: Option<Vec<(String, String)>>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = self.client.request(method.clone(), url.clone()).header(ACCEPT, "text/html");
        if let Some(language) = &self.accept_language {
            request = request.header(ACCEPT_LANGUAGE, language);
        }
        if let Some(pairs) = form {
            request = request.form(&pairs);
        }
        request.send().await.with_context(|| format!("{method} {url} failed"))
    }

    /// Follows redirects that stay on `origin`, re-sending as GET like browsers do for 301,
    /// 302 and 303. A 307 or 308 within the origin is an error, because this browser does not
    /// keep request bodies to replay.
    async fn follow(
        &self,
        origin: &url::Origin,
        mut url: Url,
        mut response: reqwest::Response,
    ) -> anyhow::Result<Navigation> {
        let mut redirects = Vec::new();
        for _ in 0..=MAX_REDIRECTS {
            let status = response.status();
            if !status.is_redirection() || status == StatusCode::NOT_MODIFIED {
                let headers = response.headers().clone();
                let html = response.text().await.with_context(|| format!("reading the body of {url}"))?;
                let forms = parse_forms(&html, &url);
                return Ok(Navigation::Page(Page { url, status, headers, html, forms, redirects }));
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .ok_or_else(|| anyhow!("HTTP {status} from {url} has no readable Location"))?;
            let target = url.join(location).with_context(|| format!("invalid Location {location:?} from {url}"))?;
            redirects.push((status, target.clone()));
            if target.origin() != *origin {
                return Ok(Navigation::Left(target));
            }
            if matches!(status, StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT) {
                bail!("HTTP {status} from {url} to {target}: replaying a request body is not supported");
            }
            response = self.send(Method::GET, target.clone(), None).await?;
            url = target;
        }
        bail!("more than {MAX_REDIRECTS} redirects, the last to {url}")
    }
}

/// Reads every form on a page, resolving actions against `base`.
pub fn parse_forms(html: &str, base: &Url) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut current: Option<Form> = None;
    // The button or textarea whose text is being collected, by index into the current form.
    let mut open_button: Option<usize> = None;
    let mut open_textarea: Option<usize> = None;
    for token in tokenize(html) {
        match token {
            Token::Start(tag) if tag.name == "form" => {
                if let Some(form) = current.take() {
                    forms.push(form);
                }
                let action = tag.attribute("action").filter(|action| !action.is_empty());
                let action = action.and_then(|action| base.join(action).ok()).unwrap_or_else(|| base.clone());
                let method = match tag.attribute("method").map(str::to_ascii_uppercase).as_deref() {
                    Some("POST") => Method::POST,
                    _ => Method::GET,
                };
                current = Some(Form { action, method, fields: Vec::new(), buttons: Vec::new() });
            }
            Token::End(name) if name == "form" => {
                if let Some(form) = current.take() {
                    forms.push(form);
                }
                open_button = None;
                open_textarea = None;
            }
            Token::Start(tag) => {
                let Some(form) = current.as_mut() else { continue };
                match tag.name.as_str() {
                    "input" => add_input(form, &tag),
                    "button" => {
                        let kind = tag.attribute("type").unwrap_or("submit").to_ascii_lowercase();
                        if kind == "submit" {
                            form.buttons.push(Button {
                                name: tag.attribute("name").map(str::to_string),
                                value: tag.attribute("value").unwrap_or("").to_string(),
                                label: String::new(),
                            });
                            open_button = Some(form.buttons.len() - 1);
                        }
                    }
                    "textarea" => {
                        if let Some(name) = tag.attribute("name") {
                            form.fields.push(Field {
                                name: name.to_string(),
                                value: String::new(),
                                kind: "textarea".into(),
                            });
                            open_textarea = Some(form.fields.len() - 1);
                        }
                    }
                    _ => {}
                }
            }
            Token::End(name) if name == "button" => open_button = None,
            Token::End(name) if name == "textarea" => open_textarea = None,
            Token::Text(text) => {
                let Some(form) = current.as_mut() else { continue };
                if let Some(index) = open_button {
                    let label = &mut form.buttons[index].label;
                    label.push_str(&text);
                    *label = label.split_whitespace().collect::<Vec<_>>().join(" ");
                }
                if let Some(index) = open_textarea {
                    form.fields[index].value.push_str(&text);
                }
            }
            Token::End(_) => {}
        }
    }
    if let Some(form) = current {
        forms.push(form);
    }
    forms
}

fn add_input(form: &mut Form, tag: &StartTag) {
    let kind = tag.attribute("type").unwrap_or("text").to_ascii_lowercase();
    let value = tag.attribute("value");
    match kind.as_str() {
        "submit" | "image" => form.buttons.push(Button {
            name: tag.attribute("name").map(str::to_string),
            value: value.unwrap_or("").to_string(),
            label: value.unwrap_or("").to_string(),
        }),
        "button" | "reset" | "file" => {}
        "checkbox" | "radio" => {
            if let (Some(name), true) = (tag.attribute("name"), tag.has_attribute("checked")) {
                form.fields.push(Field { name: name.to_string(), value: value.unwrap_or("on").to_string(), kind });
            }
        }
        _ => {
            if let Some(name) = tag.attribute("name") {
                form.fields.push(Field { name: name.to_string(), value: value.unwrap_or("").to_string(), kind });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html><html lang="nl"><head><title>Titel-X</title></head><body>
        <p role="alert">Fout &amp; <b>ernstig</b></p>
        <form method="post" action="login">
          <input type="hidden" name="csrf" value="a&amp;b">
          <input name=username value='bob'>
          <input type="password" name="password">
          <input type="checkbox" name="remember">
          <button type="submit">Inloggen</button>
        </form>
        <form method=POST action="/apps/saas/consent">
          <input type="hidden" name="code" value="x">
          <button name="decision" value="allow" class="primary">Toe<span>staan</span></button>
          <button type="submit" name="decision" value="deny">Weigeren</button>
          <button type="button" name="ignored">No</button>
        </form></body></html>"#;

    fn page() -> Page {
        let url = Url::parse("http://127.0.0.1:1/apps/saas/authorize?code=x").unwrap();
        Page {
            forms: parse_forms(PAGE, &url),
            url,
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            html: PAGE.to_string(),
            redirects: Vec::new(),
        }
    }

    #[test]
    fn forms_fields_and_buttons() {
        let page = page();
        assert_eq!(page.forms.len(), 2);
        let login = page.form_posting_to("/apps/saas/login").expect("login form");
        assert_eq!(login.method, Method::POST);
        assert_eq!(login.action.as_str(), "http://127.0.0.1:1/apps/saas/login");
        assert_eq!(login.hidden("csrf"), Some("a&b"));
        assert_eq!(login.field("username").map(|field| field.value.as_str()), Some("bob"));
        assert!(login.field("remember").is_none(), "an unchecked checkbox is not sent");
        assert_eq!(login.buttons.len(), 1);
        assert_eq!(login.buttons[0].label, "Inloggen");

        let consent = page.consent_form().expect("consent form");
        let labels: Vec<&str> = consent.buttons.iter().map(|button| button.label.as_str()).collect();
        assert_eq!(labels, ["Toestaan", "Weigeren"]);
        assert!(consent.button("decision", "allow").is_some());
        assert!(consent.button("decision", "deny").is_some());
    }

    #[test]
    fn page_lang_text_and_alerts() {
        let page = page();
        assert_eq!(page.lang().as_deref(), Some("nl"));
        assert_eq!(page.alerts(), ["Fout & ernstig"]);
        assert!(page.text().starts_with("Fout & ernstig Inloggen"));
        assert!(!page.text().contains("Titel-X"), "the head's title is not page text");
    }

    #[test]
    fn form_without_field() {
        let page = page();
        let login = page.form_posting_to("/apps/saas/login").unwrap().without("csrf");
        assert!(login.hidden("csrf").is_none());
        assert!(login.field("username").is_some());
    }

    #[test]
    fn callback_result_from_url() {
        let url = Url::parse("myapp://auth?success=true&code=abc&state=s+1%26").unwrap();
        let result = CallbackResult::from_url(url);
        assert!(result.success);
        assert_eq!(result.code.as_deref(), Some("abc"));
        assert_eq!(result.state.as_deref(), Some("s 1&"));
        assert_eq!(result.error_code, None);
    }
}
