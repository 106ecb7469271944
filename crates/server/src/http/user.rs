//! Deleting the whole library. The account list is in [`crate::http::accounts`].

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use crate::http::auth;
use crate::http::error::ApiError;
use crate::state::AppState;

/// Deletes the caller's library with every file, consent and token in it.
pub async fn delete_user(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let user = auth::authenticate_user(&state, &headers).await?;
    let blob_keys = state.store.delete_library(&user.grant.library_id).await?;
    for key in &blob_keys {
        if let Err(error) = state.blobs.delete(key).await {
            tracing::warn!(%error, blob = %key, "could not remove a blob of a deleted library; the startup sweep will");
        }
    }
    tracing::info!(library = %user.grant.library_id, blobs = blob_keys.len(), "library deleted");
    Ok(Json(json!({ "deleted": true })))
}
