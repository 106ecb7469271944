//! Gives every API failure the protocol's error body. That includes the rejections axum
//! produces on its own (405 for a wrong method, 413 from a body limit, 400 for an undecodable
//! path), which otherwise come back empty or as plain text that the SDKs cannot map.

use axum::body::to_bytes;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;

/// Maximum length, in characters, of a plain-text rejection kept as the error message.
const MESSAGE_LIMIT: usize = 512;

/// Replaces a non-JSON error response with the protocol's error body and the same status.
pub async fn ensure_error_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return response;
    }
    let text = to_bytes(response.into_body(), 64 * 1024).await.map(|bytes| String::from_utf8_lossy(&bytes).to_string());
    let text = text.unwrap_or_default();
    let mut message: String = text.trim().chars().take(MESSAGE_LIMIT).collect();
    let code = match status {
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
        status if status.is_server_error() => "InternalServerError",
        StatusCode::UNAUTHORIZED => "InvalidToken",
        _ => "ValidationErrors",
    };
    if message.is_empty() {
        message = match status {
            StatusCode::METHOD_NOT_ALLOWED => "This route does not accept this HTTP method".into(),
            StatusCode::NOT_FOUND => "No API route matches this method and path".into(),
            other => other.canonical_reason().unwrap_or("The request failed").into(),
        };
    }
    if status.is_server_error() {
        return ApiError::internal(message).into_response();
    }
    ApiError::new(status, code, message).into_response()
}

/// Returns the JSON 404 for paths outside the API and the consent pages.
pub async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "No route matches this method and path").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    #[tokio::test]
    async fn plain_rejection_gets_protocol_body() {
        let plain = (StatusCode::PAYLOAD_TOO_LARGE, "Failed to buffer the request body").into_response();
        let shaped = ensure_error_body(plain).await;
        assert_eq!(shaped.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: serde_json::Value = serde_json::from_slice(&to_bytes(shaped.into_body(), 4096).await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "ValidationErrors");
        assert_eq!(body["error"]["message"], "Failed to buffer the request body");
        assert_eq!(body.as_object().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn empty_405_gets_a_message() {
        let empty = Response::builder().status(StatusCode::METHOD_NOT_ALLOWED).body(Body::empty()).unwrap();
        let shaped = ensure_error_body(empty).await;
        let body: serde_json::Value = serde_json::from_slice(&to_bytes(shaped.into_body(), 4096).await.unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "MethodNotAllowed");
    }
}
