//! The error type of the SDK.

use reqwest::StatusCode;
use trove_protocol::ProtocolError;

/// A failed SDK call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with the protocol's error body
    /// `{"error":{"code","message","reference"}}`.
    #[error("server error {status} {code}: {message} (reference {reference})")]
    Server {
        /// HTTP status of the response.
        status: StatusCode,
        /// Stable error code, for example `InvalidToken` or `ValidationErrors`.
        code: String,
        /// Human-readable message from the server.
        message: String,
        /// Id of the failure in the server log, or `Unknown reference` when the body had none.
        reference: String,
    },
    /// The server answered with a non-2xx status and a body that is not the protocol's error
    /// body (empty, not JSON, or another JSON shape).
    #[error("HTTP status {status} without a protocol error body: {body:?}")]
    Http {
        /// HTTP status of the response.
        status: StatusCode,
        /// The start of the response body as text, at most 1 KiB.
        body: String,
    },
    /// The request could not be sent or its response could not be received: connection
    /// refused, TLS failure, timeout, or a body that broke off.
    #[error("HTTP transport failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// A server token could not be verified: missing `jku` or `kid`, a `jku` outside the
    /// configured base URL, an unknown key, a bad PS512 signature, or an expired token.
    #[error("invalid server token signature: {0}")]
    InvalidTokenSignature(String),
    /// A downloaded file could not be decrypted or decompressed.
    #[error("file decryption failed: {0}")]
    Decryption(String),
    /// A 2xx response did not have the shape the protocol promises, for example a missing
    /// `x-metadata` header or a JSON body without `session`.
    #[error("unexpected response from {endpoint}: {reason}")]
    UnexpectedResponse {
        /// The request path relative to the base URL, or the JWKS URL.
        endpoint: String,
        /// What was wrong with the response.
        reason: String,
    },
    /// An argument or builder setting is invalid; the message names it.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Reading a push body from disk or from the caller's stream failed.
    #[error("reading the push body failed: {0}")]
    Io(#[from] std::io::Error),
    /// Signing a request or handling a key failed.
    #[error(transparent)]
    Protocol(ProtocolError),
    /// A `read_all_files` file callback returned an error.
    #[error("file callback failed: {0}")]
    Callback(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Returns the HTTP status when the server answered with a non-2xx status.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Server { status, .. } | Error::Http { status, .. } => Some(*status),
            Error::Transport(error) => error.status(),
            _ => None,
        }
    }

    /// Returns the protocol error code when the server sent an error body.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    pub(crate) fn unexpected(endpoint: &str, reason: impl Into<String>) -> Self {
        Error::UnexpectedResponse {
            endpoint: endpoint.to_string(),
            reason: reason.into(),
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(error: ProtocolError) -> Self {
        match error {
            ProtocolError::Decryption(reason) => Error::Decryption(reason),
            other => Error::Protocol(other),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
