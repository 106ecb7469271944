//! The server's token signing keys: created on first start, sealed at rest, published in the
//! JWKS, and rotated by adding a key while the previous one stays published for a grace period.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use trove_protocol::jws::{self, Header};
use trove_protocol::keys::{RsaPrivateKey, RsaPublicKey};
use trove_protocol::wire::{Jwk, Jwks};
use trove_protocol::{random, time, ProtocolError};

use crate::service::envelope::MasterKeys;
use crate::store::{SigningKeyRecord, Store, StoreError};

/// A failure to load or create signing keys.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key could not be opened or parsed.
    #[error("signing key {kid}: {reason}")]
    BadKey {
        /// Key id.
        kid: String,
        /// Description of the failure.
        reason: String,
    },
    /// Key generation or signing failed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

struct KeySet {
    active_kid: String,
    active: RsaPrivateKey,
    jwks: Jwks,
}

/// The loaded signing keys.
pub struct ServerKeys {
    jku: String,
    grace_ms: i64,
    current: RwLock<Arc<KeySet>>,
}

fn sealing_context(kid: &str) -> String {
    format!("trove signing key {kid}")
}

/// Creates a new signing key, seals it and makes it the active one.
pub async fn rotate(store: &dyn Store, master: &MasterKeys) -> Result<String, SigningError> {
    let key = RsaPrivateKey::generate(2048)?;
    let kid = format!("trove-{}", random::alphanumeric(12));
    let pem = key.to_pkcs1_pem()?;
    let (master_kid, sealed) = master.seal(pem.as_bytes(), &sealing_context(&kid));
    let mut sealed_private = master_kid.into_bytes();
    sealed_private.push(b':');
    sealed_private.extend_from_slice(&sealed);
    let record = SigningKeyRecord {
        kid: kid.clone(),
        sealed_private,
        public_pem: key.public_key().to_pkcs1_pem(),
        created_ms: time::now_ms(),
        retired_ms: None,
    };
    store.rotate_signing_key(record, time::now_ms()).await?;
    tracing::info!(kid = %kid, "created a new server signing key");
    Ok(kid)
}

impl ServerKeys {
    /// Loads the keys, creating the first one when the store has none.
    pub async fn load(store: &dyn Store, master: &MasterKeys, jku: String, grace_ms: i64) -> Result<Self, SigningError> {
        let set = load_set(store, master, grace_ms).await?;
        Ok(Self { jku, grace_ms, current: RwLock::new(Arc::new(set)) })
    }

    /// Re-reads the keys, picking up a rotation made by another process.
    pub async fn reload(&self, store: &dyn Store, master: &MasterKeys) -> Result<(), SigningError> {
        let set = load_set(store, master, self.grace_ms).await?;
        *self.current.write().expect("key set lock") = Arc::new(set);
        Ok(())
    }

    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.current.read().expect("key set lock"))
    }

    /// Signs a server token with the active key, with `jku` and `kid` in its header and no
    /// `exp` or `nbf` (the Node SDK rejects tokens on clock skew otherwise).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, ProtocolError> {
        let set = self.snapshot();
        jws::sign(&Header::server(&self.jku, &set.active_kid), claims, &set.active)
    }

    /// Returns the published key set: the active key and those retired within the grace period.
    pub fn jwks(&self) -> Jwks {
        self.snapshot().jwks.clone()
    }

    /// Id of the active key.
    pub fn active_kid(&self) -> String {
        self.snapshot().active_kid.clone()
    }
}

async fn load_set(store: &dyn Store, master: &MasterKeys, grace_ms: i64) -> Result<KeySet, SigningError> {
    let mut records = store.list_signing_keys().await?;
    if !records.iter().any(|record| record.retired_ms.is_none()) {
        rotate(store, master).await?;
        records = store.list_signing_keys().await?;
    }
    let active_record = records.iter().find(|record| record.retired_ms.is_none()).expect("an active key exists");
    let active = open_private(active_record, master)?;
    let now = time::now_ms();
    let mut keys = Vec::new();
    for record in &records {
        let published = record.retired_ms.is_none_or(|retired| now - retired < grace_ms);
        if published {
            let public = RsaPublicKey::from_pem(&record.public_pem)
                .map_err(|error| SigningError::BadKey { kid: record.kid.clone(), reason: error.to_string() })?;
            keys.push(Jwk::new(&record.kid, &public));
        }
    }
    Ok(KeySet { active_kid: active_record.kid.clone(), active, jwks: Jwks { keys } })
}

fn open_private(record: &SigningKeyRecord, master: &MasterKeys) -> Result<RsaPrivateKey, SigningError> {
    let bad = |reason: String| SigningError::BadKey { kid: record.kid.clone(), reason };
    let separator = record
        .sealed_private
        .iter()
        .position(|&byte| byte == b':')
        .ok_or_else(|| bad("sealed key has no master key id".into()))?;
    let master_kid = std::str::from_utf8(&record.sealed_private[..separator]).map_err(|_| bad("master key id".into()))?;
    let pem = master
        .open(master_kid, &record.sealed_private[separator + 1..], &sealing_context(&record.kid))
        .map_err(|error| bad(error.to_string()))?;
    let pem = std::str::from_utf8(&pem).map_err(|_| bad("sealed key is not PEM text".into()))?;
    RsaPrivateKey::from_pem(pem).map_err(|error| bad(error.to_string()))
}
