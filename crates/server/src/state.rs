//! Shared state handed to every request handler.

use std::sync::Arc;

use crate::config::Config;
use crate::service::delivery::DeliveryService;
use crate::service::envelope::MasterKeys;
use crate::service::key_cache::KeyCache;
use crate::service::signing::ServerKeys;
use crate::store::blobs::BlobStore;
use crate::store::Store;

/// State of one running server.
#[derive(Clone)]
pub struct AppState {
    /// Settings.
    pub config: Arc<Config>,
    /// Public base URL without trailing slash.
    pub public_url: Arc<str>,
    /// Rows.
    pub store: Arc<dyn Store>,
    /// Large file bodies.
    pub blobs: Arc<dyn BlobStore>,
    /// Master keys for sealing at rest.
    pub master: Arc<MasterKeys>,
    /// Token signing keys.
    pub keys: Arc<ServerKeys>,
    /// Parsed contract public keys.
    pub public_keys: Arc<KeyCache>,
    /// Provider-push outbox settings, lease owner name and HTTP client.
    pub deliveries: Arc<DeliveryService>,
}

impl AppState {
    /// Absolute URL of an API path such as `jwks/oauth`.
    pub fn api_url(&self, path: &str) -> String {
        format!("{}{}{}", self.public_url, self.config.normalized_prefix(), path)
    }

    /// Absolute URL of a consent-page path such as `authorize`.
    pub fn onboard_url(&self, path: &str) -> String {
        format!("{}/apps/saas/{}", self.public_url, path)
    }

    /// Whether cookies must carry `Secure`.
    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}
