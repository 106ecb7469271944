//! Sending requests with retries, and turning responses into values or errors.

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use trove_protocol::claims::{AppClaims, UserClaims};
use trove_protocol::jws::{self, Header};
use trove_protocol::wire::ErrorBody;

use crate::client::{Client, ContractDetails};
use crate::error::{Error, Result};

pub(crate) const JSON: &str = "application/json";
pub(crate) const OCTET_STREAM: &str = "application/octet-stream";

/// Error bodies longer than this are cut before parsing.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Non-protocol error bodies keep at most this much text in [`Error::Http`].
const MAX_ERROR_TEXT: usize = 1024;

/// Characters left as they are in a path segment: the RFC 3986 unreserved set.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `value` for use as one path segment.
///
/// Session keys and file names from a Trove server use only unreserved characters, so they go
/// out unchanged, as the Node SDK sends them. Any other character is escaped so that it cannot
/// change the path.
pub(crate) fn path_segment(value: &str) -> String {
    utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

/// Signs `claims` as a client request JWT and returns the `Authorization` header value.
pub(crate) fn bearer<T: Serialize>(claims: &T, contract: &ContractDetails) -> Result<HeaderValue> {
    let jwt = jws::sign(&Header::client(), claims, &contract.private_key)?;
    let mut value = HeaderValue::from_str(&format!("Bearer {jwt}")).map_err(|_| {
        Error::InvalidArgument("the signed request JWT is not a valid header value".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

impl Client {
    /// Returns an `Authorization` value with fresh APP claims.
    pub(crate) fn app_bearer(&self, contract: &ContractDetails) -> Result<HeaderValue> {
        bearer(&AppClaims::new(&self.client_id(contract)), contract)
    }

    /// Returns an `Authorization` value with fresh USER claims for `access_token`.
    pub(crate) fn user_bearer(
        &self,
        contract: &ContractDetails,
        access_token: &str,
    ) -> Result<HeaderValue> {
        bearer(
            &UserClaims::new(&self.client_id(contract), access_token),
            contract,
        )
    }

    /// Starts a request to `url` with the client's per-request timeout when `bounded` is set.
    pub(crate) fn request(&self, method: Method, url: &str, bounded: bool) -> RequestBuilder {
        let builder = self.shared.http.request(method, url);
        match self.shared.timeout {
            Some(timeout) if bounded => builder.timeout(timeout),
            _ => builder,
        }
    }

    /// Sends the request made by `build` and retries idempotent methods under the retry policy.
    ///
    /// `build` runs once per attempt so that each attempt is signed with a fresh nonce and
    /// timestamp. The returned response may have any status, so callers pass it to
    /// [`check_status`].
    pub(crate) async fn execute(
        &self,
        method: &Method,
        endpoint: &str,
        mut build: impl FnMut() -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let policy = &self.shared.retry;
        let mut retry = 0u32;
        loop {
            retry += 1;
            match build()?.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let Some(delay) =
                        policy.delay_after_status(method, status, response.headers(), retry)
                    else {
                        return Ok(response);
                    };
                    tracing::warn!(%method, endpoint, %status, retry, delay_ms = delay.as_millis() as u64, "retrying request");
                    tokio::time::sleep(delay).await;
                }
                Err(error) => {
                    let Some(delay) = policy.delay_after_error(method, &error, retry) else {
                        return Err(Error::Transport(error));
                    };
                    tracing::warn!(%method, endpoint, %error, retry, delay_ms = delay.as_millis() as u64, "retrying request");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// Passes a 2xx response through and turns any other into [`Error::Server`] or
/// [`Error::Http`].
pub(crate) async fn check_status(response: Response) -> Result<Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = read_limited(response, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    Err(error_from_body(status, &body))
}

async fn read_limited(mut response: Response, limit: usize) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == limit {
            break;
        }
    }
    Ok(body)
}

/// Maps a failure response to an error, keeping the server's code, message and reference when
/// the body is the protocol's error body.
///
/// Node also reads a looser `{error?: string, message?: string}` shape; Trove never sends it, so
/// such bodies end up in [`Error::Http`] with their text.
pub(crate) fn error_from_body(status: StatusCode, body: &[u8]) -> Error {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        let reference = if parsed.error.reference.is_empty() {
            "Unknown reference".to_string()
        } else {
            parsed.error.reference
        };
        return Error::Server {
            status,
            code: parsed.error.code,
            message: parsed.error.message,
            reference,
        };
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_TEXT)]).into_owned();
    Error::Http { status, body: text }
}

/// Reads a 2xx JSON body that the protocol requires.
pub(crate) async fn read_json<T: DeserializeOwned>(
    response: Response,
    endpoint: &str,
) -> Result<T> {
    let body = response.bytes().await?;
    if body.is_empty() {
        return Err(Error::unexpected(
            endpoint,
            "the body is empty, expected JSON",
        ));
    }
    serde_json::from_slice(&body).map_err(|error| {
        Error::unexpected(
            endpoint,
            format!("the body is not the expected JSON: {error}"),
        )
    })
}

/// Reads a 2xx body that must be JSON or empty, as Node's got parses it.
pub(crate) async fn read_optional_json(
    response: Response,
    endpoint: &str,
) -> Result<Option<serde_json::Value>> {
    let body = response.bytes().await?;
    parse_optional_json(&body, endpoint)
}

pub(crate) fn parse_optional_json(
    body: &Bytes,
    endpoint: &str,
) -> Result<Option<serde_json::Value>> {
    if body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|error| {
        Error::unexpected(
            endpoint,
            format!("the body is neither empty nor JSON: {error}"),
        )
    })
}

/// Request headers shared by JSON calls.
pub(crate) trait RequestExt {
    /// Sends `body` as `application/json`.
    fn json_body<T: Serialize + ?Sized>(self, body: &T) -> Result<RequestBuilder>;
    /// Sends `Content-Type: application/json` with an empty body.
    fn empty_json_body(self) -> RequestBuilder;
    /// Sends no body and no content type, with `Content-Length: 0`.
    fn no_body(self) -> RequestBuilder;
    /// Asks for a JSON response.
    fn accept_json(self) -> RequestBuilder;
}

impl RequestExt for RequestBuilder {
    fn json_body<T: Serialize + ?Sized>(self, body: &T) -> Result<RequestBuilder> {
        let bytes = serde_json::to_vec(body).map_err(|error| {
            Error::InvalidArgument(format!("the request body cannot be serialized: {error}"))
        })?;
        Ok(self.header(CONTENT_TYPE, JSON).body(bytes))
    }

    fn empty_json_body(self) -> RequestBuilder {
        self.header(CONTENT_TYPE, JSON)
            .header(CONTENT_LENGTH, 0)
            .body(Bytes::new())
    }

    fn no_body(self) -> RequestBuilder {
        self.header(CONTENT_LENGTH, 0).body(Bytes::new())
    }

    fn accept_json(self) -> RequestBuilder {
        self.header(ACCEPT, JSON)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_error_body_maps_to_server_error() {
        let body = br#"{"error":{"code":"InvalidToken","message":"The token (access_token) is invalid","reference":"abc"}}"#;
        match error_from_body(StatusCode::UNAUTHORIZED, body) {
            Error::Server {
                status,
                code,
                message,
                reference,
            } => {
                assert_eq!(status, StatusCode::UNAUTHORIZED);
                assert_eq!(code, "InvalidToken");
                assert_eq!(message, "The token (access_token) is invalid");
                assert_eq!(reference, "abc");
            }
            other => panic!("expected a server error, got {other:?}"),
        }
    }

    #[test]
    fn missing_reference_gets_placeholder() {
        let body = br#"{"error":{"code":"X","message":"m"}}"#;
        let error = error_from_body(StatusCode::BAD_REQUEST, body);
        assert!(
            matches!(error, Error::Server { ref reference, .. } if reference == "Unknown reference"),
            "{error:?}"
        );
    }

    #[test]
    fn other_bodies_map_to_http_error() {
        for body in [
            &b""[..],
            b"<html>bad gateway</html>",
            br#"{"error":{"code":"X"}}"#,
            br#"{"message":"m"}"#,
        ] {
            let error = error_from_body(StatusCode::BAD_GATEWAY, body);
            assert!(
                matches!(
                    error,
                    Error::Http {
                        status: StatusCode::BAD_GATEWAY,
                        ..
                    }
                ),
                "{error:?}"
            );
        }
    }

    #[test]
    fn path_segment_escapes_reserved_characters() {
        assert_eq!(path_segment("18_abc-DEF.json~1"), "18_abc-DEF.json~1");
        assert_eq!(path_segment("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
    }

    #[test]
    fn long_error_text_is_cut() {
        let body = vec![b'x'; 10_000];
        match error_from_body(StatusCode::BAD_GATEWAY, &body) {
            Error::Http { body, .. } => assert_eq!(body.len(), MAX_ERROR_TEXT),
            other => panic!("expected an HTTP error, got {other:?}"),
        }
    }
}
