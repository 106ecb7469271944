//! SIGKILL of `trove serve` in the middle of many pushes: after a restart, every push that
//! got 201 reads back byte for byte, no file is half-written, and no temporary or
//! unreferenced blob remains.
//!
//! NOTE: SIGKILL leaves the kernel's page cache intact, so this catches responses sent before the
//! commit, half-written rows and leftover uploads, but not a missing fsync; only a power cut
//! would show that.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::digest;
use trove_sdk::{AuthorizeOptions, Client, ContractDetails, FileDescriptor, PullSessionOptions, Push, PushBody, PushRequest, TokenPair};
use trove_server::admin::{Admin, ContractKey};
use trove_server::store::ContractKind;
use trove_testkit::consent_browser::{ConsentBrowser, Decision};

const APP: &str = "crashapp";
const CALLBACK: &str = "https://app.example/cb";

fn start_server(data_dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trove"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("TROVE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let origin = line.trim().strip_prefix("listening on ").expect("the listening line").to_string();
    (child, origin)
}

fn client(origin: &str) -> Client {
    Client::builder(APP).base_url(format!("{origin}/v1.7/")).onboard_url(format!("{origin}/apps/saas/")).build().unwrap()
}

async fn consent(origin: &str, contract: &ContractDetails, link: Option<&TokenPair>) -> TokenPair {
    let client = client(origin);
    let mut options = AuthorizeOptions::new(contract, CALLBACK, "s");
    options.user_access_token = link.cloned();
    let authorize = client.get_authorize_url(options).await.unwrap();
    let callback = ConsentBrowser::new()
        .unwrap()
        .authorize(&authorize.url, "crash-person", "a long enough password", Decision::Allow, link.is_none())
        .await
        .unwrap();
    client.exchange_code_for_token(contract, callback.code.as_deref().unwrap(), &authorize.code_verifier).await.unwrap()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

fn body_for(worker: usize, round: usize) -> Vec<u8> {
    // Every fourth push is large enough to go to a blob file; the rest are stored inline.
    let length = if round % 4 == 0 { 3 << 20 } else { 1024 };
    (0..length).map(|index| ((index * 31 + worker * 7 + round * 13) % 251) as u8).collect()
}

fn files_under(path: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            found.extend(files_under(&entry.path()));
        } else {
            found.push(entry.path());
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_push_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (mut server, origin) = start_server(&data_dir);

    let admin = Admin::open(&data_dir).unwrap();
    admin.add_application(APP, "Crash test").await.unwrap();
    let mut keys = Vec::new();
    for (id, kind) in [("write", ContractKind::Write), ("raw", ContractKind::ReadRaw)] {
        let (_, private) = admin.add_contract(APP, id, kind, ContractKey::Generate, vec![CALLBACK.into()]).await.unwrap();
        keys.push(ContractDetails::from_pem(id, &private.unwrap().to_pkcs1_pem().unwrap()).unwrap());
    }
    drop(admin);
    let (write, raw) = (Arc::new(keys.remove(0)), keys.remove(0));
    let write_token = consent(&origin, &write, None).await;
    let raw_token = consent(&origin, &raw, Some(&write_token)).await;

    // Eight clients push until the server dies; each acknowledged push is recorded.
    let acknowledged: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let mut workers = Vec::new();
    for worker in 0..8 {
        let (write, token, acknowledged, origin) = (Arc::clone(&write), write_token.clone(), Arc::clone(&acknowledged), origin.clone());
        workers.push(tokio::spawn(async move {
            let client = client(&origin);
            for round in 0.. {
                let body = body_for(worker, round);
                let name = format!("w{worker}-r{round}");
                let mut descriptor = FileDescriptor::new("application/octet-stream");
                descriptor.file_name = Some(name.clone());
                let push = Push::Library { descriptor, body: PushBody::from(body.clone()) };
                match client.push_data(PushRequest::new(write.as_ref(), &token, push)).await {
                    Ok(_) => {
                        acknowledged.lock().unwrap().insert(name, sha256(&body));
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill().unwrap(); // SIGKILL: no shutdown code runs.
    server.wait().unwrap();
    for worker in workers {
        worker.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 8, "the run pushed too little to mean anything: {}", acknowledged.len());

    let (mut server, origin) = start_server(&data_dir);
    let client = client(&origin);
    let session = client.read_session(&raw, &raw_token, &PullSessionOptions::default()).await.unwrap().value;
    let entries = client.read_file_list(&raw, &raw_token, &session.key).await.unwrap().value.file_list.unwrap_or_default();
    let mut stored: HashMap<String, Vec<u8>> = HashMap::new();
    for entry in &entries {
        // Every stored file must decrypt completely, acknowledged or not.
        let file = client.read_file_to_vec(&raw, &raw_token, &session.key, &entry.name).await.unwrap().value;
        let name = file.metadata.metadata["filename"].as_str().unwrap().to_string();
        stored.insert(name, sha256(&file.data));
    }
    for (name, digest) in &acknowledged {
        assert_eq!(stored.get(name), Some(digest), "acknowledged push {name} lost or changed");
    }
    // Pushes committed just before the kill may have lost only their response: at most one per client.
    assert!(stored.len() <= acknowledged.len() + 8, "{} stored, {} acknowledged", stored.len(), acknowledged.len());

    let leftovers = files_under(&data_dir.join(trove_server::BLOB_DIR).join("tmp"));
    assert!(leftovers.is_empty(), "temporary uploads survive the restart: {leftovers:?}");
    server.kill().unwrap();
    server.wait().unwrap();
}
