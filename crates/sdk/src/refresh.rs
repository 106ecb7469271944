//! Automatic token refresh for calls made with a user's access token.
//!
//! Such a call runs once. When the server rejects the access token, the client trades the
//! refresh token for a new pair once, calls the token-change callback, and runs the call once
//! more with the new access token. A second failure is returned as it is.

use std::future::Future;

use reqwest::StatusCode;
use trove_protocol::wire::TokenPair;

use crate::client::{Client, ContractDetails, TokenChangeCallback, WithToken};
use crate::error::{Error, Result};

/// The rule that decides which 401 responses start a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshOn {
    /// Every 401. Library push and file download use this, because the Node SDK never parses
    /// their error bodies before deciding.
    AnyUnauthorized,
    /// A 401 whose body is `InvalidToken` or not a protocol error body at all. JSON calls use
    /// this, so a 401 with another code (for example a revoked consent) is returned at once.
    InvalidToken,
}

/// Decides whether `error` calls for a refresh under `rule`.
pub(crate) fn should_refresh(rule: RefreshOn, error: &Error) -> bool {
    match error {
        Error::Server { status, code, .. } if *status == StatusCode::UNAUTHORIZED => match rule {
            RefreshOn::AnyUnauthorized => true,
            RefreshOn::InvalidToken => code == "InvalidToken",
        },
        Error::Http { status, .. } => *status == StatusCode::UNAUTHORIZED,
        _ => false,
    }
}

/// The token pair that calls of one operation share.
///
/// `read_all_files` downloads files in parallel. When several downloads meet an expired token at
/// once, only the first refreshes and the others reuse its result, so the refresh token is spent
/// once and the callback runs once.
pub(crate) struct TokenState {
    inner: tokio::sync::Mutex<TokenStateInner>,
}

struct TokenStateInner {
    token: TokenPair,
    refreshed: bool,
}

impl TokenState {
    pub(crate) fn new(token: TokenPair) -> Self {
        Self {
            inner: tokio::sync::Mutex::new(TokenStateInner {
                token,
                refreshed: false,
            }),
        }
    }

    pub(crate) async fn current(&self) -> TokenPair {
        self.inner.lock().await.token.clone()
    }

    /// Returns the current pair and whether it was refreshed.
    pub(crate) async fn snapshot(&self) -> (TokenPair, bool) {
        let inner = self.inner.lock().await;
        (inner.token.clone(), inner.refreshed)
    }
}

impl Client {
    pub(crate) fn token_callback<'a>(
        &'a self,
        per_call: Option<&'a TokenChangeCallback>,
    ) -> Option<&'a TokenChangeCallback> {
        per_call.or(self.on_token_change.as_ref())
    }

    /// Runs `operation` with the current token and refreshes once when `rule` calls for it.
    pub(crate) async fn with_refresh<T, F, Fut>(
        &self,
        contract: &ContractDetails,
        state: &TokenState,
        rule: RefreshOn,
        callback: Option<&TokenChangeCallback>,
        operation: F,
    ) -> Result<T>
    where
        F: Fn(TokenPair) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let used = state.current().await;
        match operation(used.clone()).await {
            Err(error) if should_refresh(rule, &error) => {
                tracing::debug!(status = ?error.status(), code = ?error.code(), "access token rejected, refreshing");
                let fresh = self
                    .refresh_shared(contract, state, &used, callback)
                    .await?;
                operation(fresh).await
            }
            result => result,
        }
    }

    /// Refreshes the pair in `state` unless another call already replaced `used`.
    async fn refresh_shared(
        &self,
        contract: &ContractDetails,
        state: &TokenState,
        used: &TokenPair,
        callback: Option<&TokenChangeCallback>,
    ) -> Result<TokenPair> {
        let mut inner = state.inner.lock().await;
        if inner.token.access_token != used.access_token {
            return Ok(inner.token.clone());
        }
        let fresh = self.refresh_token(contract, &inner.token).await?;
        tracing::debug!(user_id = %fresh.user_id, "token pair refreshed");
        inner.token = fresh.clone();
        inner.refreshed = true;
        if let Some(callback) = callback {
            callback(&fresh);
        }
        Ok(fresh)
    }

    /// Runs one user-token call with automatic refresh and returns its value with the current
    /// token pair.
    pub(crate) async fn user_call<T, F, Fut>(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
        rule: RefreshOn,
        callback: Option<&TokenChangeCallback>,
        operation: F,
    ) -> Result<WithToken<T>>
    where
        F: Fn(TokenPair) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let state = TokenState::new(token.clone());
        let callback = self.token_callback(callback);
        let value = self
            .with_refresh(contract, &state, rule, callback, operation)
            .await?;
        let (token, refreshed) = state.snapshot().await;
        Ok(WithToken {
            value,
            token,
            refreshed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16, code: &str) -> Error {
        Error::Server {
            status: StatusCode::from_u16(status).unwrap(),
            code: code.into(),
            message: "m".into(),
            reference: "r".into(),
        }
    }

    fn http(status: u16) -> Error {
        Error::Http {
            status: StatusCode::from_u16(status).unwrap(),
            body: String::new(),
        }
    }

    #[test]
    fn refresh_decision_table() {
        use RefreshOn::{AnyUnauthorized as Any, InvalidToken as Json};
        let cases = [
            (Json, server(401, "InvalidToken"), true),
            (Json, server(401, "InsufficientScope"), false),
            (Json, http(401), true),
            (Json, server(403, "InvalidToken"), false),
            (Json, server(500, "InternalServerError"), false),
            (Json, http(500), false),
            (Any, server(401, "InvalidToken"), true),
            (Any, server(401, "InsufficientScope"), true),
            (Any, http(401), true),
            (Any, server(403, "InsufficientScope"), false),
            (Any, http(404), false),
            (Any, Error::Decryption("x".into()), false),
            (Json, Error::unexpected("e", "x"), false),
        ];
        for (rule, error, expected) in cases {
            assert_eq!(should_refresh(rule, &error), expected, "{rule:?} {error:?}");
        }
    }
}
