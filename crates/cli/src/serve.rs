//! `trove serve`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use trove_server::Config;

/// Options of `trove serve`; every one can also come from its `TROVE_*` environment variable.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TROVE_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Data directory holding the database, master keys and file bodies.
    #[arg(long, env = "TROVE_DATA_DIR", default_value = "./trove-data")]
    data_dir: PathBuf,
    /// Public base URL clients use, e.g. https://trove.example.org; `jku` and consent links are
    /// built on it. Default: http://<bound address>.
    #[arg(long, env = "TROVE_PUBLIC_URL")]
    public_url: Option<String>,
    /// API path prefix.
    #[arg(long, env = "TROVE_PREFIX", default_value = "/v1.7/")]
    prefix: String,
    /// Access token lifetime in seconds.
    #[arg(long, env = "TROVE_ACCESS_TOKEN_TTL", default_value_t = 3600)]
    access_token_ttl: u64,
    /// Refresh token lifetime in seconds.
    #[arg(long, env = "TROVE_REFRESH_TOKEN_TTL", default_value_t = 30 * 86_400)]
    refresh_token_ttl: u64,
    /// Seconds a rotated refresh token still works, for apps that refresh concurrently.
    #[arg(long, env = "TROVE_REFRESH_GRACE", default_value_t = 60)]
    refresh_grace: u64,
    /// Lifetime of preauthorization and authorization codes in seconds.
    #[arg(long, env = "TROVE_CODE_TTL", default_value_t = 600)]
    code_ttl: u64,
    /// Read session lifetime in seconds.
    #[arg(long, env = "TROVE_SESSION_TTL", default_value_t = 1800)]
    session_ttl: u64,
    /// Most client connections open at once; more clients wait until one closes.
    #[arg(long, env = "TROVE_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Largest accepted library push in bytes.
    #[arg(long, env = "TROVE_MAX_UPLOAD_BYTES", default_value_t = 4 << 30)]
    max_upload_bytes: u64,
    /// Largest accepted provider push (FHIR JSON) in bytes.
    #[arg(long, env = "TROVE_MAX_PROVIDER_PUSH_BYTES", default_value_t = 16 << 20)]
    max_provider_push_bytes: usize,
    /// Seconds after a provider push during which failed deliveries are retried.
    #[arg(long, env = "TROVE_DELIVERY_RETRY_PERIOD", default_value_t = 86_400)]
    delivery_retry_period: u64,
    /// Milliseconds before the second delivery attempt; later delays double, with jitter.
    #[arg(long, env = "TROVE_DELIVERY_FIRST_DELAY_MS", default_value_t = 1000)]
    delivery_first_delay_ms: u64,
    /// Largest delay between two delivery attempts, in seconds.
    #[arg(long, env = "TROVE_DELIVERY_MAX_DELAY", default_value_t = 3600)]
    delivery_max_delay: u64,
    /// Serve the sandbox FHIR STU3 provider under /sandbox/fhir/ for trying provider pushes.
    #[arg(long, env = "TROVE_SANDBOX_PROVIDER")]
    sandbox_provider: bool,
    /// Bearer token the sandbox provider accepts; without it only Trove's own deliveries get in.
    #[arg(long, env = "TROVE_SANDBOX_PROVIDER_TOKEN", hide_env_values = true)]
    sandbox_provider_token: Option<String>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut config = Config::new(self.data_dir);
        config.addr = self.addr;
        if let Some(url) = &self.public_url {
            let parsed = url::Url::parse(url).map_err(|error| anyhow::anyhow!("invalid --public-url {url:?}: {error}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                anyhow::bail!("invalid --public-url {url:?}: use an http or https URL");
            }
        }
        config.public_url = self.public_url;
        config.prefix = self.prefix;
        config.access_token_ttl = Duration::from_secs(self.access_token_ttl);
        config.refresh_token_ttl = Duration::from_secs(self.refresh_token_ttl);
        config.refresh_grace = Duration::from_secs(self.refresh_grace);
        config.code_ttl = Duration::from_secs(self.code_ttl);
        config.session_ttl = Duration::from_secs(self.session_ttl);
        config.max_upload_bytes = self.max_upload_bytes;
        anyhow::ensure!(self.max_connections > 0, "--max-connections must be at least 1");
        config.max_connections = self.max_connections;
        anyhow::ensure!(
            self.refresh_grace <= 3600,
            "--refresh-grace is {} s; use at most 3600, because rotated pairs are kept only an hour",
            self.refresh_grace
        );
        config.max_provider_push_bytes = self.max_provider_push_bytes;
        if self.delivery_first_delay_ms == 0 || self.delivery_max_delay == 0 {
            anyhow::bail!("--delivery-first-delay-ms and --delivery-max-delay must be greater than 0");
        }
        config.delivery_retry_period = Duration::from_secs(self.delivery_retry_period);
        config.delivery_first_delay = Duration::from_millis(self.delivery_first_delay_ms);
        config.delivery_max_delay = Duration::from_secs(self.delivery_max_delay);
        config.sandbox_provider = self.sandbox_provider;
        config.sandbox_provider_token = self.sandbox_provider_token;
        Ok(config)
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.into_config()?;
    tracing::info!(
        data_dir = %config.data_dir.display(),
        prefix = %config.normalized_prefix(),
        access_token_ttl_s = config.access_token_ttl.as_secs(),
        max_upload_bytes = config.max_upload_bytes,
        sandbox_provider = config.sandbox_provider,
        "starting Trove"
    );
    let server = trove_server::start(config).await?;
    println!("listening on http://{}", server.addr);
    std::io::stdout().flush()?;
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
