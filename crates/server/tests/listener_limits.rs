//! Connection limits of the accept loop: slow or idle clients cannot hold connections open
//! for ever, and a cap bounds how many are open at once.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use trove_testkit::TestServer;

#[tokio::test]
async fn half_sent_headers_are_cut_off() {
    let server = TestServer::start_with(|config| config.header_read_timeout = Duration::from_millis(500)).await.unwrap();
    let mut stream = TcpStream::connect(server.server.addr).await.unwrap();
    stream.write_all(b"GET /v1.7/jwks/oauth HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer)).await;
    assert!(read.is_ok(), "the server must close a connection whose headers never finish");
    assert!(started.elapsed() < Duration::from_secs(3));
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_wait() {
    let server = TestServer::start_with(|config| {
        config.max_connections = 2;
        config.header_read_timeout = Duration::from_secs(30);
    })
    .await
    .unwrap();
    // Two idle connections take both slots.
    let _first = TcpStream::connect(server.server.addr).await.unwrap();
    let _second = TcpStream::connect(server.server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = format!("{}jwks/oauth", server.api_base());
    let client = reqwest::Client::new();
    let blocked = tokio::time::timeout(Duration::from_millis(700), client.get(&url).send()).await;
    assert!(blocked.is_err(), "a third connection is not served while two are open");
    drop(_first);
    let served = tokio::time::timeout(Duration::from_secs(5), client.get(&url).send()).await;
    assert_eq!(served.expect("served once a slot frees up").unwrap().status(), 200);
    server.stop().await;
}
