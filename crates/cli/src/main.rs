//! The `trove` command: run the server, administer a data directory, run the end-to-end demo,
//! and push or read files as an app would.
//!
//! Run `trove --help` for the list of commands; docs/cli.md describes each one.

mod admin;
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
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TROVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Admin(args) => admin::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
