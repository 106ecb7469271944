//! `trove demo`: the whole flow end to end on real files, against a server started in this
//! process on a temporary database and data directory.
//!
//! It registers an application with a write and a read-raw contract, and creates a library on
//! the consent page by fetching the page and submitting its forms as a browser would. It
//! exchanges the code and pushes every file. Then it links the read-raw contract with the write
//! contract's access token, reads every file back, and checks each SHA-256 against what was
//! pushed.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use aws_lc_rs::digest;
use clap::Args;
use trove_sdk::{
    AuthorizeOptions, Client, ContractDetails, FileDescriptor, Push, PushBody, PushRequest, SourceType, TokenPair,
};
use trove_server::admin::{NewProvider, NewProviderAuth};
use trove_server::store::ContractKind;
use trove_testkit::consent_browser::{ConsentBrowser, Decision};
use trove_testkit::TestServer;

const APP_ID: &str = "trove-demo";
const CALLBACK: &str = "http://127.0.0.1/demo-callback";
/// Bearer token of the demo's built-in sandbox provider, used to look at what it received.
const SANDBOX_TOKEN: &str = "trove-demo-sandbox";
/// The FHIR STU3 record the demo pushes to the sandbox provider.
const BLOOD_PRESSURE: &[u8] = include_bytes!("../samples/observation-blood-pressure.json");

/// Sample files pushed when none are given: a PDF, a JPEG and a JSON document.
const SAMPLES: &[(&str, &[u8])] = &[
    ("sample-receipt.pdf", include_bytes!("../samples/sample-receipt.pdf")),
    ("sample-photo.jpg", include_bytes!("../samples/sample-photo.jpg")),
    ("sample-receipt.json", include_bytes!("../samples/sample-receipt.json")),
];

/// Options of `trove demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Files to push and read back; bundled samples when none are given.
    files: Vec<PathBuf>,
}

struct Pushed {
    name: String,
    size: u64,
    sha256: String,
}

/// Returns a MIME type for a file name by its extension.
pub fn mime_type_for(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "pdf" => "application/pdf",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "json" => "application/json",
        "txt" => "text/plain",
        "csv" => "text/csv",
        "xml" => "application/xml",
        "html" | "htm" => "text/html",
        _ => "application/octet-stream",
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    trove_server::service::hashing::hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

async fn file_sha256(path: &std::path::Path) -> anyhow::Result<(u64, String)> {
    use tokio::io::AsyncReadExt;
    let mut file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
    let mut context = digest::Context::new(&digest::SHA256);
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        size += read as u64;
        context.update(&buffer[..read]);
    }
    Ok((size, trove_server::service::hashing::hex(context.finish().as_ref())))
}

/// The result of one consent flow.
struct Consented {
    token: TokenPair,
    session_key: String,
    account_reference: Option<String>,
}

async fn consent(
    client: &Client,
    browser: &ConsentBrowser,
    contract: &ContractDetails,
    link_with: Option<&TokenPair>,
    create_library: bool,
    source_type: SourceType,
) -> anyhow::Result<Consented> {
    let state = trove_protocol::random::alphanumeric(16);
    let mut options = AuthorizeOptions::new(contract, CALLBACK, state.clone());
    options.user_access_token = link_with.cloned();
    options.source_type = source_type;
    let authorize = client.get_authorize_url(options).await?;
    let callback = browser
        .authorize(&authorize.url, "demo-person", "demo password 2026", Decision::Allow, create_library)
        .await
        .context("walking the consent page")?;
    if !callback.success {
        bail!("consent failed with error code {:?}", callback.error_code);
    }
    if callback.state.as_deref() != Some(state.as_str()) {
        bail!("the callback returned state {:?}, expected {state:?}", callback.state);
    }
    let code = callback.code.context("the callback carried no code")?;
    let token = client.exchange_code_for_token(contract, &code, &authorize.code_verifier).await?;
    Ok(Consented { token, session_key: authorize.session.key, account_reference: callback.account_reference })
}

/// Connects the library to the built-in sandbox provider through the consent page, pushes a
/// blood-pressure Observation to it, and prints what the provider stored.
async fn push_to_sandbox_provider(
    server: &TestServer,
    client: &Client,
    browser: &ConsentBrowser,
    write: &ContractDetails,
) -> anyhow::Result<()> {
    server
        .admin
        .add_provider(NewProvider {
            id: None,
            name: "Huisartsenpraktijk Sandbox".into(),
            organization_type: "general-practitioner".into(),
            data_services: vec!["measurements-vital-signs".into()],
            fhir_base_url: None,
            auth: NewProviderAuth::Sandbox,
            published_status: "approved".into(),
            allow_loopback: true,
        })
        .await?;
    let consented = consent(client, browser, write, None, false, SourceType::Push).await?;
    let reference = consented.account_reference.context("the push consent returned no accountReference")?;
    let accounts = client.read_accounts(write, &consented.token).await?;
    let account = accounts
        .value
        .iter()
        .find(|account| account.reference == reference)
        .context("no account of the library has the callback's accountReference")?;
    println!("provider account {} ({}) connected through the consent page", account.id, account.r#type);

    let observation: serde_json::Value = serde_json::from_slice(BLOOD_PRESSURE)?;
    let push = Push::Provider {
        standard: "fhir".into(),
        version: "stu3".into(),
        account_id: account.id.clone(),
        json: observation,
    };
    let answer = client.push_data(PushRequest::new(write, &accounts.token, push)).await.context("pushing to the provider")?;
    let answer = answer.value.unwrap_or_default();
    println!(
        "provider push {}: provider answered {}, location {}",
        answer["status"].as_str().unwrap_or("?"),
        answer["providerStatus"],
        answer["location"].as_str().unwrap_or("-")
    );

    let received: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/sandbox/fhir/Observation", server.server.public_url))
        .bearer_auth(SANDBOX_TOKEN)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let entries = received["entry"].as_array().cloned().unwrap_or_default();
    if entries.is_empty() {
        bail!("no Observation found at the sandbox provider after the push");
    }
    for entry in entries {
        let resource = &entry["resource"];
        let components: Vec<String> = resource["component"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|component| {
                format!(
                    "{} {} {}",
                    component["code"]["coding"][0]["display"].as_str().unwrap_or("?"),
                    component["valueQuantity"]["value"],
                    component["valueQuantity"]["unit"].as_str().unwrap_or("")
                )
            })
            .collect();
        println!(
            "provider received Observation/{}: {} ({}), {}",
            resource["id"].as_str().unwrap_or("?"),
            resource["code"]["coding"][0]["display"].as_str().unwrap_or("?"),
            resource["status"].as_str().unwrap_or("?"),
            components.join(", ")
        );
    }
    Ok(())
}

/// Checks the given files before anything starts: each must be a readable regular file, and
/// their names must differ, because read-back matches files by name.
fn check_files(files: &[PathBuf]) -> anyhow::Result<()> {
    let mut names = std::collections::HashSet::new();
    for path in files {
        let metadata = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if !metadata.is_file() {
            bail!("{} is not a regular file", path.display());
        }
        let name = path.file_name().map(|name| name.to_string_lossy().to_string()).unwrap_or_default();
        if !names.insert(name.clone()) {
            bail!("two files are named {name}; give files distinct names");
        }
    }
    Ok(())
}

/// Runs the demo and fails on any mismatch.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    check_files(&args.files)?;
    let server = TestServer::start_with(|config| {
        config.sandbox_provider = true;
        config.sandbox_provider_token = Some(SANDBOX_TOKEN.into());
    })
    .await?;
    println!("server   {} (data in a temporary directory)", server.api_base());
    let write = server.add_contract(APP_ID, "write", ContractKind::Write, &[CALLBACK]).await?;
    let read = server.add_contract(APP_ID, "readraw", ContractKind::ReadRaw, &[CALLBACK]).await?;
    let write = ContractDetails::new(write.contract_id, write.private_key);
    let read = ContractDetails::new(read.contract_id, read.private_key);
    let client = Client::builder(APP_ID).base_url(server.api_base()).onboard_url(server.onboard_base()).build()?;
    let browser = ConsentBrowser::new()?;

    let write_token = consent(&client, &browser, &write, None, true, SourceType::Pull).await?.token;
    println!("consent  write contract allowed; library {}", write_token.user_id);

    let sources: Vec<(String, PushBody, u64, String)> = if args.files.is_empty() {
        SAMPLES
            .iter()
            .map(|(name, bytes)| (name.to_string(), PushBody::from(bytes.to_vec()), bytes.len() as u64, sha256_hex(bytes)))
            .collect()
    } else {
        let mut sources = Vec::new();
        for path in &args.files {
            let (size, sha) = file_sha256(path).await?;
            let name = path.file_name().map(|name| name.to_string_lossy().to_string()).unwrap_or_default();
            sources.push((name, PushBody::File(path.clone()), size, sha));
        }
        sources
    };

    let mut pushed: HashMap<String, Pushed> = HashMap::new();
    let mut token = write_token.clone();
    for (name, body, size, sha256) in sources {
        let mut descriptor = FileDescriptor::new(mime_type_for(&name));
        descriptor.file_name = Some(name.clone());
        descriptor.tags = Some(vec!["trove-demo".into()]);
        descriptor.accounts = vec![trove_sdk::DescriptorAccount { account_id: "demo-account".into() }];
        let result = client
            .push_data(PushRequest::new(&write, &token, Push::Library { descriptor, body }))
            .await
            .with_context(|| format!("pushing {name}"))?;
        token = result.token;
        if pushed.contains_key(&name) {
            bail!("two files are named {name}; give files distinct names");
        }
        pushed.insert(name.clone(), Pushed { name, size, sha256 });
    }
    println!("push     {} file(s) pushed with the write contract", pushed.len());

    let linked = consent(&client, &browser, &read, Some(&token), false, SourceType::Pull).await?;
    let (read_token, session_key) = (linked.token, linked.session_key);
    if read_token.user_id != write_token.user_id {
        bail!("the read-raw contract was linked to library {}, not {}", read_token.user_id, write_token.user_id);
    }
    println!("consent  read-raw contract linked to the same library");

    let list = client.read_file_list(&read, &read_token, &session_key).await?;
    let mut read_token = list.token;
    let entries = list.value.file_list.unwrap_or_default();
    if entries.len() != pushed.len() {
        bail!("the file list has {} file(s), {} were pushed", entries.len(), pushed.len());
    }
    let mut mismatches = 0;
    let mut rows = Vec::new();
    for entry in entries {
        let download = client.read_file_to_vec(&read, &read_token, &session_key, &entry.name).await?;
        read_token = download.token;
        let file = download.value;
        let display_name = file.metadata.metadata.get("filename").and_then(|value| value.as_str()).unwrap_or(&entry.name).to_string();
        let sha256 = sha256_hex(&file.data);
        let expected = pushed.get(&display_name);
        let matches = expected.is_some_and(|expected| expected.sha256 == sha256 && expected.size == file.data.len() as u64);
        if !matches {
            mismatches += 1;
        }
        rows.push(format!(
            "{:<28} {:>10} bytes  sha256 {}  {}",
            expected.map(|pushed| pushed.name.as_str()).unwrap_or(&display_name),
            file.data.len(),
            sha256,
            if matches { "ok" } else { "MISMATCH" }
        ));
    }
    rows.sort();
    for row in &rows {
        println!("{row}");
    }
    if mismatches > 0 {
        server.stop().await;
        bail!("{mismatches} file(s) read back differ from what was pushed");
    }
    let provider = push_to_sandbox_provider(&server, &client, &browser, &write).await;
    server.stop().await;
    provider?;
    println!("done     every file read back matches what was pushed");
    Ok(())
}
