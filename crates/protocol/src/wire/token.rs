//! Server token payloads and the responses that carry them.

use serde::{Deserialize, Serialize};

/// Response of `POST oauth/authorize`.
#[derive(Serialize, Deserialize)]
pub struct AuthorizeResponse {
    /// Server JWT whose payload is a [`PreauthorizationPayload`].
    pub token: String,
    /// The read session that becomes usable once consent completes.
    pub session: Session,
}

/// Payload of the authorize token.
#[derive(Serialize, Deserialize)]
pub struct PreauthorizationPayload {
    /// Code that opens the consent page.
    pub preauthorization_code: String,
}

/// A read session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// Session key used in `permission-access/query/<key>`.
    pub key: String,
    /// Expiry in Unix milliseconds.
    pub expiry: i64,
}

/// Response of `POST oauth/token` and of the refresh grant.
#[derive(Serialize, Deserialize)]
pub struct TokenResponse {
    /// Server JWT whose payload is a [`TokenPayload`].
    pub token: String,
}

/// A token value with its expiry.
#[derive(Serialize, Deserialize, Clone)]
pub struct TokenValue {
    /// The opaque token.
    pub value: String,
    /// Expiry in Unix seconds.
    pub expires_on: i64,
}

/// The identity member iOS requires.
#[derive(Serialize, Deserialize, Clone)]
pub struct Identifier {
    /// The library (user) id.
    pub id: String,
}

/// Payload of the token issued by the code exchange and by refresh.
#[derive(Serialize, Deserialize, Clone)]
pub struct TokenPayload {
    /// The user access token.
    pub access_token: TokenValue,
    /// The refresh token.
    pub refresh_token: TokenValue,
    /// The library (user) id.
    pub sub: String,
    /// The consent this pair belongs to.
    pub consentid: String,
    /// The library id again, as iOS reads it.
    pub identifier: Identifier,
    /// Always `Bearer`.
    pub token_type: String,
}

/// The token pair an app keeps: what Node calls a `UserAccessToken`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct TokenPair {
    /// Access token value.
    pub access_token: String,
    /// Access token expiry in Unix seconds.
    pub access_expires_on: i64,
    /// Refresh token value.
    pub refresh_token: String,
    /// Refresh token expiry in Unix seconds.
    pub refresh_expires_on: i64,
    /// Library (user) id.
    pub user_id: String,
    /// Consent id.
    pub consent_id: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenPair")
            .field("access_token", &"<redacted>")
            .field("access_expires_on", &self.access_expires_on)
            .field("refresh_token", &"<redacted>")
            .field("refresh_expires_on", &self.refresh_expires_on)
            .field("user_id", &self.user_id)
            .field("consent_id", &self.consent_id)
            .finish()
    }
}

impl From<TokenPayload> for TokenPair {
    fn from(payload: TokenPayload) -> Self {
        Self {
            access_token: payload.access_token.value,
            access_expires_on: payload.access_token.expires_on,
            refresh_token: payload.refresh_token.value,
            refresh_expires_on: payload.refresh_token.expires_on,
            user_id: payload.sub,
            consent_id: payload.consentid,
        }
    }
}
