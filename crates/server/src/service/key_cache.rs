//! Parsed contract public keys, so a request does not decode PEM and DER again each time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use trove_protocol::keys::RsaPublicKey;
use trove_protocol::ProtocolError;

/// Most keys kept; the cache is emptied when it grows past this.
const MAX_KEYS: usize = 4096;

/// Public keys by their PEM text. Keyed by the text itself, so a contract whose key changes
/// simply misses the cache.
#[derive(Default)]
pub struct KeyCache {
    keys: Mutex<HashMap<String, Arc<RsaPublicKey>>>,
}

impl KeyCache {
    /// Returns the parsed key of `pem`, parsing it on first use.
    pub fn get(&self, pem: &str) -> Result<Arc<RsaPublicKey>, ProtocolError> {
        if let Some(key) = self.keys.lock().expect("key cache lock").get(pem) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(RsaPublicKey::from_pem(pem)?);
        let mut keys = self.keys.lock().expect("key cache lock");
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(pem.to_string(), Arc::clone(&key));
        Ok(key)
    }
}
