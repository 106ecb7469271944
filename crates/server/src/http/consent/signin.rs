//! The sign-in page and its two forms: `POST login` and `POST register`.

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use trove_protocol::{random, time};

use crate::http::consent::callback::{form_action_source, see_other};
use crate::http::consent::cookies::{self, CsrfToken, CSRF_COOKIE};
use crate::http::consent::flow::{self, bad_form, check_csrf, server_error, EarlyResponse};
use crate::http::consent::i18n::Lang;
use crate::http::consent::pages::{self, FormContext, FormError, FormKind, InvalidField, SignInView};
use crate::http::consent::respond::HtmlPage;
use crate::http::consent::throttle::LoginThrottle;
use crate::service::passwords::{self, MIN_PASSWORD_CHARS};
use crate::state::AppState;
use crate::store::{Authorization, Library, StoreError};

/// Fields of the sign-in and registration forms. It has no `Debug` because it contains the
/// password.
#[derive(Deserialize)]
pub struct CredentialsForm {
    csrf: Option<String>,
    code: Option<String>,
    lng: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// The flow a sign-in page belongs to.
pub struct SignInTarget<'a> {
    /// The pending authorization.
    pub authorization: &'a Authorization,
    /// Its preauthorization code, as the link carried it.
    pub code: &'a str,
    /// The requesting application's display name.
    pub app_name: &'a str,
    /// Page language.
    pub lang: Lang,
}

/// Renders the sign-in page, setting a CSRF cookie when the browser has none.
pub fn sign_in_response(
    state: &AppState,
    headers: &HeaderMap,
    target: &SignInTarget<'_>,
    error: Option<FormError>,
    status: StatusCode,
) -> Response {
    let csrf = CsrfToken::for_request(headers);
    let form = FormContext { lang: target.lang, csrf: &csrf.value, code: target.code };
    let view = SignInView { form, app_name: target.app_name, error };
    let mut page = HtmlPage::new(status, pages::sign_in_page(&view));
    page.callback_source = form_action_source(&target.authorization.redirect_uri);
    if csrf.is_new {
        page.cookies.push(cookies::set_cookie(state, CSRF_COOKIE, &csrf.value, None));
    }
    page.into_response()
}

/// The checked submission that both credential handlers continue with.
struct Submission {
    lang: Lang,
    code: String,
    authorization: Authorization,
    app_name: String,
    username: String,
    password: String,
}

/// Parses the form, checks CSRF and finds the pending authorization.
async fn accept_submission(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<CredentialsForm>, FormRejection>,
) -> Result<Submission, EarlyResponse> {
    let Ok(Form(form)) = form else { return Err(bad_form(Lang::choose(None, headers)).into()) };
    let lang = Lang::choose(form.lng.as_deref(), headers);
    check_csrf(headers, form.csrf.as_deref(), lang)?;
    let authorization = flow::pending_authorization(state, form.code.as_deref(), lang).await?;
    let (app_name, _) = flow::client_of(state, &authorization, lang).await?;
    Ok(Submission {
        lang,
        code: form.code.unwrap_or_default(),
        authorization,
        app_name,
        username: form.username.unwrap_or_default().trim().to_string(),
        password: form.password.unwrap_or_default(),
    })
}

impl Submission {
    /// Shows the sign-in page again with `message` above the submitted form.
    fn reshow(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        form: FormKind,
        field: InvalidField,
        status: StatusCode,
        message: String,
    ) -> Response {
        let error = FormError { form, message, username: self.username.clone(), field };
        let target = SignInTarget {
            authorization: &self.authorization,
            code: &self.code,
            app_name: &self.app_name,
            lang: self.lang,
        };
        sign_in_response(state, headers, &target, Some(error), status)
    }

    /// Signs the browser in to `library` and sends it on to the consent page.
    async fn sign_in_and_continue(&self, state: &AppState, library: &Library) -> Response {
        let cookie = match flow::start_session(state, &library.id).await {
            Ok(cookie) => cookie,
            Err(error) => return server_error(self.lang, error),
        };
        let location = state.onboard_url(&pages::page_href("consent", &self.code, self.lang, &[]));
        see_other(&location, &[cookie])
    }
}

/// `POST /apps/saas/login`: checks the password and signs the browser in.
///
/// Responds with 303 to the consent page on success, 401 with the page and an error for a
/// wrong username or password, and 429 while the username is locked out (see the throttle
/// module).
pub async fn login(
    State(state): State<AppState>,
    Extension(throttle): Extension<Arc<LoginThrottle>>,
    headers: HeaderMap,
    form: Result<Form<CredentialsForm>, FormRejection>,
) -> Result<Response, EarlyResponse> {
    let submission = accept_submission(&state, &headers, form).await?;
    let lang = submission.lang;
    let username = submission.username.as_str();
    if username.is_empty() || submission.password.is_empty() {
        let message = lang.error_fields_missing().to_string();
        let field = if username.is_empty() { InvalidField::Username } else { InvalidField::Password };
        return Ok(submission.reshow(&state, &headers, FormKind::SignIn, field, StatusCode::BAD_REQUEST, message));
    }
    if username.len() > MAX_USERNAME_BYTES || submission.password.len() > passwords::MAX_PASSWORD_BYTES {
        let message = lang.error_wrong_credentials().to_string();
        return Ok(submission.reshow(&state, &headers, FormKind::SignIn, InvalidField::Password, StatusCode::UNAUTHORIZED, message));
    }
    if let Err(wait) = throttle.begin_attempt(username) {
        tracing::warn!(%username, wait_s = wait.as_secs(), "sign-in rejected: too many recent failures for this username");
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let message = lang.error_locked_out(minutes);
        return Ok(submission.reshow(
            &state,
            &headers,
            FormKind::SignIn,
            InvalidField::Password,
            StatusCode::TOO_MANY_REQUESTS,
            message,
        ));
    }

    let library = state.store.find_library_by_username(username).await.map_err(|error| server_error(lang, error))?;
    let stored_hash = library.as_ref().map(|library| library.password_hash.clone());
    let password = submission.password.clone();
    // Argon2 takes tens of milliseconds of CPU, so it runs off the async workers. An unknown
    // username is checked against a decoy hash to take the same time as a known one.
    let Some(_permit) = passwords::hashing_permit().await else {
        tracing::warn!(%username, "sign-in rejected: password checks are saturated");
        let message = lang.error_locked_out(1);
        return Ok(submission.reshow(&state, &headers, FormKind::SignIn, InvalidField::Password, StatusCode::SERVICE_UNAVAILABLE, message));
    };
    let verified = tokio::task::spawn_blocking(move || match stored_hash {
        Some(hash) => passwords::verify_password(&password, &hash),
        None => {
            passwords::verify_password(&password, passwords::decoy_hash());
            false
        }
    })
    .await
    .map_err(|error| server_error(lang, error))?;

    match library {
        Some(library) if verified => {
            throttle.clear(username);
            tracing::info!(%username, library = %library.id, "library signed in on the consent page");
            Ok(submission.sign_in_and_continue(&state, &library).await)
        }
        library => {
            // The attempt was already counted as a failure by begin_attempt.
            let reason = if library.is_some() { "wrong password" } else { "unknown username" };
            tracing::warn!(%username, reason, "sign-in failed on the consent page");
            let message = lang.error_wrong_credentials().to_string();
            Ok(submission.reshow(
                &state,
                &headers,
                FormKind::SignIn,
                InvalidField::Password,
                StatusCode::UNAUTHORIZED,
                message,
            ))
        }
    }
}

/// Longest username, in bytes.
const MAX_USERNAME_BYTES: usize = 64;

/// Checks that `username` is 3 to 64 characters of ASCII letters, digits, `.`, `_`, `-` and `@`.
pub fn is_valid_username(username: &str) -> bool {
    (3..=MAX_USERNAME_BYTES).contains(&username.len())
        && username.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-' | b'@'))
}

/// `POST /apps/saas/register`: creates a library and signs the browser in to it.
///
/// Responds with 303 to the consent page on success, 400 with the page and an error for an
/// invalid username or a short password, and 409 when the username is taken.
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CredentialsForm>, FormRejection>,
) -> Result<Response, EarlyResponse> {
    let submission = accept_submission(&state, &headers, form).await?;
    let lang = submission.lang;
    let username = submission.username.as_str();
    if !is_valid_username(username) {
        let message = lang.error_username_invalid().to_string();
        return Ok(submission.reshow(
            &state,
            &headers,
            FormKind::Register,
            InvalidField::Username,
            StatusCode::BAD_REQUEST,
            message,
        ));
    }
    if submission.password.chars().count() < MIN_PASSWORD_CHARS {
        let message = lang.error_password_short(MIN_PASSWORD_CHARS);
        return Ok(submission.reshow(
            &state,
            &headers,
            FormKind::Register,
            InvalidField::Password,
            StatusCode::BAD_REQUEST,
            message,
        ));
    }
    let existing = state.store.find_library_by_username(username).await.map_err(|error| server_error(lang, error))?;
    if existing.is_some() {
        tracing::info!(%username, "registration rejected: the username is taken");
        let message = lang.error_username_taken().to_string();
        return Ok(submission.reshow(
            &state,
            &headers,
            FormKind::Register,
            InvalidField::Username,
            StatusCode::CONFLICT,
            message,
        ));
    }

    if submission.password.len() > passwords::MAX_PASSWORD_BYTES {
        let message = lang.error_fields_missing().to_string();
        return Ok(submission.reshow(&state, &headers, FormKind::Register, InvalidField::Password, StatusCode::BAD_REQUEST, message));
    }
    let Some(_permit) = passwords::hashing_permit().await else {
        return Ok(server_error(lang, "password hashing is saturated"));
    };
    let password = submission.password.clone();
    let password_hash = tokio::task::spawn_blocking(move || passwords::hash_password(&password))
        .await
        .map_err(|error| server_error(lang, error))?
        .map_err(|error| server_error(lang, format!("hashing a new password failed: {error}")))?;
    let library = Library {
        id: random::alphanumeric(24),
        username: username.to_string(),
        password_hash,
        created_ms: time::now_ms(),
    };
    match state.store.create_library(library.clone()).await {
        Ok(()) => {}
        // Another registration took the name between the check above and this insert.
        Err(StoreError::Conflict(_)) => {
            tracing::info!(%username, "registration rejected: the username is taken");
            let message = lang.error_username_taken().to_string();
            return Ok(submission.reshow(
                &state,
                &headers,
                FormKind::Register,
                InvalidField::Username,
                StatusCode::CONFLICT,
                message,
            ));
        }
        Err(error) => return Err(server_error(lang, error).into()),
    }
    tracing::info!(%username, library = %library.id, "library created on the consent page");
    Ok(submission.sign_in_and_continue(&state, &library).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_rules() {
        for valid in ["abc", "a.b_c-d@e", "Alice99", &"x".repeat(64)] {
            assert!(is_valid_username(valid), "{valid:?} should be valid");
        }
        for invalid in ["", "ab", "has space", "ünïcode", "semi;colon", &"x".repeat(65)] {
            assert!(!is_valid_username(invalid), "{invalid:?} should be invalid");
        }
    }
}
