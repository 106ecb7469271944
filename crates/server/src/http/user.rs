//! `DELETE user`. The account list is in [`crate::http::accounts`].

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use crate::http::auth;
use crate::http::error::ApiError;
use crate::state::AppState;

/// Deletes what the calling application has in the person's library: its files, consents,
/// tokens and sessions. The library itself (with the person's sign-in) goes too once no other
/// application has consent or files in it.
///
/// A library is shared by every application the person signs in to on the consent page, so one
/// application's `DELETE user` must not erase what the person keeps with another.
pub async fn delete_user(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let user = auth::authenticate_user(&state, &headers).await?;
    let (blob_keys, library_deleted) =
        state.store.delete_application_data(&user.grant.library_id, &user.grant.app_id).await?;
    for key in &blob_keys {
        if let Err(error) = state.blobs.delete(key).await {
            tracing::warn!(%error, blob = %key, "could not remove a blob of deleted data; the startup sweep will");
        }
    }
    tracing::info!(
        library = %user.grant.library_id,
        app = %user.grant.app_id,
        blobs = blob_keys.len(),
        library_deleted,
        "application data deleted from a library"
    );
    Ok(Json(json!({ "deleted": true })))
}
