//! Run against a local server (each `trove` line in its own shell or in the background):
//!
//! ```text
//! trove serve
//! trove admin app add --id demo --name "Demo app"
//! trove admin contract add --app demo --id write1 --kind write \
//!     --generate-key write1.pem --callback http://127.0.0.1:9999/callback
//! cargo run -p trove-sdk --example push -- demo write1 write1.pem write-token.json FILE...
//! ```
//!
//! Pushes each FILE into the user's library with a write contract. The first run has no token
//! file yet, so the example prints a consent URL. Sign in or create a library in the browser,
//! then paste the address the browser was sent to (the callback page need not load). The token
//! pair is then saved to the token file, and later runs reuse and refresh it. Set
//! `TROVE_BASE_URL` when the server does not listen on the default address.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use trove_sdk::{
    AuthorizeOptions, Client, ContractDetails, FileDescriptor, Push, PushBody, PushRequest,
    TokenPair,
};

const CALLBACK: &str = "http://127.0.0.1:9999/callback";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [app_id, contract_id, key_path, token_path, files @ ..] = args.as_slice() else {
        return Err("usage: push APP_ID CONTRACT_ID KEY.pem TOKEN.json FILE...".into());
    };
    if files.is_empty() {
        return Err(
            "usage: push APP_ID CONTRACT_ID KEY.pem TOKEN.json FILE... (no FILE given)".into(),
        );
    }
    let base_url =
        std::env::var("TROVE_BASE_URL").unwrap_or_else(|_| trove_sdk::DEFAULT_BASE_URL.into());

    let token_path = PathBuf::from(token_path);
    let saved_path = token_path.clone();
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

    let mut token = match load_token(&token_path)? {
        Some(token) => token,
        None => {
            let token = authorize(&client, &contract).await?;
            save_token(&token_path, &token)?;
            token
        }
    };

    for file in files {
        let path = PathBuf::from(file);
        let mut descriptor = FileDescriptor::new(guess_mime_type(&path));
        descriptor.file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned());
        let push = Push::Library {
            descriptor,
            body: PushBody::File(path.clone()),
        };
        let result = client
            .push_data(PushRequest::new(&contract, &token, push))
            .await?;
        println!(
            "pushed {}: {}",
            path.display(),
            result.value.unwrap_or_default()
        );
        token = result.token;
    }
    Ok(())
}

/// Runs the consent flow on the terminal and returns the new token pair.
async fn authorize(
    client: &Client,
    contract: &ContractDetails,
) -> Result<TokenPair, Box<dyn Error>> {
    let state = format!("push-example-{}", std::process::id());
    let authorize = client
        .get_authorize_url(AuthorizeOptions::new(contract, CALLBACK, state.as_str()))
        .await?;
    println!(
        "Open this URL, sign in or create a library, and allow access:\n\n  {}\n",
        authorize.url
    );
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

fn guess_mime_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|extension| extension.to_str())
        .unwrap_or_default();
    match extension.to_ascii_lowercase().as_str() {
        "pdf" => "application/pdf",
        "json" => "application/json",
        "txt" | "md" => "text/plain",
        "csv" => "text/csv",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}
