//! The HTTP surface: the digi.me API under the configured prefix, the JWKS, and the consent
//! pages under `/apps/saas/`.

pub mod accounts;
pub mod auth;
pub mod consent;
pub mod contract;
pub mod discovery;
pub mod error;
pub mod error_shape;
pub mod import;
pub mod jwks;
pub mod oauth;
pub mod provider_push;
pub mod query;
pub mod revoke;
pub mod sandbox;
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
        // `h:accountId` is a literal segment: axum 0.8 reserves only segments that start with
        // `:` or `*`. The handler reads the body itself, after the authorization checks.
        .route(
            "/permission-access/import/h:accountId/{standard}/{version}",
            post(provider_push::push).layer(DefaultBodyLimit::disable()),
        )
        .route("/permission-access/trigger", post(query::trigger))
        .route("/permission-access/query/{session}", get(query::file_list))
        .route("/permission-access/query/{session}/{file}", get(query::download))
        .route("/permission-access/accounts", get(accounts::list))
        .route("/permission-access/contract", get(contract::contract_details))
        // Like the provider push route, these `h:accountId` segments are literal.
        .route("/permission-access/service/h:accountId", delete(accounts::delete))
        .route("/permission-access/revoke/h:accountId", get(accounts::revoke_link))
        .route("/discovery/sources", post(discovery::sources))
        .route("/discovery/countries", post(discovery::empty_list))
        .route("/discovery/platforms", post(discovery::empty_list))
        .route("/discovery/categories", post(discovery::empty_list))
        .route("/user", delete(user::delete_user))
        .fallback(api_not_found)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(axum::middleware::map_response(error_shape::ensure_error_body));
    let api = if prefix == "/" { api } else { Router::new().nest(prefix.trim_end_matches('/'), api) };

    let api = if state.config.sandbox_provider {
        api.merge(sandbox::routes(state.config.max_provider_push_bytes))
    } else {
        api
    };
    api.merge(consent::routes())
        .merge(revoke::routes())
        .fallback(error_shape::not_found)
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(state.config.body_idle_timeout))
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
