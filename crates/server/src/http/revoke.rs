//! The revoke page under `/apps/saas/revoke`, in English and Dutch.
//!
//! `GET revoke?code=..` shows which provider account will be removed, with a confirm and a
//! cancel button. `POST revoke` uses the one-time link. On confirm it removes the account and
//! responds with 303 to the app's `redirectUri` with `result=success`. On cancel the 303 carries
//! `result=failed&error_message=..`. The form repeats a CSRF token from the
//! `trove_revoke_csrf` cookie (double submit), so another site cannot post it.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::extract::{Query, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, LOCATION, REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use trove_protocol::{random, time};

use crate::service::hashing::secret_hash;
use crate::state::AppState;

/// Name of the CSRF cookie of the revoke page.
const CSRF_COOKIE: &str = "trove_revoke_csrf";

/// Routes of the revoke page.
pub fn routes() -> Router<AppState> {
    Router::new().route("/apps/saas/revoke", get(show).post(decide))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lang {
    En,
    Nl,
}

impl Lang {
    /// Picks Dutch for `lng=nl` or, without `lng`, a first `Accept-Language` of Dutch.
    fn choose(lng: Option<&str>, headers: &HeaderMap) -> Self {
        let preferred = match lng {
            Some(tag) => tag.to_string(),
            None => headers
                .get("accept-language")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .unwrap_or("")
                .to_string(),
        };
        if preferred.trim().to_ascii_lowercase().starts_with("nl") {
            Lang::Nl
        } else {
            Lang::En
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Nl => "nl",
        }
    }

    fn title(self, provider: &str) -> String {
        match self {
            Lang::En => format!("Remove the connection to {provider}"),
            Lang::Nl => format!("Koppeling met {provider} verwijderen"),
        }
    }

    fn explanation(self, provider: &str) -> String {
        match self {
            Lang::En => format!(
                "Apps will no longer be able to send data from your library to {provider} through this connection. Data already sent stays with {provider}."
            ),
            Lang::Nl => format!(
                "Apps kunnen dan via deze koppeling geen gegevens uit je bibliotheek meer naar {provider} sturen. Gegevens die al verstuurd zijn, blijven bij {provider}."
            ),
        }
    }

    fn confirm_button(self) -> &'static str {
        match self {
            Lang::En => "Remove connection",
            Lang::Nl => "Koppeling verwijderen",
        }
    }

    fn cancel_button(self) -> &'static str {
        match self {
            Lang::En => "Cancel",
            Lang::Nl => "Annuleren",
        }
    }

    fn invalid_link_title(self) -> &'static str {
        match self {
            Lang::En => "This link is no longer valid",
            Lang::Nl => "Deze link is niet meer geldig",
        }
    }

    fn invalid_link_text(self) -> &'static str {
        match self {
            Lang::En => "The link is unknown, already used or expired. Start again from the app.",
            Lang::Nl => "De link is onbekend, al gebruikt of verlopen. Begin opnieuw vanuit de app.",
        }
    }

    fn form_expired_text(self) -> &'static str {
        match self {
            Lang::En => "The form could not be verified. Open the link from the app again.",
            Lang::Nl => "Het formulier kon niet worden gecontroleerd. Open de link uit de app opnieuw.",
        }
    }

    fn error_title(self) -> &'static str {
        match self {
            Lang::En => "Something went wrong",
            Lang::Nl => "Er ging iets mis",
        }
    }

    fn error_text(self) -> &'static str {
        match self {
            Lang::En => "The server could not complete the request. Try again later.",
            Lang::Nl => "De server kon het verzoek niet afronden. Probeer het later opnieuw.",
        }
    }
}

/// Query of `GET revoke`.
#[derive(Deserialize)]
pub struct ShowQuery {
    code: Option<String>,
    lng: Option<String>,
}

/// Form of `POST revoke`.
#[derive(Deserialize)]
pub struct DecideForm {
    code: Option<String>,
    csrf: Option<String>,
    decision: Option<String>,
    lng: Option<String>,
}

fn layout(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – Trove" }
                style { "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1rem;margin-right:.5rem}" }
            }
            body {
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// Builds an HTML response with the page's security headers. `form_target` is the origin that
/// the form's 303 may lead to, which the CSP `form-action` must list because browsers apply
/// it to redirects after a form submission.
fn html_response(status: StatusCode, markup: Markup, form_target: Option<&str>, cookie: Option<String>) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    let form_action = match form_target {
        Some(target) => format!("'self' {target}"),
        None => "'self'".to_string(),
    };
    let policy = format!(
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'; form-action {form_action}"
    );
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        headers.insert(CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie.and_then(|cookie| HeaderValue::from_str(&cookie).ok()) {
        headers.append(SET_COOKIE, cookie);
    }
    response
}

fn message_page(lang: Lang, status: StatusCode, title: &str, text: &str) -> Response {
    html_response(status, layout(lang, title, html! { p { (text) } }), None, None)
}

fn invalid_link(lang: Lang) -> Response {
    message_page(lang, StatusCode::BAD_REQUEST, lang.invalid_link_title(), lang.invalid_link_text())
}

fn server_error(lang: Lang, cause: impl std::fmt::Display) -> Response {
    let reference = random::alphanumeric(32);
    tracing::error!(%reference, error = %cause, "revoke page failed");
    message_page(lang, StatusCode::INTERNAL_SERVER_ERROR, lang.error_title(), lang.error_text())
}

fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Path of the CSRF cookie: the page's own path below the public URL's path.
fn cookie_path(state: &AppState) -> String {
    let base = url::Url::parse(&state.public_url).map(|url| url.path().trim_end_matches('/').to_string()).unwrap_or_default();
    format!("{base}/apps/saas/revoke")
}

/// Returns the origin (`scheme://host:port`) of an http(s) URL, or `scheme:` for custom
/// schemes such as `myapp://revoke`, for the CSP `form-action` list.
fn csp_source(redirect_uri: &str) -> Option<String> {
    let parsed = url::Url::parse(redirect_uri).ok()?;
    match parsed.scheme() {
        "http" | "https" => Some(parsed.origin().ascii_serialization()),
        scheme => Some(format!("{scheme}:")),
    }
}

/// Shows the confirmation page of a revoke link.
pub async fn show(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<ShowQuery>) -> Response {
    let lang = Lang::choose(query.lng.as_deref(), &headers);
    let Some(code) = query.code.filter(|code| !code.is_empty()) else { return invalid_link(lang) };
    let revocation = match state.store.find_account_revocation(&secret_hash(&code), time::now_ms()).await {
        Ok(Some(revocation)) => revocation,
        Ok(None) => return invalid_link(lang),
        Err(error) => return server_error(lang, error),
    };
    let account = match state.store.find_account(&revocation.library_id, &revocation.account_id).await {
        Ok(Some(account)) => account,
        Ok(None) => return invalid_link(lang),
        Err(error) => return server_error(lang, error),
    };
    let provider_name = match state.store.find_provider(account.provider_id).await {
        Ok(Some(provider)) => provider.name,
        Ok(None) => format!("provider {}", account.provider_id),
        Err(error) => return server_error(lang, error),
    };

    let csrf = random::token::<32>();
    let mut cookie = format!("{CSRF_COOKIE}={csrf}; Path={}; HttpOnly; SameSite=Strict", cookie_path(&state));
    if state.is_https() {
        cookie.push_str("; Secure");
    }
    let title = lang.title(&provider_name);
    let body = html! {
        p { (lang.explanation(&provider_name)) }
        form method="post" action="revoke" {
            input type="hidden" name="code" value=(code);
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="lng" value=(lang.tag());
            button type="submit" name="decision" value="revoke" { (lang.confirm_button()) }
            button type="submit" name="decision" value="cancel" { (lang.cancel_button()) }
        }
    };
    let target = csp_source(&revocation.redirect_uri);
    html_response(StatusCode::OK, layout(lang, &title, body), target.as_deref(), Some(cookie))
}

/// Carries out the person's decision on a revoke link.
pub async fn decide(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<DecideForm>) -> Response {
    let lang = Lang::choose(form.lng.as_deref(), &headers);
    let csrf_valid = match (read_cookie(&headers, CSRF_COOKIE), form.csrf.as_deref()) {
        (Some(cookie), Some(submitted)) => !cookie.is_empty() && verify_slices_are_equal(cookie.as_bytes(), submitted.as_bytes()).is_ok(),
        _ => false,
    };
    if !csrf_valid {
        tracing::warn!("revoke form rejected: the CSRF token does not match its cookie");
        return message_page(lang, StatusCode::FORBIDDEN, lang.error_title(), lang.form_expired_text());
    }
    let Some(code) = form.code.filter(|code| !code.is_empty()) else { return invalid_link(lang) };
    let remove = match form.decision.as_deref() {
        Some("revoke") => true,
        Some("cancel") => false,
        _ => return invalid_link(lang),
    };
    let revocation = match state.store.take_account_revocation(&secret_hash(&code), time::now_ms(), remove).await {
        Ok(Some(revocation)) => revocation,
        Ok(None) => return invalid_link(lang),
        Err(error) => return server_error(lang, error),
    };

    let Ok(mut target) = url::Url::parse(&revocation.redirect_uri) else {
        return server_error(lang, format!("stored redirect URI {:?} does not parse", revocation.redirect_uri));
    };
    if remove {
        tracing::info!(library = %revocation.library_id, account = %revocation.account_id, "push account revoked by the person");
        target.query_pairs_mut().append_pair("result", "success");
    } else {
        target
            .query_pairs_mut()
            .append_pair("result", "failed")
            .append_pair("error_message", "The person cancelled removing the connection");
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(target.as_str()) {
        response.headers_mut().insert(LOCATION, location);
    }
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
