//! `trove authorize`, `trove push` and `trove read`: an app's side of the flow against a running
//! server, with the token pair kept in a file that is rewritten whenever it is refreshed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trove_sdk::{AuthorizeOptions, Client, ContractDetails, FileDescriptor, PullSessionOptions, Push, PushBody, PushRequest, TokenPair};

use crate::demo::mime_type_for;

/// How long `trove authorize` waits for the browser to come back.
const CALLBACK_WAIT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Files at least this large get a progress bar.
const PROGRESS_MIN_BYTES: u64 = 8 << 20;

/// Connection and identity options shared by the client commands.
#[derive(Args)]
pub struct AppArgs {
    /// API base URL including the prefix.
    #[arg(long, env = "TROVE_BASE_URL", default_value = "http://127.0.0.1:8080/v1.7/")]
    base_url: String,
    /// Application id.
    #[arg(long, env = "TROVE_APP")]
    app: String,
    /// Contract id.
    #[arg(long, env = "TROVE_CONTRACT")]
    contract: String,
    /// The contract's RSA private key (PKCS#1 or PKCS#8 PEM).
    #[arg(long, env = "TROVE_KEY")]
    key: PathBuf,
    /// File holding the user's token pair as JSON; rewritten after every refresh.
    #[arg(long, env = "TROVE_TOKEN_FILE")]
    token_file: PathBuf,
}

impl AppArgs {
    fn contract(&self) -> anyhow::Result<ContractDetails> {
        let pem = std::fs::read_to_string(&self.key).with_context(|| format!("reading {}", self.key.display()))?;
        Ok(ContractDetails::from_pem(self.contract.clone(), &pem)?)
    }

    fn client(&self) -> anyhow::Result<Client> {
        let token_file = self.token_file.clone();
        let callback: trove_sdk::TokenChangeCallback = Arc::new(move |token: &TokenPair| {
            if let Err(error) = write_token(&token_file, token) {
                eprintln!("warning: could not save the refreshed token pair: {error:#}");
            }
        });
        let origin = url::Url::parse(&self.base_url).with_context(|| format!("invalid --base-url {:?}", self.base_url))?;
        // The consent pages live at /apps/saas/ on the API's origin.
        let onboard = format!("{}://{}/apps/saas/", origin.scheme(), origin.authority());
        Ok(Client::builder(&self.app).base_url(&self.base_url).onboard_url(onboard).on_token_change(callback).build()?)
    }

    fn token(&self) -> anyhow::Result<TokenPair> {
        let text = std::fs::read_to_string(&self.token_file)
            .with_context(|| format!("reading the token file {}; create it with 'trove authorize'", self.token_file.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a token file", self.token_file.display()))
    }
}

fn write_token(path: &Path, token: &TokenPair) -> anyhow::Result<()> {
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    trove_server::service::envelope::write_private_file(&temporary, serde_json::to_string_pretty(token)?.as_bytes())?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

/// Options of `trove authorize`.
#[derive(Args)]
pub struct AuthorizeArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Loopback callback registered for the contract, e.g. http://127.0.0.1:8765/callback; the
    /// command listens there for the browser's return.
    #[arg(long)]
    callback: String,
    /// Link to the library of the token pair in this file instead of creating a new one.
    #[arg(long)]
    link_token_file: Option<PathBuf>,
    /// Consent page language, e.g. nl.
    #[arg(long)]
    locale: Option<String>,
}

/// Asks the user to consent in a browser and saves the resulting token pair.
pub async fn authorize(args: AuthorizeArgs) -> anyhow::Result<()> {
    let callback = url::Url::parse(&args.callback).with_context(|| format!("invalid --callback {:?}", args.callback))?;
    let host = callback.host_str().unwrap_or_default();
    if callback.scheme() != "http" || !(host == "127.0.0.1" || host == "localhost") {
        bail!("--callback must be an http URL on 127.0.0.1 or localhost, so this command can receive it");
    }
    let port = callback.port().context("--callback needs an explicit port")?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.with_context(|| format!("listening on port {port}"))?;

    let contract = args.app.contract()?;
    let client = args.app.client()?;
    let state = trove_protocol::random::alphanumeric(16);
    let mut options = AuthorizeOptions::new(&contract, args.callback.clone(), state.clone());
    if let Some(path) = &args.link_token_file {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        options.user_access_token = Some(serde_json::from_str(&text)?);
    }
    options.locale = args.locale.clone();
    let authorize = client.get_authorize_url(options).await?;
    println!("Open this URL in a browser to give consent:\n\n  {}\n\nWaiting for the browser to return to {} ...", authorize.url, args.callback);

    let query = tokio::time::timeout(CALLBACK_WAIT, receive_callback(&listener))
        .await
        .map_err(|_| anyhow::anyhow!("no browser returned to {} within {} minutes; run the command again", args.callback, CALLBACK_WAIT.as_secs() / 60))??;
    let field = |name: &str| query.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    if field("success").as_deref() != Some("true") {
        bail!("consent was not given: errorCode {}", field("errorCode").unwrap_or_else(|| "missing".into()));
    }
    if field("state").as_deref() != Some(state.as_str()) {
        bail!("the callback's state does not match this request; ignoring it");
    }
    let code = field("code").context("the callback carried no code")?;
    let token = client.exchange_code_for_token(&contract, &code, &authorize.code_verifier).await?;
    write_token(&args.app.token_file, &token)?;
    println!("Saved the token pair for library {} to {}", token.user_id, args.app.token_file.display());
    Ok(())
}

async fn receive_callback(listener: &tokio::net::TcpListener) -> anyhow::Result<Vec<(String, String)>> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let mut request = vec![0u8; 16 * 1024];
        let read = stream.read(&mut request).await?;
        let head = String::from_utf8_lossy(&request[..read]).to_string();
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let page = "<!doctype html><meta charset=utf-8><title>Trove</title><p>You can close this window and return to the terminal.</p>";
        let response = format!("HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}", page.len());
        stream.write_all(response.as_bytes()).await?;
        let parsed = url::Url::parse(&format!("http://127.0.0.1{target}"))?;
        let query: Vec<(String, String)> = parsed.query_pairs().map(|(key, value)| (key.to_string(), value.to_string())).collect();
        if query.iter().any(|(key, _)| key == "success") {
            return Ok(query);
        }
    }
}

/// Options of `trove push`.
#[derive(Args)]
pub struct PushArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Tags stored with every file; repeat for several.
    #[arg(long = "tag", conflicts_with = "provider")]
    tags: Vec<String>,
    /// Push each file, a FHIR STU3 JSON resource or Bundle, to the healthcare provider of this
    /// PUSH account instead of into the library.
    #[arg(long, value_name = "ACCOUNT")]
    provider: Option<String>,
    /// Files to push.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn progress_bar(length: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(length);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("valid progress template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar
}

fn body_with_progress(path: PathBuf, bar: ProgressBar) -> PushBody {
    PushBody::from_stream_factory(move || {
        let path = path.clone();
        let bar = bar.clone();
        bar.set_position(0);
        async_stream_file(path).map(move |chunk| {
            if let Ok(bytes) = &chunk {
                bar.inc(bytes.len() as u64);
            }
            chunk
        })
    })
}

fn async_stream_file(path: PathBuf) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures::stream::once(async move { tokio::fs::File::open(path).await })
        .map(|opened| match opened {
            Ok(file) => tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).boxed(),
            Err(error) => futures::stream::once(async move { Err(error) }).boxed(),
        })
        .flatten()
}

/// Pushes files into the library of the saved token pair.
pub async fn push(args: PushArgs) -> anyhow::Result<()> {
    let contract = args.app.contract()?;
    let client = args.app.client()?;
    let mut token = args.app.token()?;
    if let Some(account_id) = &args.provider {
        return push_to_provider(&client, &contract, token, account_id, &args.files).await;
    }
    for path in &args.files {
        let name = path.file_name().map(|name| name.to_string_lossy().to_string()).unwrap_or_default();
        let metadata = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if !metadata.is_file() {
            bail!("{} is not a regular file; give the files to push one by one", path.display());
        }
        let size = metadata.len();
        let mut descriptor = FileDescriptor::new(mime_type_for(&name));
        descriptor.file_name = Some(name.clone());
        if !args.tags.is_empty() {
            descriptor.tags = Some(args.tags.clone());
        }
        let bar = (size >= PROGRESS_MIN_BYTES).then(|| progress_bar(size, &name));
        let body = match &bar {
            Some(bar) => body_with_progress(path.clone(), bar.clone()),
            None => PushBody::File(path.clone()),
        };
        let result = client
            .push_data(PushRequest::new(&contract, &token, Push::Library { descriptor, body }))
            .await
            .with_context(|| format!("pushing {}", path.display()))?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        token = result.token;
        let stored = result.value.as_ref().and_then(|value| value.get("name")).and_then(|name| name.as_str()).unwrap_or("?");
        println!("pushed {name} ({size} bytes) as {stored}");
    }
    Ok(())
}

/// Pushes FHIR STU3 JSON files to a provider account and prints each reply: delivered, or
/// pending in Trove's outbox when the provider could not be reached.
async fn push_to_provider(
    client: &Client,
    contract: &ContractDetails,
    mut token: TokenPair,
    account_id: &str,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    for path in files {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
        let push = Push::Provider { standard: "fhir".into(), version: "stu3".into(), account_id: account_id.to_string(), json };
        let result = client
            .push_data(PushRequest::new(contract, &token, push))
            .await
            .with_context(|| format!("pushing {} to account {account_id}", path.display()))?;
        token = result.token;
        let reply = result.value.unwrap_or(serde_json::Value::Null);
        println!("{}: {reply}", path.display());
    }
    Ok(())
}

/// Options of `trove read`.
#[derive(Args)]
pub struct ReadArgs {
    #[command(flatten)]
    app: AppArgs,
    /// Directory to write the files to; created when missing.
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

/// Reads back every file the read-raw contract can see and writes it to `--out`.
pub async fn read(args: ReadArgs) -> anyhow::Result<()> {
    let contract = args.app.contract()?;
    let client = args.app.client()?;
    let token = args.app.token()?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let session = client.read_session(&contract, &token, &PullSessionOptions::default()).await?;
    let mut token = session.token;
    let list = client.read_file_list(&contract, &token, &session.value.key).await?;
    token = list.token;
    for entry in list.value.file_list.unwrap_or_default() {
        let download = client.read_file(&contract, &token, &session.value.key, &entry.name).await?;
        token = download.token;
        let file = download.value;
        let display = file.metadata.metadata.get("filename").and_then(|value| value.as_str()).unwrap_or(&entry.name);
        // Only the last path component of a stored display name is used, so a name cannot
        // escape the output directory.
        let safe_name = Path::new(display).file_name().map(|name| name.to_os_string()).unwrap_or_else(|| entry.name.clone().into());
        let target = args.out.join(format!("{}-{}", entry.name, safe_name.to_string_lossy()));
        // The files are a person's data: readable by the owner only.
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true).mode(0o600);
        let mut output = options.open(&target).await.with_context(|| format!("creating {}", target.display()))?;
        let mut reader = file.body.into_async_read();
        let copied = tokio::io::copy(&mut reader, &mut output).await?;
        output.sync_all().await?;
        println!("read {} ({copied} bytes) -> {}", display, target.display());
    }
    Ok(())
}
