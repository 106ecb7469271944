//! Trove as an OAuth 2.0 client of a healthcare provider, with the RFC 6749 authorization
//! code grant and RFC 7636 PKCE. This module builds the redirect to the provider's
//! authorization endpoint, exchanges the code at its token endpoint, and creates the PUSH
//! account that stores the resulting tokens.
//!
//! A flow in progress is a [`ProviderAuthorization`] row found by the SHA-256 of the `state`
//! sent to the provider; the PKCE verifier is sealed in it. Provider tokens are sealed with
//! [`seal_account_tokens`] before they reach the store.

use std::time::Duration;

use reqwest::header::ACCEPT;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use trove_protocol::{pkce, random, time};

use crate::service::envelope::{EnvelopeError, MasterKeys};
use crate::service::hashing::secret_hash;
use crate::service::providers::{open_provider_secret, seal_account_tokens, PlainAccountTokens, ProviderSecret};
use crate::store::{
    Authorization, Provider, ProviderAccount, ProviderAuth, ProviderAuthorization, SealedSecret, Store, StoreError,
};

/// Path of the provider redirect URI below the consent pages' base (`/apps/saas/`).
pub const CALLBACK_PATH: &str = "provider/callback";

/// How long a person has to authorize at the provider.
pub const FLOW_TTL_MS: i64 = 10 * 60 * 1000;

/// Timeout of the whole token request.
const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest token response read, in bytes.
const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// A failure of the provider authorization.
#[derive(Debug, thiserror::Error)]
pub enum ProviderOAuthError {
    /// The provider is not an OAuth provider, or its configuration is unusable.
    #[error("provider {0} cannot be authorized with OAuth: {1}")]
    Config(i64, String),
    /// The token endpoint could not be reached or did not respond in time.
    #[error("the token endpoint of provider {provider} could not be reached: {message}")]
    Unreachable {
        /// Provider id.
        provider: i64,
        /// Transport error.
        message: String,
    },
    /// The token endpoint rejected the request (RFC 6749 section 5.2).
    #[error("the token endpoint of provider {provider} answered HTTP {status} with error {error:?}")]
    Rejected {
        /// Provider id.
        provider: i64,
        /// HTTP status.
        status: u16,
        /// The `error` member, or a description of the unexpected body.
        error: String,
    },
    /// The token endpoint returned 2xx with a body that is not a usable token response.
    #[error("the token endpoint of provider {provider} returned an invalid token response: {message}")]
    InvalidResponse {
        /// Provider id.
        provider: i64,
        /// The problem with the response.
        message: String,
    },
    /// A sealed secret did not open.
    #[error("a sealed provider secret could not be opened: {0}")]
    Sealed(#[from] EnvelopeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn verifier_context(state_hash: &str) -> String {
    format!("provider-authorization/{state_hash}/verifier")
}

/// Starts the authorization at an OAuth provider for a consent flow: stores the flow with a
/// sealed PKCE verifier and returns the provider's authorization URL to send the browser to.
pub async fn begin(
    store: &dyn Store,
    master: &MasterKeys,
    authorization: &Authorization,
    library_id: &str,
    provider: &Provider,
    redirect_uri: &str,
    lang: &str,
) -> Result<url::Url, ProviderOAuthError> {
    let ProviderAuth::OAuth { client_id, authorize_endpoint, scope, .. } = &provider.auth else {
        return Err(ProviderOAuthError::Config(provider.id, "it does not use OAuth".into()));
    };
    let mut location = url::Url::parse(authorize_endpoint)
        .map_err(|error| ProviderOAuthError::Config(provider.id, format!("invalid authorization endpoint: {error}")))?;

    let verifier = pkce::create_verifier();
    let state = random::token::<32>();
    let state_hash = secret_hash(&state);
    let (key_id, sealed) = master.seal(verifier.as_bytes(), &verifier_context(&state_hash));
    let pending = ProviderAuthorization {
        state_hash,
        authorization_id: authorization.id.clone(),
        code_hash: authorization.code_hash.clone(),
        lang: lang.to_string(),
        library_id: library_id.to_string(),
        provider_id: provider.id,
        verifier: SealedSecret { key_id, sealed },
        expires_ms: time::now_ms() + FLOW_TTL_MS,
    };
    store.create_provider_authorization(pending).await?;

    {
        let mut query = location.query_pairs_mut();
        query.append_pair("response_type", "code");
        query.append_pair("client_id", client_id);
        query.append_pair("redirect_uri", redirect_uri);
        if let Some(scope) = scope {
            query.append_pair("scope", scope);
        }
        query.append_pair("state", &state);
        query.append_pair("code_challenge", &pkce::challenge(&verifier));
        query.append_pair("code_challenge_method", "S256");
    }
    Ok(location)
}

/// Opens the sealed PKCE verifier of a flow.
pub fn open_verifier(master: &MasterKeys, pending: &ProviderAuthorization) -> Result<SecretString, EnvelopeError> {
    let plain = master.open(&pending.verifier.key_id, &pending.verifier.sealed, &verifier_context(&pending.state_hash))?;
    let text = String::from_utf8(plain.to_vec()).map_err(|_| EnvelopeError::Tampered)?;
    Ok(SecretString::from(text))
}

/// Exchanges an authorization code at the provider's token endpoint (RFC 6749 section 4.1.3).
/// The client authenticates with HTTP Basic when it has a secret, and with `client_id` in the
/// form otherwise. Redirects are not followed, so credentials never leave for another URL.
pub async fn exchange_code(
    master: &MasterKeys,
    provider: &Provider,
    code: &str,
    verifier: &SecretString,
    redirect_uri: &str,
) -> Result<PlainAccountTokens, ProviderOAuthError> {
    let ProviderAuth::OAuth { client_id, client_secret, token_endpoint, .. } = &provider.auth else {
        return Err(ProviderOAuthError::Config(provider.id, "it does not use OAuth".into()));
    };
    let http = reqwest::Client::builder()
        .timeout(TOKEN_REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| ProviderOAuthError::Config(provider.id, format!("building the HTTP client failed: {error}")))?;
    let mut form = vec![
        ("grant_type", "authorization_code".to_string()),
        ("code", code.to_string()),
        ("redirect_uri", redirect_uri.to_string()),
        ("code_verifier", verifier.expose_secret().to_string()),
    ];
    let mut request = http.post(token_endpoint).header(ACCEPT, "application/json");
    match client_secret {
        Some(sealed) => {
            let secret = open_provider_secret(master, provider.id, ProviderSecret::ClientSecret, sealed)?;
            request = request.basic_auth(client_id, Some(secret.expose_secret()));
        }
        None => form.push(("client_id", client_id.clone())),
    }

    let unreachable = |error: reqwest::Error| ProviderOAuthError::Unreachable { provider: provider.id, message: error.to_string() };
    let response = request.form(&form).send().await.map_err(unreachable)?;
    let status = response.status();
    if response.content_length().is_some_and(|length| length > MAX_TOKEN_RESPONSE_BYTES as u64) {
        return Err(ProviderOAuthError::InvalidResponse { provider: provider.id, message: "the response is too large".into() });
    }
    let bytes = response.bytes().await.map_err(unreachable)?;
    if bytes.len() > MAX_TOKEN_RESPONSE_BYTES {
        return Err(ProviderOAuthError::InvalidResponse { provider: provider.id, message: "the response is too large".into() });
    }
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    if !status.is_success() {
        let error = body
            .as_ref()
            .and_then(|body| body.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("no RFC 6749 error body")
            .to_string();
        return Err(ProviderOAuthError::Rejected { provider: provider.id, status: status.as_u16(), error });
    }
    parse_token_response(provider.id, body, time::now_ms())
}

/// Reads a successful token response: `access_token` and a `token_type` of `Bearer` are
/// required; `refresh_token` and `expires_in` (seconds) are optional.
fn parse_token_response(provider: i64, body: Option<Value>, now_ms: i64) -> Result<PlainAccountTokens, ProviderOAuthError> {
    let invalid = |message: &str| ProviderOAuthError::InvalidResponse { provider, message: message.to_string() };
    let body = body.ok_or_else(|| invalid("the body is not JSON"))?;
    let access_token = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| invalid("access_token is missing"))?;
    let token_type = body.get("token_type").and_then(Value::as_str).unwrap_or("");
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(invalid(&format!("token_type {token_type:?} is not Bearer")));
    }
    let refresh_token = body.get("refresh_token").and_then(Value::as_str).filter(|token| !token.is_empty());
    let expires_ms = body.get("expires_in").and_then(Value::as_i64).filter(|seconds| *seconds > 0).map(|seconds| now_ms + seconds * 1000);
    Ok(PlainAccountTokens {
        access_token: Some(SecretString::from(access_token.to_string())),
        refresh_token: refresh_token.map(|token| SecretString::from(token.to_string())),
        expires_ms,
    })
}

/// Creates the PUSH account of a library at a provider, with its tokens sealed. `tokens` is
/// `None` for static and sandbox providers, which need none per account.
pub async fn create_account(
    store: &dyn Store,
    master: &MasterKeys,
    library_id: &str,
    provider_id: i64,
    authorization_id: Option<&str>,
    tokens: Option<&PlainAccountTokens>,
) -> Result<ProviderAccount, StoreError> {
    let now = time::now_ms();
    let id = random::alphanumeric(24);
    let sealed = tokens.map(|tokens| seal_account_tokens(master, &id, tokens)).unwrap_or_default();
    let account = ProviderAccount {
        reference: random::alphanumeric(24),
        id,
        library_id: library_id.to_string(),
        provider_id,
        authorization_id: authorization_id.map(str::to_string),
        created_ms: now,
        updated_ms: now,
        tokens: sealed,
    };
    store.create_account(account.clone()).await?;
    tracing::info!(library = %library_id, account = %account.id, provider = provider_id, "push account created");
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_requires_bearer() {
        let body = serde_json::json!({"access_token": "a", "token_type": "mac"});
        assert!(parse_token_response(1, Some(body), 0).is_err());
        let body = serde_json::json!({"token_type": "Bearer"});
        assert!(parse_token_response(1, Some(body), 0).is_err());
        assert!(parse_token_response(1, None, 0).is_err());
    }

    #[test]
    fn token_response_reads_optional_members() {
        let body = serde_json::json!({"access_token": "a", "token_type": "bearer", "expires_in": 60, "refresh_token": "r"});
        let tokens = parse_token_response(1, Some(body), 1_000).unwrap();
        assert_eq!(tokens.access_token.unwrap().expose_secret(), "a");
        assert_eq!(tokens.refresh_token.unwrap().expose_secret(), "r");
        assert_eq!(tokens.expires_ms, Some(61_000));

        let body = serde_json::json!({"access_token": "a", "token_type": "Bearer"});
        let tokens = parse_token_response(1, Some(body), 1_000).unwrap();
        assert!(tokens.refresh_token.is_none());
        assert_eq!(tokens.expires_ms, None);
    }
}
