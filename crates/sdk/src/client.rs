//! The client, its builder and the values every call shares.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use trove_protocol::keys::RsaPrivateKey;
use trove_protocol::wire::TokenPair;

use crate::error::{Error, Result};
use crate::jwks::JwksCache;
use crate::retry::RetryPolicy;

/// The API base URL used when none is configured: a `trove serve` on its default address.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080/v1.7/";

/// How long a fetched JWKS is reused before it is fetched again.
pub const DEFAULT_JWKS_TTL: Duration = Duration::from_secs(5 * 60);

/// The request timeout used when none is configured. It matches the iOS SDK's 90 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// A callback called with the new token pair after an automatic refresh.
///
/// The server may rotate the refresh token, so an app that stores tokens must save the pair it
/// receives here, or it may be unable to refresh again later.
pub type TokenChangeCallback = Arc<dyn Fn(&TokenPair) + Send + Sync>;

/// A contract the app signs requests for: its id and its RSA private key.
///
/// The key signs every request JWT and the file descriptors of pushes, and decrypts downloads
/// (which needs an RSA-2048 key). `Debug` shows the key size only.
#[derive(Debug)]
pub struct ContractDetails {
    /// The contract id, as registered with `trove admin contract add --id`.
    pub contract_id: String,
    /// The contract's private key.
    pub private_key: RsaPrivateKey,
}

impl ContractDetails {
    /// Creates contract details from a contract id and a key.
    pub fn new(contract_id: impl Into<String>, private_key: RsaPrivateKey) -> Self {
        Self {
            contract_id: contract_id.into(),
            private_key,
        }
    }

    /// Creates contract details from a PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 PEM key.
    pub fn from_pem(contract_id: impl Into<String>, pem: &str) -> Result<Self> {
        let private_key = RsaPrivateKey::from_pem(pem)?;
        Ok(Self::new(contract_id, private_key))
    }
}

/// The result of a call made with a user's token, with the token pair to use from now on.
#[derive(Debug, Clone)]
pub struct WithToken<T> {
    /// The call's result.
    pub value: T,
    /// The current token pair: the one passed in, or the new pair after a refresh.
    pub token: TokenPair,
    /// `true` when the call refreshed the token pair.
    pub refreshed: bool,
}

/// Settings for a [`Client`]. Create one with [`Client::builder`].
pub struct ClientBuilder {
    application_id: String,
    base_url: Option<String>,
    onboard_url: Option<String>,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    jwks_ttl: Duration,
    http: Option<reqwest::Client>,
    on_token_change: Option<TokenChangeCallback>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("ClientBuilder")
            .field("application_id", &self.application_id)
            .field("base_url", &self.base_url)
            .field("onboard_url", &self.onboard_url)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("jwks_ttl", &self.jwks_ttl)
            .field("custom_http_client", &self.http.is_some())
            .field("on_token_change", &self.on_token_change.is_some())
            .finish()
    }
}

impl ClientBuilder {
    /// Sets the API base URL, including the version prefix (default [`DEFAULT_BASE_URL`]).
    ///
    /// A `/` is appended when missing, and request paths are appended to it as text, so
    /// `http://127.0.0.1:8080/v1.7` leads to `http://127.0.0.1:8080/v1.7/oauth/token`. An empty
    /// string selects the default, as in the Node SDK.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Sets the consent page base URL (default: the base URL's origin followed by
    /// `/apps/saas/`). A `/` is appended when missing.
    pub fn onboard_url(mut self, url: impl Into<String>) -> Self {
        self.onboard_url = Some(url.into());
        self
    }

    /// Sets how failed idempotent requests are retried (default [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Sets the timeout of each HTTP request (default [`DEFAULT_TIMEOUT`]); `None` waits
    /// forever.
    ///
    /// JSON calls must finish within it. Pushes and downloads stream their bodies, so for them it
    /// is only a read timeout: it bounds each wait for data from the server, not the whole
    /// transfer.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the timeout for opening a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets how long a fetched JWKS is reused (default [`DEFAULT_JWKS_TTL`]). A token with a key
    /// id missing from the cached set always causes a fresh fetch.
    pub fn jwks_ttl(mut self, ttl: Duration) -> Self {
        self.jwks_ttl = ttl;
        self
    }

    /// Uses this `reqwest::Client` instead of building one, for example to add root
    /// certificates or a proxy. The builder's timeout then applies to JSON calls only, and the
    /// connect timeout not at all; set both on the given client.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Sets the callback called with the new token pair after every automatic refresh.
    pub fn on_token_change(mut self, callback: TokenChangeCallback) -> Self {
        self.on_token_change = Some(callback);
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client> {
        if self.application_id.is_empty() {
            return Err(Error::InvalidArgument(
                "the application id must not be empty".into(),
            ));
        }
        let base_url = normalize_base(self.base_url.as_deref().unwrap_or(""), DEFAULT_BASE_URL);
        let base = parse_http_url("base URL", &base_url)?;
        let onboard_url = match self.onboard_url.as_deref() {
            Some(url) if !url.is_empty() => with_trailing_slash(url),
            _ => format!("{}/apps/saas/", base.origin().ascii_serialization()),
        };
        parse_http_url("onboard URL", &onboard_url)?;

        let http = match self.http {
            Some(client) => client,
            None => {
                let mut builder = reqwest::Client::builder()
                    .user_agent(concat!("trove-sdk/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(self.connect_timeout)
                    // The SDK retries by itself, re-signing each attempt.
                    .retry(reqwest::retry::never());
                if let Some(timeout) = self.timeout {
                    builder = builder.read_timeout(timeout);
                }
                builder.build()?
            }
        };

        Ok(Client {
            shared: Arc::new(Shared {
                application_id: self.application_id,
                base_url,
                onboard_url,
                http,
                retry: self.retry,
                timeout: self.timeout,
                jwks: JwksCache::new(self.jwks_ttl),
            }),
            on_token_change: self.on_token_change,
        })
    }
}

fn with_trailing_slash(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

fn normalize_base(url: &str, default: &str) -> String {
    if url.is_empty() {
        default.to_string()
    } else {
        with_trailing_slash(url)
    }
}

fn parse_http_url(name: &str, text: &str) -> Result<url::Url> {
    let url = url::Url::parse(text).map_err(|error| {
        Error::InvalidArgument(format!("the {name} {text:?} is not a valid URL: {error}"))
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::InvalidArgument(format!(
            "the {name} {text:?} must use http or https"
        )));
    }
    Ok(url)
}

pub(crate) struct Shared {
    pub(crate) application_id: String,
    pub(crate) base_url: String,
    pub(crate) onboard_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) retry: RetryPolicy,
    pub(crate) timeout: Option<Duration>,
    pub(crate) jwks: JwksCache,
}

/// An async client of the digi.me API as Trove serves it.
///
/// Cloning is cheap and clones share the connection pool and the JWKS cache. Build one with
/// [`Client::builder`].
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    pub(crate) on_token_change: Option<TokenChangeCallback>,
}

impl fmt::Debug for Client {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Client")
            .field("application_id", &self.shared.application_id)
            .field("base_url", &self.shared.base_url)
            .field("onboard_url", &self.shared.onboard_url)
            .field("retry", &self.shared.retry)
            .field("timeout", &self.shared.timeout)
            .field("on_token_change", &self.on_token_change.is_some())
            .finish()
    }
}

impl Client {
    /// Starts a builder for the application registered as `application_id`.
    pub fn builder(application_id: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            application_id: application_id.into(),
            base_url: None,
            onboard_url: None,
            retry: RetryPolicy::default(),
            timeout: Some(DEFAULT_TIMEOUT),
            connect_timeout: Duration::from_secs(10),
            jwks_ttl: DEFAULT_JWKS_TTL,
            http: None,
            on_token_change: None,
        }
    }

    /// Returns a clone that calls `callback` instead of the builder's callback after a refresh.
    /// Use it to set a callback for one call.
    pub fn with_token_change(&self, callback: TokenChangeCallback) -> Client {
        Client {
            shared: Arc::clone(&self.shared),
            on_token_change: Some(callback),
        }
    }

    /// Returns the application id.
    pub fn application_id(&self) -> &str {
        &self.shared.application_id
    }

    /// Returns the API base URL, ending in `/`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// Returns the consent page base URL, ending in `/`.
    pub fn onboard_url(&self) -> &str {
        &self.shared.onboard_url
    }

    /// Returns the `client_id` claim of `contract`: `<applicationId>_<contractId>`.
    pub fn client_id(&self, contract: &ContractDetails) -> String {
        format!("{}_{}", self.shared.application_id, contract.contract_id)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.shared.base_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_gets_trailing_slash() {
        let client = Client::builder("app")
            .base_url("http://127.0.0.1:9/v1.7")
            .build()
            .unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:9/v1.7/");
        assert_eq!(
            client.url("oauth/token"),
            "http://127.0.0.1:9/v1.7/oauth/token"
        );
    }

    #[test]
    fn base_url_defaults_when_empty() {
        let client = Client::builder("app").base_url("").build().unwrap();
        assert_eq!(client.base_url(), DEFAULT_BASE_URL);
        assert_eq!(client.onboard_url(), "http://127.0.0.1:8080/apps/saas/");
    }

    #[test]
    fn onboard_url_follows_base_origin() {
        let client = Client::builder("app")
            .base_url("https://trove.example:8443/api/v1.7/")
            .build()
            .unwrap();
        assert_eq!(
            client.onboard_url(),
            "https://trove.example:8443/apps/saas/"
        );
    }

    #[test]
    fn onboard_url_gets_trailing_slash() {
        let client = Client::builder("app")
            .onboard_url("http://127.0.0.1:9/consent")
            .build()
            .unwrap();
        assert_eq!(client.onboard_url(), "http://127.0.0.1:9/consent/");
    }

    #[test]
    fn builder_rejects_bad_settings() {
        assert!(matches!(
            Client::builder("").build(),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Client::builder("app").base_url("not a url").build(),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Client::builder("app").base_url("ftp://host/v1.7/").build(),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn client_id_joins_app_and_contract() {
        let client = Client::builder("demo-app").build().unwrap();
        let contract = ContractDetails::new("write-1", crate::test_support::contract_key());
        assert_eq!(client.client_id(&contract), "demo-app_write-1");
    }
}
