//! `trove fhir validate`: offline validation of FHIR STU3 JSON files, with the same rules the
//! server applies to provider pushes.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Options of `trove fhir`.
#[derive(Args)]
pub struct FhirArgs {
    #[command(subcommand)]
    command: FhirCommand,
}

#[derive(Subcommand)]
enum FhirCommand {
    /// Validate FHIR STU3 JSON files (a resource or a Bundle each); exits 1 when any is invalid.
    Validate {
        /// Files to validate.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// Runs a FHIR command.
pub fn run(args: FhirArgs) -> anyhow::Result<()> {
    let FhirCommand::Validate { files } = args.command;
    let mut invalid = 0;
    for path in &files {
        let outcome = std::fs::read(path)
            .map_err(|error| format!("cannot be read: {error}"))
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|error| format!("is not JSON: {error}")));
        let document = match outcome {
            Ok(document) => document,
            Err(problem) => {
                invalid += 1;
                println!("{}: invalid: the file {problem}", path.display());
                continue;
            }
        };
        match trove_fhir::validate(&document) {
            Ok(()) => println!("{}: valid", path.display()),
            Err(errors) => {
                invalid += 1;
                println!("{}: invalid", path.display());
                for issue in &errors.issues {
                    println!("  {}: {}", issue.path, issue.message);
                }
            }
        }
    }
    if invalid > 0 {
        anyhow::bail!("{invalid} of {} file(s) are not valid FHIR STU3", files.len());
    }
    Ok(())
}
