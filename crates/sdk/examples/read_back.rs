//! Run against a local server after the `push` example has pushed some files:
//!
//! ```text
//! trove admin contract add --app demo --id read1 --kind read-raw \
//!     --generate-key read1.pem --callback http://127.0.0.1:9999/callback
//! cargo run -p trove-sdk --example read_back -- demo read1 read1.pem write-token.json read-token.json out/
//! ```
//!
//! Reads back every file pushed into the library with a read-raw contract and writes them into
//! the output folder. The first run links the read-raw contract to the library of the write
//! token. It prints a consent URL, reads the address the browser was sent to from standard
//! input, and saves the read token pair. Later runs reuse and refresh it. Set `TROVE_BASE_URL`
//! when the server does not listen on the default address.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trove_sdk::{
    AuthorizeOptions, Client, ContractDetails, PullSessionOptions, ReadAllOptions, TokenPair,
};

const CALLBACK: &str = "http://127.0.0.1:9999/callback";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [app_id, contract_id, key_path, write_token_path, read_token_path, out_dir] =
        args.as_slice()
    else {
        return Err(
            "usage: read_back APP_ID CONTRACT_ID KEY.pem WRITE_TOKEN.json READ_TOKEN.json OUT_DIR"
                .into(),
        );
    };
    let base_url =
        std::env::var("TROVE_BASE_URL").unwrap_or_else(|_| trove_sdk::DEFAULT_BASE_URL.into());

    let read_token_path = PathBuf::from(read_token_path);
    let saved_path = read_token_path.clone();
    let client = Client::builder(app_id.as_str())
        .base_url(base_url)
        // The server may rotate the refresh token on every refresh, so save each new pair.
        .on_token_change(Arc::new(move |pair: &TokenPair| {
            if let Err(error) = save_token(&saved_path, pair) {
                eprintln!(
                    "saving the refreshed token to {} failed: {error}",
                    saved_path.display()
                );
            }
        }))
        .build()?;
    let contract =
        ContractDetails::from_pem(contract_id.as_str(), &std::fs::read_to_string(key_path)?)?;

    let token = match load_token(&read_token_path)? {
        Some(token) => token,
        None => {
            let write_token = load_token(Path::new(write_token_path))?.ok_or_else(|| {
                format!("{write_token_path} not found: run the push example first")
            })?;
            let token = authorize_linked(&client, &contract, write_token).await?;
            save_token(&read_token_path, &token)?;
            token
        }
    };

    // sourceFetch false: only pushed files are wanted, so no source sync is started.
    let options = PullSessionOptions {
        source_fetch: Some(false),
        ..Default::default()
    };
    let session = client.read_session(&contract, &token, &options).await?;

    let out_dir = PathBuf::from(out_dir);
    tokio::fs::create_dir_all(&out_dir).await?;
    let target = out_dir.clone();
    let read_all = ReadAllOptions::new(session.value.key, move |file| {
        let target = target.join(&file.file_name);
        async move {
            let display_name = file
                .metadata
                .metadata
                .get("filename")
                .and_then(|name| name.as_str())
                .map(str::to_string);
            let mut reader = file.body.into_async_read();
            let mut output = tokio::fs::File::create(&target).await?;
            let bytes = tokio::io::copy(&mut reader, &mut output).await?;
            println!(
                "{} ({bytes} bytes, pushed as {display_name:?})",
                target.display()
            );
            Ok(())
        }
    });
    let result = client
        .read_all_files(&contract, &session.token, read_all)
        .await?;
    let outcome = result.value;
    println!(
        "state {}: {} files read into {}",
        outcome.status.state,
        outcome.files_read,
        out_dir.display()
    );
    for failure in &outcome.file_errors {
        eprintln!("{}: {}", failure.file_name, failure.error);
    }
    if outcome.timed_out {
        eprintln!("the session did not finish in time; run again to fetch the rest");
    }
    Ok(())
}

/// Authorizes the read-raw contract against the library of `write_token` and returns its pair.
async fn authorize_linked(
    client: &Client,
    contract: &ContractDetails,
    write_token: TokenPair,
) -> Result<TokenPair, Box<dyn Error>> {
    let state = format!("read-example-{}", std::process::id());
    let options = AuthorizeOptions {
        user_access_token: Some(write_token),
        ..AuthorizeOptions::new(contract, CALLBACK, state.as_str())
    };
    let authorize = client.get_authorize_url(options).await?;
    println!("Open this URL and allow access:\n\n  {}\n", authorize.url);
    println!("Then paste the address the browser was sent to ({CALLBACK}?...):");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;

    let callback = url::Url::parse(line.trim())?;
    let parameter = |name: &str| {
        callback
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    if parameter("success").as_deref() != Some("true") {
        return Err(format!("consent failed: errorCode={:?}", parameter("errorCode")).into());
    }
    if parameter("state").as_deref() != Some(state.as_str()) {
        return Err("the callback carries another state; paste the address from this run".into());
    }
    let code = parameter("code").ok_or("the callback address has no code parameter")?;
    Ok(client
        .exchange_code_for_token(contract, &code, &authorize.code_verifier)
        .await?)
}

fn load_token(path: &Path) -> Result<Option<TokenPair>, Box<dyn Error>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// Writes the token pair as JSON, readable by the owner only because it contains secrets.
fn save_token(path: &Path, token: &TokenPair) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    serde_json::to_writer_pretty(file, token)?;
    Ok(())
}
