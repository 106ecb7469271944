//! The HTTP surface: the digi.me API under the configured prefix, the JWKS, and the consent
//! pages under `/apps/saas/`.

pub mod auth;
pub mod consent;
pub mod error;
pub mod import;
pub mod jwks;
pub mod oauth;
pub mod query;
pub mod user;

use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::routing::{delete, get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::http::error::ApiError;
use crate::state::AppState;

/// Largest JSON body accepted by calls other than the push.
const JSON_BODY_LIMIT: usize = 1 << 20;

/// Builds the application router.
pub fn router(state: AppState) -> Router {
    let prefix = state.config.normalized_prefix();
    let api = Router::new()
        .route("/oauth/authorize", post(oauth::authorize))
        .route("/oauth/token", post(oauth::token))
        .route("/jwks/oauth", get(jwks::jwks))
        .route("/permission-access/import", post(import::import).layer(DefaultBodyLimit::disable()))
        .route("/permission-access/trigger", post(query::trigger))
        .route("/permission-access/query/{session}", get(query::file_list))
        .route("/permission-access/query/{session}/{file}", get(query::download))
        .route("/permission-access/accounts", get(user::accounts))
        .route("/user", delete(user::delete_user))
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT));
    let api = if prefix == "/" { api } else { Router::new().nest(prefix.trim_end_matches('/'), api) };

    api.merge(consent::routes())
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|path| path.as_str().to_string())
                    .unwrap_or_default();
                tracing::info_span!(
                    "request",
                    method = %request.method(),
                    route = %route,
                    id = %trove_protocol::random::alphanumeric(12),
                )
            }),
        )
        .with_state(state)
}

async fn api_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "No API route matches this method and path")
}
