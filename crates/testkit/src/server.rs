//! An in-process server on 127.0.0.1:0 with its own temporary data directory.

use std::path::PathBuf;
use std::time::Duration;

use trove_protocol::keys::RsaPrivateKey;
use trove_server::admin::{Admin, ContractKey};
use trove_server::store::ContractKind;
use trove_server::{Config, RunningServer};

/// A running server and the directory it owns (removed on drop).
pub struct TestServer {
    /// The server.
    pub server: RunningServer,
    /// Administration of its data directory.
    pub admin: Admin,
    /// The data directory.
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

/// A contract registered by [`TestServer::add_contract`], with its private key.
pub struct RegisteredContract {
    /// Application id.
    pub app_id: String,
    /// Contract id.
    pub contract_id: String,
    /// The contract's private key.
    pub private_key: RsaPrivateKey,
}

impl TestServer {
    /// Starts a server with default settings in a new temporary directory.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed its settings (lifetimes, limits).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut server = Self::start_in(dir.path().to_path_buf(), adjust).await?;
        server._dir = Some(dir);
        Ok(server)
    }

    /// Starts a server on an existing data directory, which is kept afterwards.
    pub async fn start_in(data_dir: PathBuf, adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let mut config = Config::new(&data_dir);
        config.addr = "127.0.0.1:0".parse()?;
        config.purge_interval = Duration::from_secs(3600);
        adjust(&mut config);
        let server = trove_server::start(config).await?;
        let admin = Admin::open(&data_dir)?;
        Ok(Self { server, admin, data_dir, _dir: None })
    }

    /// Returns the API base URL with prefix and trailing slash.
    pub fn api_base(&self) -> &str {
        &self.server.api_base
    }

    /// Returns the consent pages' base URL with trailing slash.
    pub fn onboard_base(&self) -> String {
        format!("{}/apps/saas/", self.server.public_url)
    }

    /// Adds an application unless it exists.
    pub async fn ensure_application(&self, app_id: &str, name: &str) -> anyhow::Result<()> {
        let existing = self.admin.list_applications().await?;
        if !existing.iter().any(|application| application.id == app_id) {
            self.admin.add_application(app_id, name).await?;
        }
        Ok(())
    }

    /// Registers a contract with a generated key and the given callbacks.
    pub async fn add_contract(
        &self,
        app_id: &str,
        contract_id: &str,
        kind: ContractKind,
        callbacks: &[&str],
    ) -> anyhow::Result<RegisteredContract> {
        self.ensure_application(app_id, &format!("{app_id} (test application)")).await?;
        let callbacks = callbacks.iter().map(|callback| callback.to_string()).collect();
        let (_, private) = self.admin.add_contract(app_id, contract_id, kind, ContractKey::Generate, callbacks).await?;
        Ok(RegisteredContract {
            app_id: app_id.into(),
            contract_id: contract_id.into(),
            private_key: private.expect("a generated contract key"),
        })
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) {
        self.server.shutdown().await;
    }
}
