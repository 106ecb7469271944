//! Administration of a data directory: applications, contracts, callbacks, signing keys and
//! (in [`providers`]) the provider directory.
//! `trove admin` calls these directly on the database, so they work while a server runs.

mod deliveries;
mod providers;

pub use providers::{NewProvider, NewProviderAuth, ZalImportOptions, ZalImportSummary};
/// Secret wrapper of the provider admin API, re-exported so callers need no direct dependency.
pub use secrecy::SecretString;

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use trove_protocol::keys::{RsaPrivateKey, RsaPublicKey};
use trove_protocol::time;

use crate::service::envelope::MasterKeys;
use crate::store::sqlite::SqliteStore;
use crate::store::{Application, Contract, ContractKind, Store};

/// Administrative access to one data directory.
pub struct Admin {
    store: Arc<SqliteStore>,
    blobs: Arc<crate::store::blobs::FsBlobStore>,
    master: Arc<MasterKeys>,
}

/// Checks an application or contract id: 1 to 64 of `[A-Za-z0-9-]`. Underscores are excluded
/// because the wire `client_id` joins the two ids with one.
pub fn validate_id(kind: &str, id: &str) -> anyhow::Result<()> {
    let valid = !id.is_empty() && id.len() <= 64 && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
    if !valid {
        bail!("invalid {kind} id {id:?}: use 1 to 64 letters, digits or '-' (no '_')");
    }
    Ok(())
}

/// Checks a callback URL: absolute, with a scheme; custom schemes such as `myapp://auth` are
/// allowed because mobile SDKs use them.
pub fn validate_callback(callback: &str) -> anyhow::Result<()> {
    let parsed = url::Url::parse(callback).with_context(|| format!("invalid callback URL {callback:?}"))?;
    if parsed.fragment().is_some() {
        bail!("invalid callback URL {callback:?}: a fragment is not allowed");
    }
    Ok(())
}

/// How a new contract gets its key.
pub enum ContractKey {
    /// The app's public key, PKCS#1 or SPKI PEM.
    PublicPem(String),
    /// Generate a 2048-bit pair; the private key is returned to the caller.
    Generate,
}

impl Admin {
    /// Opens a data directory that exists, creating the database in it when it has none. A
    /// missing directory is an error rather than a new empty one, so a mistyped or forgotten
    /// `--data-dir` cannot register applications where no server will look.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        if !data_dir.is_dir() {
            bail!(
                "the data directory {} does not exist; pass the --data-dir of your server, or create it with 'trove serve --data-dir {}'",
                data_dir.display(),
                data_dir.display()
            );
        }
        let (store, blobs, master) = crate::open_stores(data_dir)?;
        Ok(Self { store, blobs, master })
    }

    /// Adds an application.
    pub async fn add_application(&self, id: &str, name: &str) -> anyhow::Result<Application> {
        validate_id("application", id)?;
        if name.trim().is_empty() {
            bail!("the application name must not be empty");
        }
        let application = Application { id: id.into(), name: name.trim().into(), created_ms: time::now_ms() };
        self.store.create_application(application.clone()).await?;
        Ok(application)
    }

    /// Lists applications.
    pub async fn list_applications(&self) -> anyhow::Result<Vec<Application>> {
        Ok(self.store.list_applications().await?)
    }

    /// Removes an application with its contracts and every grant to them.
    pub async fn remove_application(&self, id: &str) -> anyhow::Result<()> {
        use crate::store::blobs::BlobStore;
        let blob_keys = self.store.delete_application(id).await?;
        for key in &blob_keys {
            // A blob left behind is removed by the next server start's sweep.
            if let Err(error) = self.blobs.delete(key).await {
                tracing::warn!(%error, blob = %key, "could not remove a blob of a removed application");
            }
        }
        Ok(())
    }

    /// Adds a contract; returns it and, when generated, the private key.
    pub async fn add_contract(
        &self,
        app_id: &str,
        contract_id: &str,
        kind: ContractKind,
        key: ContractKey,
        callbacks: Vec<String>,
    ) -> anyhow::Result<(Contract, Option<RsaPrivateKey>)> {
        validate_id("contract", contract_id)?;
        for callback in &callbacks {
            validate_callback(callback)?;
        }
        if self.store.find_application(app_id).await?.is_none() {
            bail!("application {app_id:?} does not exist; add it first with 'trove admin app add'");
        }
        let (public, private) = match key {
            ContractKey::PublicPem(pem) => (RsaPublicKey::from_pem(&pem).context("reading the contract public key")?, None),
            ContractKey::Generate => {
                let private = RsaPrivateKey::generate(2048)?;
                (private.public_key(), Some(private))
            }
        };
        let bits = public.bits();
        if !(2048..=4096).contains(&bits) {
            bail!("the contract key has {bits} bits; use an RSA key of 2048 to 4096 bits");
        }
        if kind != ContractKind::Write && bits != 2048 {
            bail!("read contracts need an RSA-2048 key, because downloads wrap their key in one 256-byte RSA block");
        }
        let contract = Contract {
            app_id: app_id.into(),
            id: contract_id.into(),
            kind,
            public_key_pem: public.to_pkcs1_pem(),
            callbacks,
            created_ms: time::now_ms(),
        };
        self.store.create_contract(contract.clone()).await?;
        Ok((contract, private))
    }

    /// Lists contracts, optionally of one application.
    pub async fn list_contracts(&self, app_id: Option<&str>) -> anyhow::Result<Vec<Contract>> {
        Ok(self.store.list_contracts(app_id).await?)
    }

    /// Removes a contract and every grant to it.
    pub async fn remove_contract(&self, app_id: &str, contract_id: &str) -> anyhow::Result<()> {
        Ok(self.store.delete_contract(app_id, contract_id).await?)
    }

    /// Replaces a contract's callback URLs.
    pub async fn set_callbacks(&self, app_id: &str, contract_id: &str, callbacks: Vec<String>) -> anyhow::Result<()> {
        for callback in &callbacks {
            validate_callback(callback)?;
        }
        Ok(self.store.update_callbacks(app_id, contract_id, callbacks).await?)
    }

    /// Adds a new server signing key and makes it active; returns its id.
    pub async fn rotate_signing_key(&self) -> anyhow::Result<String> {
        Ok(crate::service::signing::rotate(self.store.as_ref(), &self.master).await?)
    }
}
