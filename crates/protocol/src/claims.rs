//! Claim sets of client-signed request JWTs.
//!
//! Field order matches the Node SDK's output (alphabetical), and absent optional claims are left
//! out rather than sent as `null`, as JSON serialisation of `undefined` does in Node. These
//! types carry secrets (tokens, codes, verifiers), so none of them implements `Debug`.

use serde::{Deserialize, Serialize};

use crate::{random, time};

/// Creates a nonce as the Node SDK does: 32 characters from `[A-Za-z0-9]`.
pub fn new_nonce() -> String {
    random::alphanumeric(32)
}

/// Claims of calls made as the application alone (APP).
#[derive(Serialize, Deserialize, Clone)]
pub struct AppClaims {
    /// `<applicationId>_<contractId>`.
    pub client_id: String,
    /// Single-use random string.
    pub nonce: String,
    /// Signing time in Unix milliseconds.
    pub timestamp: i64,
}

impl AppClaims {
    /// Fresh claims for `client_id` with a new nonce and the current time.
    pub fn new(client_id: &str) -> Self {
        Self { client_id: client_id.into(), nonce: new_nonce(), timestamp: time::now_ms() }
    }
}

/// Claims of calls made on behalf of a user (USER).
#[derive(Serialize, Deserialize, Clone)]
pub struct UserClaims {
    /// The user access token's value.
    pub access_token: String,
    /// `<applicationId>_<contractId>`.
    pub client_id: String,
    /// Single-use random string.
    pub nonce: String,
    /// Signing time in Unix milliseconds.
    pub timestamp: i64,
}

impl UserClaims {
    /// Fresh claims for `client_id` acting with `access_token`.
    pub fn new(client_id: &str, access_token: &str) -> Self {
        Self {
            access_token: access_token.into(),
            client_id: client_id.into(),
            nonce: new_nonce(),
            timestamp: time::now_ms(),
        }
    }
}

/// Claims of `POST oauth/authorize` (AUTHZ).
#[derive(Serialize, Deserialize, Clone)]
pub struct AuthorizeClaims {
    /// An existing user access token of the same application, to link this contract to that
    /// library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// `<applicationId>_<contractId>`.
    pub client_id: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// Always `S256`.
    pub code_challenge_method: String,
    /// Single-use random string.
    pub nonce: String,
    /// The app's callback URL.
    pub redirect_uri: String,
    /// Always `query`.
    pub response_mode: String,
    /// Always `code`.
    pub response_type: String,
    /// Opaque value echoed back on the callback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Signing time in Unix milliseconds.
    pub timestamp: i64,
}

/// Claims of the authorization-code exchange on `POST oauth/token` (EXCHANGE).
#[derive(Serialize, Deserialize, Clone)]
pub struct ExchangeClaims {
    /// `<applicationId>_<contractId>`.
    pub client_id: String,
    /// The authorization code from the callback.
    pub code: String,
    /// The PKCE verifier from the authorize step.
    pub code_verifier: String,
    /// Always `authorization_code`.
    pub grant_type: String,
    /// Single-use random string.
    pub nonce: String,
    /// Signing time in Unix milliseconds.
    pub timestamp: i64,
}

/// Claims of the refresh grant on `POST oauth/token` (REFRESH).
#[derive(Serialize, Deserialize, Clone)]
pub struct RefreshClaims {
    /// `<applicationId>_<contractId>`.
    pub client_id: String,
    /// Always `refresh_token`.
    pub grant_type: String,
    /// Single-use random string.
    pub nonce: String,
    /// The refresh token's value.
    pub refresh_token: String,
    /// Signing time in Unix milliseconds.
    pub timestamp: i64,
}

/// Payload of the `FileDescriptor` header JWT: only `metadata`, with no nonce or timestamp.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct FileDescriptorClaims {
    /// The file descriptor as the app sent it.
    pub metadata: serde_json::Value,
}

/// Every claim a server may find in a request JWT, each optional, for checking the claim set
/// that a given endpoint needs.
#[derive(Deserialize, Default)]
pub struct ReceivedClaims {
    /// `<applicationId>_<contractId>`.
    pub client_id: Option<String>,
    /// Single-use random string; any string is accepted.
    pub nonce: Option<String>,
    /// Milliseconds; iOS may send a non-integer number.
    pub timestamp: Option<serde_json::Number>,
    /// User access token (USER, AUTHZ when linking).
    pub access_token: Option<String>,
    /// PKCE challenge (AUTHZ).
    pub code_challenge: Option<String>,
    /// PKCE method (AUTHZ).
    pub code_challenge_method: Option<String>,
    /// Callback URL (AUTHZ).
    pub redirect_uri: Option<String>,
    /// Opaque state (AUTHZ).
    pub state: Option<String>,
    /// `code` (AUTHZ).
    pub response_type: Option<String>,
    /// Authorization code (EXCHANGE).
    pub code: Option<String>,
    /// PKCE verifier (EXCHANGE).
    pub code_verifier: Option<String>,
    /// `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// Refresh token (REFRESH).
    pub refresh_token: Option<String>,
}
