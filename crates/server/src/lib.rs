//! The Trove server: the digi.me API (OAuth with PKCE, library push, read-back), the consent
//! pages, and their storage.
//!
//! [`start`] binds a listener, opens the data directory and serves until
//! [`RunningServer::shutdown`]; `trove serve` and the tests both use it.

pub mod admin;
pub mod config;
pub mod http;
pub mod listener;
pub mod service;
pub mod state;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;

use crate::service::delivery::worker::DeliveryWorker;
use crate::service::delivery::DeliveryService;
use crate::service::envelope::MasterKeys;
use crate::service::signing::ServerKeys;
use crate::state::AppState;
use crate::store::blobs::{BlobStore, FsBlobStore};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

/// File name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "trove.db";
/// Directory of blobs inside the data directory.
pub const BLOB_DIR: &str = "blobs";

/// A server running in this process.
pub struct RunningServer {
    /// The bound address.
    pub addr: SocketAddr,
    /// Public base URL (no trailing slash).
    pub public_url: String,
    /// API base URL with prefix and trailing slash, as SDKs are configured.
    pub api_base: String,
    /// The state, for tests that look behind the API.
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting connections, lets requests in flight finish, and waits.
    pub async fn shutdown(mut self) {
        if let Some(sender) = self.shutdown.take() {
            let _ = sender.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Waits until the server stops by itself (it normally never does).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

/// Opens the stores of a data directory, creating it when needed.
pub fn open_stores(data_dir: &std::path::Path) -> anyhow::Result<(Arc<SqliteStore>, Arc<FsBlobStore>, Arc<MasterKeys>)> {
    if !data_dir.exists() {
        create_private_dir(data_dir)?;
    } else if !data_dir.is_dir() {
        anyhow::bail!("the data directory {} is not a directory", data_dir.display());
    }
    let store = SqliteStore::open(&data_dir.join(DATABASE_FILE)).context("opening the database")?;
    let blobs = FsBlobStore::open(&data_dir.join(BLOB_DIR)).context("opening the blob directory")?;
    let master = MasterKeys::load(data_dir).context("loading the master keys")?;
    Ok((Arc::new(store), Arc::new(blobs), Arc::new(master)))
}

/// Creates a directory (and its parents) readable only by its owner: it holds people's data.
fn create_private_dir(path: &std::path::Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).with_context(|| format!("creating the data directory {}", path.display()))
}

/// Binds `config.addr`, prepares storage and keys, and serves in a background task.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    let listener = TcpListener::bind(config.addr).await.with_context(|| format!("binding {}", config.addr))?;
    let addr = listener.local_addr()?;
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let public_url = public_url.trim_end_matches('/').to_string();

    let (store, blobs, master) = open_stores(&config.data_dir)?;
    let referenced = store.list_blob_keys().await?;
    let swept = blobs.sweep(&referenced).await?;
    if swept > 0 {
        tracing::info!(removed = swept, "removed unreferenced or unfinished blobs");
    }
    let store: Arc<dyn Store> = store;
    let blobs: Arc<dyn BlobStore> = blobs;
    let jku = format!("{public_url}{}jwks/oauth", config.normalized_prefix());
    let keys = ServerKeys::load(store.as_ref(), &master, jku, config.key_grace.as_millis() as i64).await?;
    let api_base = format!("{public_url}{}", config.normalized_prefix());
    let deliveries = Arc::new(DeliveryService::new(&config).context("creating the delivery HTTP client")?);
    let state = AppState {
        config: Arc::new(config),
        public_url: public_url.clone().into(),
        store,
        blobs,
        master,
        keys: Arc::new(keys),
        public_keys: Arc::default(),
        deliveries,
    };

    let (shutdown, shutdown_signal) = oneshot::channel::<()>();
    let maintenance = tokio::spawn(maintain(state.clone()));
    let delivery_worker = DeliveryWorker::start(state.clone(), state.config.delivery_poll_interval);
    let app = http::router(state.clone());
    let limits = listener::ListenerLimits {
        max_connections: state.config.max_connections,
        header_read_timeout: state.config.header_read_timeout,
        shutdown_grace: std::time::Duration::from_secs(30),
    };
    let task = tokio::spawn(async move {
        listener::serve(listener, app, limits, async move {
            let _ = shutdown_signal.await;
        })
        .await;
        maintenance.abort();
        delivery_worker.stop().await;
    });
    tracing::info!(%addr, %public_url, "Trove server listening");
    Ok(RunningServer { addr, public_url, api_base, state, shutdown: Some(shutdown), task })
}

/// Purges expired rows and picks up signing-key rotations made by `trove admin keys rotate`.
async fn maintain(state: AppState) {
    let mut purge = tokio::time::interval(state.config.purge_interval);
    let mut reload = tokio::time::interval(KEY_RELOAD_INTERVAL);
    loop {
        tokio::select! {
            _ = purge.tick() => match state.store.purge_expired(trove_protocol::time::now_ms()).await {
                Ok(0) => {}
                Ok(removed) => tracing::debug!(removed, "purged expired rows"),
                Err(error) => tracing::error!(%error, "purging expired rows failed"),
            },
            _ = reload.tick() => {
                let before = state.keys.active_kid();
                match state.keys.reload(state.store.as_ref(), &state.master).await {
                    Ok(()) if state.keys.active_kid() != before => {
                        tracing::info!(kid = %state.keys.active_kid(), "now signing with a rotated key");
                    }
                    Ok(()) => {}
                    Err(error) => tracing::error!(%error, "reloading signing keys failed"),
                }
            }
        }
    }
}

/// How often the server looks for a signing key rotated by `trove admin keys rotate`.
const KEY_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
