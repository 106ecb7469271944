//! Benchmarks of a real `trove serve` process on loopback.
//!
//! Run: `cargo build --release --bin trove --bin trove-bench && target/release/trove-bench all`
//!
//! - `small`: durable, authenticated 1 KiB library pushes per second at 16 concurrent
//!   clients. Request JWTs are signed before the timed loop.
//! - `large`: one large push streamed from memory, then read back and decrypted by the SDK;
//!   reports MB/s for each and the server's peak resident memory, sampled from /proc.
//!
//! The server runs as a separate process (the `trove` binary next to this one) so that its
//! memory is measured alone; the consent flow is walked over HTTP like a browser would.

mod memory;
mod setup;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use futures::StreamExt;
use trove_protocol::claims::UserClaims;
use trove_protocol::jws::{self, Header};
use trove_sdk::{FileDescriptor, PullSessionOptions};

use crate::memory::PeakSampler;
use crate::setup::BenchServer;

#[derive(Parser)]
#[command(about = "Benchmarks of a trove server process on loopback")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// 1 KiB pushes per second.
    Small {
        /// Pushes in the timed run.
        #[arg(long, default_value_t = 20_000)]
        pushes: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Large push and read-back throughput and server memory, at each size in MiB.
    Large {
        /// Sizes in MiB; the peak memory should not grow with them.
        #[arg(long, value_delimiter = ',', default_value = "256,1024")]
        sizes_mib: Vec<u64>,
    },
    /// Both, with default settings.
    All,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Small { pushes, concurrency } => small(pushes, concurrency).await,
        Command::Large { sizes_mib } => large(&sizes_mib).await,
        Command::All => {
            small(20_000, 16).await?;
            large(&[256, 1024]).await
        }
    }
}

async fn small(pushes: usize, concurrency: usize) -> anyhow::Result<()> {
    let server = BenchServer::start().await?;
    let session = server.write_session().await?;
    let client_id = format!("{}_{}", setup::APP_ID, session.contract.contract_id);

    let mut descriptor = FileDescriptor::new("application/octet-stream");
    descriptor.tags = Some(vec!["bench".into()]);
    let descriptor_jwt = jws::sign(
        &Header::client(),
        &trove_protocol::claims::FileDescriptorClaims { metadata: serde_json::to_value(&descriptor)? },
        &session.contract.private_key,
    )?;

    println!("signing {pushes} request JWTs before the timed run ...");
    let key = Arc::new(session.contract.private_key);
    let access = session.token.access_token.clone();
    let threads = std::thread::available_parallelism().map(|count| count.get()).unwrap_or(2);
    let per_thread = pushes.div_ceil(threads);
    let mut handles = Vec::new();
    for _ in 0..threads {
        let (key, client_id, access) = (Arc::clone(&key), client_id.clone(), access.clone());
        handles.push(std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
            (0..per_thread)
                .map(|_| Ok(jws::sign(&Header::client(), &UserClaims::new(&client_id, &access), &key)?))
                .collect()
        }));
    }
    let mut bearers = Vec::with_capacity(pushes);
    for handle in handles {
        bearers.extend(handle.join().expect("signing thread")?);
    }
    bearers.truncate(pushes);
    let bearers = Arc::new(bearers);

    let body = Bytes::from(vec![0x5au8; 1024]);
    let url = format!("{}permission-access/import", server.api_base());
    let http = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let sampler = PeakSampler::start(server.pid());
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (http, url, body, descriptor_jwt) = (http.clone(), url.clone(), body.clone(), descriptor_jwt.clone());
        let (bearers, next, failures) = (Arc::clone(&bearers), Arc::clone(&next), Arc::clone(&failures));
        workers.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= bearers.len() {
                    break;
                }
                let response = http
                    .post(&url)
                    .bearer_auth(&bearers[index])
                    .header("content-type", "application/octet-stream")
                    .header("filedescriptor", &descriptor_jwt)
                    .body(body.clone())
                    .send()
                    .await;
                let created = matches!(&response, Ok(response) if response.status() == reqwest::StatusCode::CREATED);
                if !created && failures.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("first failed push: {response:?}");
                }
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let elapsed = started.elapsed();
    let peak = sampler.stop();
    let failed = failures.load(Ordering::Relaxed);
    let rate = (pushes - failed) as f64 / elapsed.as_secs_f64();
    println!(
        "small: {} pushes of 1 KiB at concurrency {concurrency} in {:.2} s = {:.0} pushes/s ({failed} failed); server peak RSS {:.1} MiB",
        pushes - failed,
        elapsed.as_secs_f64(),
        rate,
        peak as f64 / 1048576.0
    );
    server.stop();
    if failed > 0 {
        bail!("{failed} pushes failed");
    }
    Ok(())
}

fn pattern_stream(total: u64) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    const CHUNK: usize = 1 << 20;
    let chunk = Bytes::from((0..CHUNK).map(|index| (index * 31 % 251) as u8).collect::<Vec<u8>>());
    let chunks = total.div_ceil(CHUNK as u64);
    futures::stream::iter(0..chunks).map(move |index| {
        let remaining = total - index * CHUNK as u64;
        Ok(chunk.slice(..(remaining.min(CHUNK as u64) as usize)))
    })
}

async fn large(sizes_mib: &[u64]) -> anyhow::Result<()> {
    let server = BenchServer::start().await?;
    let write = server.write_session().await?;
    let read = server.read_session(&write.token).await?;
    let client = server.sdk_client()?;

    for &mib in sizes_mib {
        let total = mib << 20;
        let mut descriptor = FileDescriptor::new("application/octet-stream");
        descriptor.file_name = Some(format!("large-{mib}.bin"));
        let body = trove_sdk::PushBody::from_stream_factory(move || pattern_stream(total));
        let sampler = PeakSampler::start(server.pid());
        let started = Instant::now();
        client
            .push_data(trove_sdk::PushRequest::new(
                &write.details,
                &write.token,
                trove_sdk::Push::Library { descriptor, body },
            ))
            .await
            .context("large push")?;
        let push_time = started.elapsed();
        let push_peak = sampler.stop();

        let session = client.read_session(&read.details, &read.token, &PullSessionOptions::default()).await?;
        let list = client.read_file_list(&read.details, &read.token, &session.value.key).await?;
        let wanted = format!("large-{mib}.bin");
        let mut target = None;
        for entry in list.value.file_list.unwrap_or_default() {
            let metadata = client.read_file_metadata(&read.details, &read.token, &session.value.key, &entry.name).await?;
            if metadata.value.metadata.metadata.get("filename").and_then(|name| name.as_str()) == Some(wanted.as_str()) {
                target = Some(entry.name);
            }
        }
        let name = target.context("the pushed file is not in the file list")?;
        let sampler = PeakSampler::start(server.pid());
        let started = Instant::now();
        let download = client.read_file(&read.details, &read.token, &session.value.key, &name).await?;
        let mut reader = download.value.body.into_async_read();
        let received = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await?;
        let read_time = started.elapsed();
        let read_peak = sampler.stop();
        if received != total {
            bail!("read back {received} bytes, pushed {total}");
        }
        let rate = |time: Duration| total as f64 / 1e6 / time.as_secs_f64();
        println!(
            "large {mib} MiB: push {:.0} MB/s (server peak RSS {:.1} MiB), read-back {:.0} MB/s decrypted (server peak RSS {:.1} MiB)",
            rate(push_time),
            push_peak as f64 / 1048576.0,
            rate(read_time),
            read_peak as f64 / 1048576.0
        );
    }
    server.stop();
    Ok(())
}
