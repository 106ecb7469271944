//! The API's error response: `{"error":{"code","message","reference"}}` with the status the
//! protocol gives each code. The reference also goes into the log line, so an operator can
//! find the cause of what a client reports.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use trove_protocol::wire::{ErrorBody, ErrorDetail};

use crate::store::StoreError;

/// An error returned to an API client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Protocol error code.
    pub code: &'static str,
    /// Message safe to show the client.
    pub message: String,
    /// Cause for the log only (never sent); internal errors carry it.
    pub detail: Option<String>,
}

impl ApiError {
    /// Creates an error with a status, code and client message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), detail: None }
    }

    /// 400 `ValidationErrors`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationErrors", message)
    }

    /// 401 `InvalidToken` naming which token (`access_token`, `refresh_token`, `code`).
    pub fn invalid_token(which: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "InvalidToken", format!("The token ({which}) is invalid"))
    }

    /// 401 `InvalidToken` for an expired token.
    pub fn expired_token(which: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "InvalidToken", format!("The token ({which}) is expired"))
    }

    /// 404 with a code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500 `InternalServerError`; the cause is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "InternalServerError",
            message: "The server failed to process the request".into(),
            detail: Some(detail.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        ApiError::internal(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let reference = trove_protocol::random::alphanumeric(32);
        if self.status.is_server_error() {
            tracing::error!(%reference, code = self.code, detail = self.detail.as_deref().unwrap_or(""), "request failed");
        } else {
            tracing::warn!(%reference, code = self.code, status = self.status.as_u16(), message = %self.message, "request rejected");
        }
        let body = ErrorBody { error: ErrorDetail { code: self.code.into(), message: self.message, reference } };
        (self.status, Json(body)).into_response()
    }
}
