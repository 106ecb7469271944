//! Server settings. The CLI fills them from flags and `TROVE_*` environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of `trove serve`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub addr: SocketAddr,
    /// Public base URL (scheme, host, port, optional path) that clients reach the server at.
    /// `jku` and redirects are built on it. `None` means `http://<bound address>`.
    pub public_url: Option<String>,
    /// Directory holding the database, master keys and blobs.
    pub data_dir: PathBuf,
    /// API path prefix with leading and trailing slash, `/v1.7/` by default.
    pub prefix: String,
    /// Access token lifetime.
    pub access_token_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_token_ttl: Duration,
    /// How long a rotated refresh token still works, for apps that refresh concurrently.
    pub refresh_grace: Duration,
    /// Lifetime of preauthorization and authorization codes.
    pub code_ttl: Duration,
    /// Read session lifetime.
    pub session_ttl: Duration,
    /// Signed-in consent-page session lifetime.
    pub web_session_ttl: Duration,
    /// Accepted distance between a request's `timestamp` claim and the server clock.
    pub timestamp_window: Duration,
    /// How long a retired signing key stays in the JWKS.
    pub key_grace: Duration,
    /// Largest accepted library push, in bytes.
    pub max_upload_bytes: u64,
    /// How often expired rows are purged.
    pub purge_interval: Duration,
    /// Most client connections open at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers (idle keep-alive included).
    pub header_read_timeout: Duration,
    /// Maximum pause between two pieces of a request body before the request fails.
    pub body_idle_timeout: Duration,
    /// Largest accepted provider push (a FHIR JSON document), in bytes.
    pub max_provider_push_bytes: usize,
    /// How long after a provider push Trove keeps retrying its delivery.
    pub delivery_retry_period: Duration,
    /// Delay before the second delivery attempt; each further delay doubles, with jitter.
    pub delivery_first_delay: Duration,
    /// Largest delay between two delivery attempts.
    pub delivery_max_delay: Duration,
    /// Timeout of one request to a provider's FHIR or token endpoint.
    pub delivery_request_timeout: Duration,
    /// Maximum time the delivery worker sleeps before it looks for due deliveries again.
    pub delivery_poll_interval: Duration,
    /// Whether the built-in sandbox FHIR provider is served under `/sandbox/fhir/`.
    pub sandbox_provider: bool,
    /// Bearer token the sandbox provider accepts; `None` means a random one per start, which
    /// only Trove's own deliveries know.
    pub sandbox_provider_token: Option<String>,
}

impl Config {
    /// Defaults: 127.0.0.1:8080, `./trove-data`, `/v1.7/`, access token 1 h, refresh token 30
    /// days, codes 10 min, sessions 30 min, ±5 min timestamp window, 4 GiB pushes. Provider
    /// pushes: 16 MiB, retried for 24 h at delays from 1 s up to 1 h, no sandbox provider.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: data_dir.into(),
            prefix: "/v1.7/".into(),
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 86_400),
            refresh_grace: Duration::from_secs(60),
            code_ttl: Duration::from_secs(600),
            session_ttl: Duration::from_secs(1800),
            web_session_ttl: Duration::from_secs(3600),
            timestamp_window: Duration::from_secs(300),
            key_grace: Duration::from_secs(86_400),
            max_upload_bytes: 4 << 30,
            purge_interval: Duration::from_secs(60),
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(60),
            max_provider_push_bytes: 16 << 20,
            delivery_retry_period: Duration::from_secs(86_400),
            delivery_first_delay: Duration::from_secs(1),
            delivery_max_delay: Duration::from_secs(3600),
            delivery_request_timeout: Duration::from_secs(30),
            delivery_poll_interval: Duration::from_secs(5),
            sandbox_provider: false,
            sandbox_provider_token: None,
        }
    }

    /// Returns the prefix with exactly one leading and one trailing slash.
    pub fn normalized_prefix(&self) -> String {
        let trimmed = self.prefix.trim_matches('/');
        if trimmed.is_empty() {
            "/".into()
        } else {
            format!("/{trimmed}/")
        }
    }
}
