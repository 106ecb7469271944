//! `POST discovery/sources` and the country, platform and category lists (APP calls).
//!
//! Trove's only sources are the healthcare providers of its directory, all of them push
//! sources; see [`crate::service::directory`] for the query rules.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use crate::http::auth;
use crate::http::error::ApiError;
use crate::http::oauth::optional_json;
use crate::service::directory::{query_sources, SourcesPage, SourcesQuery};
use crate::state::AppState;

/// Lists providers matching the SDK's search, filter, sort and paging body. An empty body
/// lists every provider.
pub async fn sources(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<SourcesPage>, ApiError> {
    auth::authenticate(&state, &headers).await?;
    let query: SourcesQuery = optional_json(&body)?;
    let providers = state.store.list_providers().await?;
    let page = query_sources(providers, &query).map_err(|error| ApiError::validation(error.0))?;
    Ok(Json(page))
}

/// Returns `{data: []}`, because Trove records no countries, platforms or categories.
pub async fn empty_list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    auth::authenticate(&state, &headers).await?;
    Ok(Json(json!({ "data": [] })))
}
