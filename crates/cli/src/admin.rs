//! `trove admin`: applications, contracts, callbacks, signing keys and providers.

mod provider;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use trove_server::admin::{Admin, ContractKey};
use trove_server::store::deliveries::DeliveryState;
use trove_server::store::ContractKind;

/// Options of `trove admin`.
#[derive(Args)]
pub struct AdminArgs {
    /// Data directory to administer (the server may be running on it).
    #[arg(long, env = "TROVE_DATA_DIR", default_value = "./trove-data", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Applications.
    #[command(subcommand)]
    App(AppCommand),
    /// Contracts of an application.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Server token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Healthcare providers that apps push FHIR resources to.
    #[command(subcommand)]
    Provider(provider::ProviderCommand),
    /// List provider pushes in the delivery outbox, newest first, one JSON object per line
    /// (state, attempts, last error; never the pushed data).
    Deliveries {
        /// Only deliveries in this state: pending, delivered or failed.
        #[arg(long)]
        state: Option<String>,
    },
}

#[derive(Subcommand)]
enum AppCommand {
    /// Add an application.
    Add {
        /// Application id: letters, digits and '-'.
        #[arg(long)]
        id: String,
        /// Name shown on the consent page.
        #[arg(long)]
        name: String,
    },
    /// List applications, one JSON object per line.
    List,
    /// Remove an application with its contracts and every consent given to them.
    Remove {
        /// Application id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum ContractCommand {
    /// Add a contract to an application.
    Add {
        /// Application id.
        #[arg(long)]
        app: String,
        /// Contract id: letters, digits and '-'.
        #[arg(long)]
        id: String,
        /// What the contract may do: write, read or read-raw.
        #[arg(long)]
        kind: String,
        /// The app's RSA public key as a PKCS#1 or SPKI PEM file.
        #[arg(long, conflicts_with = "generate_key")]
        public_key: Option<PathBuf>,
        /// Generate an RSA-2048 pair and write the private key to this file (PKCS#1 PEM, mode 0600).
        #[arg(long)]
        generate_key: Option<PathBuf>,
        /// Allowed callback URL; repeat for several. Custom schemes such as myapp://auth work.
        #[arg(long = "callback")]
        callbacks: Vec<String>,
    },
    /// List contracts, one JSON object per line.
    List {
        /// Only this application's contracts.
        #[arg(long)]
        app: Option<String>,
    },
    /// Remove a contract and every consent given to it.
    Remove {
        /// Application id.
        #[arg(long)]
        app: String,
        /// Contract id.
        #[arg(long)]
        id: String,
    },
    /// Replace a contract's allowed callback URLs.
    Callbacks {
        /// Application id.
        #[arg(long)]
        app: String,
        /// Contract id.
        #[arg(long)]
        id: String,
        /// Allowed callback URL; repeat for several.
        #[arg(long = "callback", required = true)]
        callbacks: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Add a new signing key and make it active; the old one stays published for a day.
    Rotate,
}

/// Runs an admin command.
pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let admin = Admin::open(&args.data_dir)?;
    match args.command {
        AdminCommand::App(command) => run_app(&admin, command).await,
        AdminCommand::Contract(command) => run_contract(&admin, command).await,
        AdminCommand::Keys(KeysCommand::Rotate) => {
            let kid = admin.rotate_signing_key().await?;
            println!("{}", json!({ "kid": kid }));
            Ok(())
        }
        AdminCommand::Provider(command) => provider::run(&admin, command).await,
        AdminCommand::Deliveries { state } => list_deliveries(&admin, state.as_deref()).await,
    }
}

async fn list_deliveries(admin: &Admin, state: Option<&str>) -> anyhow::Result<()> {
    let state = state
        .map(|name| DeliveryState::parse(name).with_context(|| format!("invalid --state {name:?}: use pending, delivered or failed")))
        .transpose()?;
    for delivery in admin.list_deliveries(state).await? {
        println!("{}", serde_json::to_string(&delivery)?);
    }
    Ok(())
}

async fn run_app(admin: &Admin, command: AppCommand) -> anyhow::Result<()> {
    match command {
        AppCommand::Add { id, name } => {
            let application = admin.add_application(&id, &name).await?;
            println!("{}", serde_json::to_string(&application)?);
        }
        AppCommand::List => {
            for application in admin.list_applications().await? {
                println!("{}", serde_json::to_string(&application)?);
            }
        }
        AppCommand::Remove { id } => {
            admin.remove_application(&id).await?;
            println!("{}", json!({ "removed": id }));
        }
    }
    Ok(())
}

fn contract_line(contract: &trove_server::store::Contract) -> serde_json::Value {
    json!({
        "app": contract.app_id,
        "id": contract.id,
        "client_id": contract.client_id(),
        "kind": contract.kind.as_str(),
        "callbacks": contract.callbacks,
        "public_key_pem": contract.public_key_pem,
    })
}

async fn run_contract(admin: &Admin, command: ContractCommand) -> anyhow::Result<()> {
    match command {
        ContractCommand::Add { app, id, kind, public_key, generate_key, callbacks } => {
            let kind = ContractKind::parse(&kind)
                .with_context(|| format!("invalid --kind {kind:?}: use write, read or read-raw"))?;
            // A generated private key is written before the contract is registered, so a path
            // that cannot be written never leaves a contract without its private key.
            let key = match (&public_key, &generate_key) {
                (Some(path), _) => ContractKey::PublicPem(
                    std::fs::read_to_string(path).with_context(|| format!("reading the public key {}", path.display()))?,
                ),
                (None, Some(path)) => {
                    let private = trove_protocol::keys::RsaPrivateKey::generate(2048)?;
                    let pem = private.to_pkcs1_pem()?;
                    trove_server::service::envelope::write_private_file(path, pem.as_bytes()).with_context(|| {
                        format!("writing the private key to {} (the file must not exist yet)", path.display())
                    })?;
                    ContractKey::PublicPem(private.public_key().to_pkcs1_pem())
                }
                (None, None) => anyhow::bail!("give --public-key FILE or --generate-key NEW_FILE"),
            };
            let added = admin.add_contract(&app, &id, kind, key, callbacks).await;
            let contract = match added {
                Ok((contract, _)) => contract,
                Err(error) => {
                    if let Some(path) = &generate_key {
                        let _ = std::fs::remove_file(path);
                    }
                    return Err(error);
                }
            };
            println!("{}", contract_line(&contract));
        }
        ContractCommand::List { app } => {
            for contract in admin.list_contracts(app.as_deref()).await? {
                println!("{}", contract_line(&contract));
            }
        }
        ContractCommand::Remove { app, id } => {
            admin.remove_contract(&app, &id).await?;
            println!("{}", json!({ "removed": format!("{app}_{id}") }));
        }
        ContractCommand::Callbacks { app, id, callbacks } => {
            admin.set_callbacks(&app, &id, callbacks.clone()).await?;
            println!("{}", json!({ "client_id": format!("{app}_{id}"), "callbacks": callbacks }));
        }
    }
    Ok(())
}
