//! `GET {prefix}jwks/oauth`: the keys that verify server tokens.

use axum::extract::State;
use axum::Json;
use trove_protocol::wire::Jwks;

use crate::state::AppState;

/// Returns the published signing keys.
pub async fn jwks(State(state): State<AppState>) -> Json<Jwks> {
    Json(state.keys.jwks())
}
