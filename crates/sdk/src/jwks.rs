//! Verification of server-signed tokens against the server's JWKS.
//!
//! A server token names its key set in the JOSE header (`jku`) and the key in it (`kid`). The
//! Node SDK fetches whatever URL `jku` names. This client only fetches URLs under its own base
//! URL, so a forged token cannot make it trust a key set from another host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde::de::DeserializeOwned;
use trove_protocol::jws::{Unverified, ALGORITHM};
use trove_protocol::keys::RsaPublicKey;
use trove_protocol::wire::Jwks;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::transport::{check_status, read_json, RequestExt};

/// Fetched key sets by URL, each with the time it was fetched.
pub(crate) struct JwksCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<Jwks>)>>,
}

impl JwksCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, url: &str) -> Option<Arc<Jwks>> {
        let entries = self
            .entries
            .lock()
            .expect("the JWKS cache lock is never poisoned");
        let (fetched, jwks) = entries.get(url)?;
        (fetched.elapsed() < self.ttl).then(|| Arc::clone(jwks))
    }

    fn store(&self, url: &str, jwks: Arc<Jwks>) {
        let mut entries = self
            .entries
            .lock()
            .expect("the JWKS cache lock is never poisoned");
        entries.insert(url.to_string(), (Instant::now(), jwks));
    }
}

/// Checks that `jku` lies under `base_url`, which always ends in `/`.
pub(crate) fn check_jku(jku: &str, base_url: &str) -> Result<()> {
    if jku.starts_with(base_url) {
        return Ok(());
    }
    Err(Error::InvalidTokenSignature(format!(
        "the token's jku {jku:?} is outside the configured base URL {base_url:?}; \
         configure the client with the server's public URL (trove serve --public-url)"
    )))
}

fn find_key(jwks: &Jwks, kid: &str) -> Option<Result<RsaPublicKey>> {
    let jwk = jwks.keys.iter().find(|jwk| jwk.kid == kid)?;
    Some(RsaPublicKey::from_pem(&jwk.pem).map_err(|error| {
        Error::InvalidTokenSignature(format!(
            "the JWKS key {kid:?} has an unusable pem member: {error}"
        ))
    }))
}

/// Rejects a payload whose `exp` has passed or whose `nbf` lies ahead, as Node's
/// `jsonwebtoken` does. Both are optional and in Unix seconds.
fn check_time_claims(payload: &serde_json::Value) -> Result<()> {
    let now = trove_protocol::time::now_s() as f64;
    if let Some(exp) = payload.get("exp").and_then(serde_json::Value::as_f64) {
        if now >= exp {
            return Err(Error::InvalidTokenSignature(format!(
                "the server token expired at {exp}"
            )));
        }
    }
    if let Some(nbf) = payload.get("nbf").and_then(serde_json::Value::as_f64) {
        if now < nbf {
            return Err(Error::InvalidTokenSignature(format!(
                "the server token is not valid before {nbf}"
            )));
        }
    }
    Ok(())
}

impl Client {
    /// Verifies a server token and deserializes its payload.
    pub(crate) async fn verify_server_token<T: DeserializeOwned>(
        &self,
        token: &str,
        endpoint: &str,
    ) -> Result<T> {
        let unverified = Unverified::parse(token).map_err(|error| {
            Error::InvalidTokenSignature(format!("the {endpoint} token is not a JWS: {error}"))
        })?;
        if unverified.header.alg != ALGORITHM {
            return Err(Error::InvalidTokenSignature(format!(
                "the {endpoint} token uses {:?}, only PS512 is accepted",
                unverified.header.alg
            )));
        }
        let (Some(jku), Some(kid)) = (unverified.header.jku.clone(), unverified.header.kid.clone())
        else {
            return Err(Error::InvalidTokenSignature(format!(
                "the {endpoint} token header lacks jku or kid"
            )));
        };
        check_jku(&jku, &self.shared.base_url)?;
        let key = self.key_for(&jku, &kid).await?;
        let payload = unverified.verify(&key).map_err(|error| {
            Error::InvalidTokenSignature(format!("the {endpoint} token: {error}"))
        })?;
        check_time_claims(&payload)?;
        serde_json::from_value(payload).map_err(|error| {
            Error::unexpected(
                endpoint,
                format!("the token payload lacks expected claims: {error}"),
            )
        })
    }

    /// Returns key `kid` of the key set at `jku`, from the cache when it is fresh and contains the
    /// key, otherwise from a new fetch.
    async fn key_for(&self, jku: &str, kid: &str) -> Result<RsaPublicKey> {
        if let Some(cached) = self.shared.jwks.fresh(jku) {
            if let Some(key) = find_key(&cached, kid) {
                return key;
            }
            tracing::debug!(kid, "key id not in the cached JWKS, fetching it again");
        }
        let jwks = Arc::new(self.fetch_jwks(jku).await?);
        self.shared.jwks.store(jku, Arc::clone(&jwks));
        find_key(&jwks, kid).unwrap_or_else(|| {
            Err(Error::InvalidTokenSignature(format!(
                "the JWKS at {jku} has no key {kid:?}"
            )))
        })
    }

    async fn fetch_jwks(&self, jku: &str) -> Result<Jwks> {
        let response = self
            .execute(&Method::GET, jku, || {
                Ok(self.request(Method::GET, jku, true).accept_json())
            })
            .await?;
        let response = check_status(response).await?;
        read_json(response, jku).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jku_must_be_under_base_url() {
        let base = "http://127.0.0.1:8080/v1.7/";
        assert!(check_jku("http://127.0.0.1:8080/v1.7/jwks/oauth", base).is_ok());
        for jku in [
            "http://127.0.0.1:80800/v1.7/jwks/oauth",
            "http://127.0.0.1:8080/v1.8/jwks/oauth",
            "https://127.0.0.1:8080/v1.7/jwks/oauth",
            "http://evil.test/v1.7/jwks/oauth",
            "http://127.0.0.1:8080.evil.test/v1.7/jwks/oauth",
        ] {
            assert!(
                matches!(check_jku(jku, base), Err(Error::InvalidTokenSignature(_))),
                "{jku}"
            );
        }
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let now = trove_protocol::time::now_s();
        assert!(check_time_claims(&json!({})).is_ok());
        assert!(check_time_claims(&json!({"exp": now + 60})).is_ok());
        assert!(check_time_claims(&json!({"exp": now - 1})).is_err());
        assert!(check_time_claims(&json!({"nbf": now + 60})).is_err());
        assert!(check_time_claims(&json!({"nbf": now - 60})).is_ok());
    }
}
