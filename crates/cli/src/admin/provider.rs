//! `trove admin provider`: the directory of healthcare providers that apps push FHIR resources
//! to, and the import of the MedMij provider list (ZAL).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Subcommand, ValueEnum};
use serde_json::json;
use trove_server::admin::{Admin, NewProvider, NewProviderAuth, SecretString, ZalImportOptions};
use trove_server::service::zal::MAX_ZAL_BYTES;
use trove_server::store::{Provider, ProviderAuth};

/// Largest accepted secret file, in bytes.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Authorization method by which Trove may push to a provider.
#[derive(Clone, Copy, ValueEnum)]
pub enum AuthKind {
    /// OAuth 2.0 authorization code flow with PKCE at the provider, once per person.
    Oauth,
    /// One bearer token, read from --bearer-token-file, for every push.
    Static,
    /// Trove's built-in sandbox provider; no authorization step.
    Sandbox,
}

#[derive(Subcommand)]
pub enum ProviderCommand {
    /// Add a provider.
    Add {
        /// Provider id, which apps see as the source id; default: the next free one.
        #[arg(long)]
        id: Option<i64>,
        /// Name shown on the consent page.
        #[arg(long)]
        name: String,
        /// MedMij organization type, such as general-practitioner or hospital.
        #[arg(long)]
        organization_type: String,
        /// Data service the provider accepts, such as documents; repeat for several.
        #[arg(long = "data-service", required = true)]
        data_services: Vec<String>,
        /// FHIR STU3 base URL that pushes go to; optional for --auth sandbox.
        #[arg(long)]
        fhir_base_url: Option<String>,
        /// Authorization method: oauth, static or sandbox.
        #[arg(long, value_enum)]
        auth: AuthKind,
        /// OAuth: Trove's client id at the provider.
        #[arg(long, required_if_eq("auth", "oauth"))]
        client_id: Option<String>,
        /// OAuth: file holding Trove's client secret (leave out for a public client).
        #[arg(long)]
        client_secret_file: Option<PathBuf>,
        /// OAuth: the provider's authorization endpoint.
        #[arg(long, required_if_eq("auth", "oauth"))]
        authorize_endpoint: Option<String>,
        /// OAuth: the provider's token endpoint.
        #[arg(long, required_if_eq("auth", "oauth"))]
        token_endpoint: Option<String>,
        /// OAuth: scope to request, space-separated.
        #[arg(long)]
        scope: Option<String>,
        /// Static: file holding the bearer token.
        #[arg(long, required_if_eq("auth", "static"))]
        bearer_token_file: Option<PathBuf>,
        /// Discovery status: approved, pending, deprecated, blocked or sampledataonly. Only
        /// approved providers are offered on consent pages.
        #[arg(long, default_value = "approved")]
        published_status: String,
        /// Accept http URLs on loopback hosts (127.0.0.0/8, ::1, localhost), for tests.
        #[arg(long)]
        allow_loopback: bool,
    },
    /// Change a provider's name, organization type or published status. Imported providers
    /// need an organization type before consent pages can filter them by one.
    Set {
        /// Provider id.
        #[arg(long)]
        id: i64,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// New MedMij organization type, such as general-practitioner or hospital.
        #[arg(long)]
        organization_type: Option<String>,
        /// New discovery status: approved, pending, deprecated, blocked or sampledataonly.
        #[arg(long)]
        published_status: Option<String>,
    },
    /// List providers, one JSON object per line; secrets are never printed.
    List,
    /// Remove a provider.
    Remove {
        /// Provider id.
        #[arg(long)]
        id: i64,
        /// Also remove the libraries' accounts at this provider, which ends their pushes.
        #[arg(long)]
        with_accounts: bool,
    },
    /// Import a MedMij provider list (ZAL, release 2 XML). Only a list whose Volgnummer is
    /// greater than that of the last imported list is accepted.
    ImportZal {
        /// The ZAL XML file.
        file: PathBuf,
        /// Trove's OAuth client id at the listed providers.
        #[arg(long)]
        client_id: String,
        /// File holding Trove's OAuth client secret at the listed providers, if they issue one.
        #[arg(long)]
        client_secret_file: Option<PathBuf>,
        /// Accept http URIs on loopback hosts (127.0.0.0/8, ::1, localhost), for tests.
        #[arg(long)]
        allow_loopback: bool,
    },
}

/// Reads a secret from a file, without its trailing line break.
fn read_secret(path: &Path) -> anyhow::Result<SecretString> {
    let size = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if size > MAX_SECRET_FILE_BYTES {
        bail!("{} is {size} bytes; a secret file may hold at most {MAX_SECRET_FILE_BYTES} bytes", path.display());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let secret = text.trim_end_matches(['\r', '\n']);
    if secret.is_empty() {
        bail!("{} is empty", path.display());
    }
    Ok(SecretString::from(secret.to_string()))
}

/// Reads a ZAL file, rejecting one larger than the import accepts before reading it whole.
fn read_zal(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_ZAL_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > MAX_ZAL_BYTES {
        bail!("{} is larger than the limit of {MAX_ZAL_BYTES} bytes", path.display());
    }
    Ok(bytes)
}

fn provider_line(provider: &Provider) -> serde_json::Value {
    let mut line = json!({
        "id": provider.id,
        "name": provider.name,
        "organization_type": provider.organization_type,
        "data_services": provider.data_services,
        "fhir_base_url": provider.fhir_base_url,
        "auth": provider.auth.kind(),
        "published_status": provider.published_status,
        "zal_identity": provider.zal_identity,
    });
    if let ProviderAuth::OAuth { client_id, client_secret, authorize_endpoint, token_endpoint, scope } = &provider.auth {
        line["client_id"] = json!(client_id);
        line["has_client_secret"] = json!(client_secret.is_some());
        line["authorize_endpoint"] = json!(authorize_endpoint);
        line["token_endpoint"] = json!(token_endpoint);
        line["scope"] = json!(scope);
    }
    line
}

/// Runs a provider command.
pub async fn run(admin: &Admin, command: ProviderCommand) -> anyhow::Result<()> {
    match command {
        ProviderCommand::Add {
            id,
            name,
            organization_type,
            data_services,
            fhir_base_url,
            auth,
            client_id,
            client_secret_file,
            authorize_endpoint,
            token_endpoint,
            scope,
            bearer_token_file,
            published_status,
            allow_loopback,
        } => {
            let auth = match auth {
                AuthKind::Oauth => NewProviderAuth::OAuth {
                    client_id: client_id.context("--client-id is required with --auth oauth")?,
                    client_secret: client_secret_file.as_deref().map(read_secret).transpose()?,
                    authorize_endpoint: authorize_endpoint.context("--authorize-endpoint is required with --auth oauth")?,
                    token_endpoint: token_endpoint.context("--token-endpoint is required with --auth oauth")?,
                    scope,
                },
                AuthKind::Static => NewProviderAuth::Static {
                    bearer_token: read_secret(&bearer_token_file.context("--bearer-token-file is required with --auth static")?)?,
                },
                AuthKind::Sandbox => NewProviderAuth::Sandbox,
            };
            let new = NewProvider {
                id,
                name,
                organization_type,
                data_services,
                fhir_base_url,
                auth,
                published_status,
                allow_loopback,
            };
            let provider = admin.add_provider(new).await?;
            println!("{}", provider_line(&provider));
        }
        ProviderCommand::Set { id, name, organization_type, published_status } => {
            let provider = admin
                .set_provider(id, name.as_deref(), organization_type.as_deref(), published_status.as_deref())
                .await?;
            println!("{}", provider_line(&provider));
        }
        ProviderCommand::List => {
            for provider in admin.list_providers().await? {
                println!("{}", provider_line(&provider));
            }
        }
        ProviderCommand::Remove { id, with_accounts } => {
            let accounts = admin.remove_provider(id, with_accounts).await?;
            println!("{}", json!({ "removed": id, "accounts_removed": accounts }));
        }
        ProviderCommand::ImportZal { file, client_id, client_secret_file, allow_loopback } => {
            let input = read_zal(&file)?;
            let client_secret = client_secret_file.as_deref().map(read_secret).transpose()?;
            let options = ZalImportOptions { allow_loopback, client_id, client_secret };
            let summary = admin
                .import_zal(&input, options)
                .await
                .with_context(|| format!("importing {}", file.display()))?;
            println!("{}", serde_json::to_string(&summary)?);
        }
    }
    Ok(())
}
