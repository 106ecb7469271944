//! The consent pages under `/apps/saas/`.

use axum::Router;

use crate::state::AppState;

/// Routes of the consent pages.
pub fn routes() -> Router<AppState> {
    Router::new()
}
