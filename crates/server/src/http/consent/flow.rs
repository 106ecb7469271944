//! Steps the consent handlers share: finding the pending authorization of a link, finding the
//! library the browser acts for, and the early responses (error pages, the INVALID_CODE
//! redirect).
//!
//! Helpers return `Result<_, EarlyResponse>`, where the error is the complete response to
//! send, so the handlers can stop with `?` at any step.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use trove_protocol::{random, time};

use crate::http::consent::callback::{self, Outcome};
use crate::http::consent::cookies::{self, SESSION_COOKIE};
use crate::http::consent::i18n::Lang;
use crate::http::consent::pages;
use crate::http::consent::respond::HtmlPage;
use crate::service::hashing::secret_hash;
use crate::state::AppState;
use crate::store::{Authorization, AuthorizationStatus, Contract, Library, WebSession};

/// A complete response that ends a handler early. The response is boxed to keep every `Result`
/// that carries one small.
pub struct EarlyResponse(Box<Response>);

impl From<Response> for EarlyResponse {
    fn from(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for EarlyResponse {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// Builds a 500 page that shows a reference, and logs the cause under that reference.
pub fn server_error(lang: Lang, cause: impl std::fmt::Display) -> Response {
    let reference = random::alphanumeric(16);
    tracing::error!(%reference, error = %cause, "consent page failed");
    let page = pages::message_page(lang, lang.server_error_title(), &lang.server_error_body(&reference));
    HtmlPage::new(StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
}

/// Builds the 400 "this link is invalid" page.
pub fn invalid_link(lang: Lang) -> Response {
    HtmlPage::new(
        StatusCode::BAD_REQUEST,
        pages::message_page(lang, lang.invalid_link_title(), lang.invalid_link_body()),
    )
    .into_response()
}

/// Builds the 400 page for a form body that could not be parsed.
pub fn bad_form(lang: Lang) -> Response {
    HtmlPage::new(StatusCode::BAD_REQUEST, pages::message_page(lang, lang.bad_form_title(), lang.bad_form_body()))
        .into_response()
}

/// Builds the 403 page for a CSRF field that does not match the cookie, and logs it.
pub fn csrf_rejected(lang: Lang) -> Response {
    tracing::warn!("consent form rejected: the csrf field does not match the trove_csrf cookie");
    HtmlPage::new(StatusCode::FORBIDDEN, pages::message_page(lang, lang.csrf_title(), lang.csrf_body())).into_response()
}

/// Checks the CSRF field of a submitted form against the cookie.
pub fn check_csrf(headers: &HeaderMap, submitted: Option<&str>, lang: Lang) -> Result<(), EarlyResponse> {
    if cookies::csrf_matches(headers, submitted) {
        Ok(())
    } else {
        Err(csrf_rejected(lang).into())
    }
}

/// Redirects the browser to the app's callback with the outcome.
pub fn redirect_to_callback(authorization: &Authorization, outcome: &Outcome<'_>, lang: Lang) -> Response {
    match callback::callback_url(authorization, outcome) {
        Ok(url) => callback::see_other(url.as_str(), &[]),
        Err(error) => server_error(
            lang,
            format!("the callback URL of authorization {} does not parse: {error}", authorization.id),
        ),
    }
}

/// Finds the authorization of a preauthorization code and requires it to be pending and
/// unexpired. An unknown or missing code gets the 400 page. An expired or decided one sends
/// the browser back to the app with `INVALID_CODE`.
pub async fn pending_authorization(
    state: &AppState,
    code: Option<&str>,
    lang: Lang,
) -> Result<Authorization, EarlyResponse> {
    let Some(code) = code.filter(|code| !code.is_empty()) else {
        tracing::warn!("consent page opened without a code");
        return Err(invalid_link(lang).into());
    };
    let found = state.store.find_authorization(&secret_hash(code)).await.map_err(|error| server_error(lang, error))?;
    let Some(authorization) = found else {
        tracing::warn!("consent page opened with an unknown code");
        return Err(invalid_link(lang).into());
    };
    if authorization.status != AuthorizationStatus::Pending || authorization.expires_ms <= time::now_ms() {
        tracing::warn!(
            authorization = %authorization.id,
            status = ?authorization.status,
            "consent page opened for an authorization that expired or was already decided"
        );
        return Err(redirect_to_callback(&authorization, &Outcome::InvalidCode, lang).into());
    }
    Ok(authorization)
}

/// Finds the application's display name and the contract of an authorization. A contract removed
/// since the flow started makes the link invalid.
pub async fn client_of(
    state: &AppState,
    authorization: &Authorization,
    lang: Lang,
) -> Result<(String, Contract), EarlyResponse> {
    let contract = state
        .store
        .find_contract(&authorization.app_id, &authorization.contract_id)
        .await
        .map_err(|error| server_error(lang, error))?
        .ok_or_else(|| invalid_link(lang))?;
    let application =
        state.store.find_application(&authorization.app_id).await.map_err(|error| server_error(lang, error))?;
    let app_name = application.map(|application| application.name).unwrap_or_else(|| authorization.app_id.clone());
    Ok((app_name, contract))
}

/// Source of the library that consent is given for.
pub enum Signer {
    /// The app linked the flow to an existing library with one of its access tokens.
    Linked(Library),
    /// The browser is signed in to this library.
    Session(Library),
}

impl Signer {
    /// The library.
    pub fn library(&self) -> &Library {
        match self {
            Signer::Linked(library) | Signer::Session(library) => library,
        }
    }
}

/// Finds the library this browser acts for in the flow: the linked library when the app linked
/// one (no sign-in needed, because the app proved access to it with a token), otherwise the
/// library of a valid `trove_session` cookie.
pub async fn signer(
    state: &AppState,
    headers: &HeaderMap,
    authorization: &Authorization,
    lang: Lang,
) -> Result<Option<Signer>, EarlyResponse> {
    if let Some(library_id) = &authorization.linked_library {
        let library = state.store.find_library(library_id).await.map_err(|error| server_error(lang, error))?;
        // The library may have been deleted since the app started the flow.
        return Ok(library.map(Signer::Linked));
    }
    let Some(secret) = cookies::session_secret(headers) else { return Ok(None) };
    let session = state
        .store
        .find_web_session(&secret_hash(secret), time::now_ms())
        .await
        .map_err(|error| server_error(lang, error))?;
    let Some(session) = session else { return Ok(None) };
    let library = state.store.find_library(&session.library_id).await.map_err(|error| server_error(lang, error))?;
    Ok(library.map(Signer::Session))
}

/// Stores a new signed-in session for `library_id` and returns the `Set-Cookie` value.
pub async fn start_session(state: &AppState, library_id: &str) -> Result<String, crate::store::StoreError> {
    let secret = random::token::<32>();
    let ttl = state.config.web_session_ttl;
    let session = WebSession {
        id_hash: secret_hash(&secret),
        library_id: library_id.to_string(),
        expires_ms: time::now_ms() + ttl.as_millis() as i64,
    };
    state.store.create_web_session(session).await?;
    Ok(cookies::set_cookie(state, SESSION_COOKIE, &secret, Some(ttl)))
}
