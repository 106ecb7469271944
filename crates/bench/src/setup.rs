//! Starts a `trove serve` process on a temporary data directory and obtains token pairs through
//! the real consent flow.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use anyhow::{bail, Context};
use trove_protocol::keys::RsaPrivateKey;
use trove_sdk::{AuthorizeOptions, Client, ContractDetails, TokenPair};
use trove_server::admin::{Admin, ContractKey};
use trove_server::store::ContractKind;
use trove_testkit::consent_browser::{ConsentBrowser, Decision};

/// Application id the benchmarks register.
pub const APP_ID: &str = "bench";
const CALLBACK: &str = "http://127.0.0.1/bench-callback";
const USERNAME: &str = "bench-person";
const PASSWORD: &str = "bench password 2026";

/// A server process and the directory it uses.
pub struct BenchServer {
    child: Child,
    api_base: String,
    onboard: String,
    admin: Admin,
    _dir: tempfile::TempDir,
}

/// A contract with a token pair of one library.
pub struct Session {
    /// Contract key and id as the bench signs with them.
    pub contract: Registered,
    /// The same contract as the SDK takes it.
    pub details: ContractDetails,
    /// Token pair.
    pub token: TokenPair,
}

/// A registered contract.
pub struct Registered {
    /// Contract id.
    pub contract_id: String,
    /// Private key.
    pub private_key: RsaPrivateKey,
}

impl BenchServer {
    /// Starts the `trove` binary that sits next to this executable.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let binary = std::env::current_exe()?.with_file_name("trove");
        if !binary.exists() {
            bail!("{} is missing; build it with: cargo build --release --bin trove --bin trove-bench", binary.display());
        }
        let mut child = Command::new(&binary)
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("TROVE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("server stdout")?).read_line(&mut line)?;
        let origin = line.trim().strip_prefix("listening on ").context("unexpected first line from trove serve")?.to_string();
        let admin = Admin::open(dir.path())?;
        admin.add_application(APP_ID, "Benchmark").await?;
        Ok(Self { child, api_base: format!("{origin}/v1.7/"), onboard: format!("{origin}/apps/saas/"), admin, _dir: dir })
    }

    /// API base URL.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// Server process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An SDK client for this server.
    pub fn sdk_client(&self) -> anyhow::Result<Client> {
        Ok(Client::builder(APP_ID).base_url(&self.api_base).onboard_url(&self.onboard).build()?)
    }

    async fn register(&self, contract_id: &str, kind: ContractKind) -> anyhow::Result<Registered> {
        let (_, private) = self
            .admin
            .add_contract(APP_ID, contract_id, kind, ContractKey::Generate, vec![CALLBACK.to_string()])
            .await?;
        Ok(Registered { contract_id: contract_id.into(), private_key: private.context("generated key")? })
    }

    async fn consent(&self, contract: Registered, link: Option<&TokenPair>, create: bool) -> anyhow::Result<Session> {
        let client = self.sdk_client()?;
        let pem = contract.private_key.to_pkcs1_pem()?;
        let details = ContractDetails::from_pem(contract.contract_id.clone(), &pem)?;
        let mut options = AuthorizeOptions::new(&details, CALLBACK, "bench");
        options.user_access_token = link.cloned();
        let authorize = client.get_authorize_url(options).await?;
        let callback = ConsentBrowser::new()?.authorize(&authorize.url, USERNAME, PASSWORD, Decision::Allow, create).await?;
        let code = callback.code.context("consent gave no code")?;
        let token = client.exchange_code_for_token(&details, &code, &authorize.code_verifier).await?;
        Ok(Session { contract, details, token })
    }

    /// Registers a write contract and consents with a new library.
    pub async fn write_session(&self) -> anyhow::Result<Session> {
        let contract = self.register("write", ContractKind::Write).await?;
        self.consent(contract, None, true).await
    }

    /// Registers a read-raw contract linked to the library of `token`.
    pub async fn read_session(&self, token: &TokenPair) -> anyhow::Result<Session> {
        let contract = self.register("readraw", ContractKind::ReadRaw).await?;
        self.consent(contract, Some(token), false).await
    }

    /// Stops the server process.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
