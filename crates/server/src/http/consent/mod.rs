//! The consent pages under `/apps/saas/`, where a person signs in to (or creates) a library and
//! allows or denies an app's access to it.
//!
//! The pages are plain HTML forms that work without JavaScript, in English and Dutch. The flow:
//!
//! 1. The app sends the browser to `GET authorize?code=PRE`. A linked flow or a signed-in
//!    browser gets the consent form at once, any other browser the sign-in and
//!    create-a-library forms.
//! 2. `POST login` or `POST register` signs the browser in (cookie `trove_session`) and
//!    responds with 303 to `GET consent?code=PRE`.
//! 3. `POST consent` with `decision=allow` or `deny` responds with 303 to the app's callback.
//!
//! A link with `sourceType=push` also lets the person choose the healthcare provider that the
//! app pushes to, and may pass through the provider's own authorization first (see [`push`]).
//!
//! Every form carries a CSRF token (see [`cookies`]), every response the headers of
//! [`respond::add_security_headers`], and failed sign-ins are rate limited per username (see
//! [`throttle`]).

mod authorize;
mod callback;
pub mod cookies;
mod decision;
mod flow;
mod i18n;
mod pages;
mod push;
pub mod respond;
mod signin;
pub mod throttle;

use std::sync::Arc;

use axum::middleware::map_response;
use axum::routing::get;
use axum::{Extension, Router};

use crate::state::AppState;

/// Routes of the consent pages. Each call creates its own sign-in throttle, so two servers
/// in one process do not share failure counts.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/apps/saas/authorize", get(authorize::start))
        .route("/apps/saas/login", axum::routing::post(signin::login))
        .route("/apps/saas/register", axum::routing::post(signin::register))
        .route("/apps/saas/consent", get(decision::show).post(decision::decide))
        .route("/apps/saas/provider/callback", get(push::provider_callback))
        .layer(Extension(Arc::new(throttle::LoginThrottle::default())))
        .layer(map_response(respond::add_security_headers))
}
