//! The `trove` command: run the server, administer a data directory, run the end-to-end demo,
//! and push or read files as an app would.
//!
//! Run `trove --help` for the list of commands; docs/cli.md describes each one.

mod admin;
mod client;
mod demo;
mod fhir;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "trove", version, about = "Self-hostable personal data library speaking the digi.me API")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Manage applications, contracts and signing keys of a data directory.
    Admin(admin::AdminArgs),
    /// Validate FHIR STU3 files offline.
    Fhir(fhir::FhirArgs),
    /// Run the whole flow end to end on real files against a temporary in-process server.
    Demo(demo::DemoArgs),
    /// Get a user's consent in a browser and save the token pair (loopback callback).
    Authorize(client::AuthorizeArgs),
    /// Push files into the library of a saved token pair.
    Push(client::PushArgs),
    /// Read back every file a read-raw contract can see.
    Read(client::ReadArgs),
}

fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TROVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Suggests a next step for failures whose message alone does not.
fn hint_for(error: &anyhow::Error) -> Option<&'static str> {
    let sdk_error = error.chain().find_map(|cause| cause.downcast_ref::<trove_sdk::Error>())?;
    match sdk_error {
        trove_sdk::Error::Transport(transport) if transport.is_connect() => {
            Some("no server answered; is 'trove serve' running at the --base-url?")
        }
        trove_sdk::Error::Http { status, .. } if status.as_u16() == 404 => {
            Some("the server has no such route; --base-url must include the API prefix, e.g. http://127.0.0.1:8080/v1.7/")
        }
        _ => None,
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The server logs at info; the client commands and the demo print their own results and
    // log only warnings unless TROVE_LOG says otherwise.
    let default_level = if matches!(cli.command, Command::Serve(_) | Command::Admin(_)) { "info" } else { "warn" };
    init_tracing(default_level);
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Admin(args) => admin::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Fhir(args) => fhir::run(args),
        Command::Authorize(args) => client::authorize(args).await,
        Command::Push(args) => client::push(args).await,
        Command::Read(args) => client::read(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if let Some(hint) = hint_for(&error) {
                eprintln!("hint: {hint}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
