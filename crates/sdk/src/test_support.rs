//! Test helpers: shared RSA keys and a small HTTP/1.1 server on 127.0.0.1 that records raw
//! requests and replies through a handler, so tests can check exact headers and body framing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use trove_protocol::b64;
use trove_protocol::jws::{self, Header};
use trove_protocol::keys::RsaPrivateKey;
use trove_protocol::wire::{Jwk, Jwks, TokenPair};

use crate::client::ContractDetails;

pub(crate) const SERVER_KID: &str = "server-key-1";

fn cached_pem(cell: &'static OnceLock<String>) -> RsaPrivateKey {
    let pem = cell.get_or_init(|| {
        RsaPrivateKey::generate(2048)
            .unwrap()
            .to_pkcs1_pem()
            .unwrap()
            .to_string()
    });
    RsaPrivateKey::from_pem(pem).unwrap()
}

/// Returns the contract key shared by all tests, because RSA key generation is slow in debug
/// builds.
pub(crate) fn contract_key() -> RsaPrivateKey {
    static PEM: OnceLock<String> = OnceLock::new();
    cached_pem(&PEM)
}

/// Returns the server signing key shared by all tests.
pub(crate) fn server_key() -> RsaPrivateKey {
    static PEM: OnceLock<String> = OnceLock::new();
    cached_pem(&PEM)
}

pub(crate) fn contract() -> ContractDetails {
    ContractDetails::new("contract-1", contract_key())
}

pub(crate) fn token_pair(access: &str, refresh: &str) -> TokenPair {
    TokenPair {
        access_token: access.into(),
        access_expires_on: 2_000_000_000,
        refresh_token: refresh.into(),
        refresh_expires_on: 2_000_000_000,
        user_id: "library-1".into(),
        consent_id: "consent-1".into(),
    }
}

/// Returns the JWKS document the mock server publishes.
pub(crate) fn jwks_body() -> Vec<u8> {
    let jwks = Jwks {
        keys: vec![Jwk::new(SERVER_KID, &server_key().public_key())],
    };
    serde_json::to_vec(&jwks).unwrap()
}

/// Signs `payload` as a server token whose `jku` points at `base_url + "jwks/oauth"`.
pub(crate) fn server_token(base_url: &str, kid: &str, payload: &Value) -> String {
    let header = Header::server(format!("{base_url}jwks/oauth"), kid);
    jws::sign(&header, payload, &server_key()).unwrap()
}

/// Returns the body of an `oauth/token` response carrying `access` and `refresh`.
pub(crate) fn token_response(base_url: &str, access: &str, refresh: &str) -> Vec<u8> {
    let payload = serde_json::json!({
        "access_token": {"value": access, "expires_on": 2_000_000_000},
        "refresh_token": {"value": refresh, "expires_on": 2_000_000_000},
        "sub": "library-1",
        "consentid": "consent-1",
        "identifier": {"id": "library-1"},
        "token_type": "Bearer",
    });
    serde_json::to_vec(&serde_json::json!({"token": server_token(base_url, SERVER_KID, &payload)}))
        .unwrap()
}

/// One request as the mock server received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    /// Path and query, for example `/v1.7/oauth/token`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// `true` when the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// The mock server's base URL, `http://127.0.0.1:PORT/v1.7/`.
    pub base_url: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Returns the path relative to the base URL, for example `oauth/token`.
    pub fn path(&self) -> &str {
        self.target.strip_prefix("/v1.7/").unwrap_or(&self.target)
    }

    /// Decodes a compact JWS without verifying it and returns (header, payload).
    pub fn decode_jwt(token: &str) -> (Value, Value) {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "not a compact JWS: {token}");
        let header = serde_json::from_slice(&b64::decode(parts[0]).unwrap()).unwrap();
        let payload = serde_json::from_slice(&b64::decode(parts[1]).unwrap()).unwrap();
        (header, payload)
    }

    /// Verifies the `Authorization: Bearer` JWT with the shared contract key and returns its
    /// claims.
    pub fn bearer_claims(&self) -> Value {
        let authorization = self
            .header("authorization")
            .expect("no Authorization header");
        let token = authorization
            .strip_prefix("Bearer ")
            .expect("not a Bearer authorization");
        jws::verify(token, &contract_key().public_key()).expect("the request JWT does not verify")
    }
}

/// A canned response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn json(status: u16, body: &Value) -> Self {
        Self::new(status)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap())
    }

    pub fn error(status: u16, code: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({"error": {"code": code, "message": "test", "reference": "ref-1"}}),
        )
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

/// A loopback HTTP/1.1 server for tests. It stops when dropped.
pub(crate) struct MockServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockServer {
    /// Starts a server on 127.0.0.1 with an OS-chosen port. The server replies to
    /// `GET /v1.7/jwks/oauth` with [`jwks_body`] and passes every other request to `handler`.
    pub async fn start(handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Handler = Arc::new(handler);
        let recorded = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (handler, recorded) = (Arc::clone(&handler), Arc::clone(&recorded));
                tokio::spawn(async move {
                    let _ = serve_connection(stream, addr, handler, recorded).await;
                });
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1.7/", self.addr)
    }

    /// Returns all requests so far, JWKS fetches included.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Requests so far to `path` (relative to the base URL).
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|request| request.path() == path)
            .collect()
    }
}

async fn serve_connection(
    stream: TcpStream,
    addr: SocketAddr,
    handler: Handler,
    recorded: Arc<Mutex<Vec<Recorded>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();

        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header line has a colon");
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let find = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let chunked =
            find("transfer-encoding").is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size_line = String::new();
                reader.read_line(&mut size_line).await?;
                let size =
                    usize::from_str_radix(size_line.trim().split(';').next().unwrap(), 16).unwrap();
                if size == 0 {
                    let mut end = String::new();
                    reader.read_line(&mut end).await?;
                    break;
                }
                let mut chunk = vec![0u8; size + 2];
                reader.read_exact(&mut chunk).await?;
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(length) = find("content-length") {
            let mut exact = vec![0u8; length.parse().unwrap()];
            reader.read_exact(&mut exact).await?;
            body = exact;
        }

        let request = Recorded {
            method,
            target,
            headers,
            body,
            chunked,
            base_url: format!("http://{addr}/v1.7/"),
        };
        recorded.lock().unwrap().push(request.clone());
        let reply = if request.method == "GET" && request.path() == "jwks/oauth" {
            Reply::new(200)
                .header("content-type", "application/json")
                .body(jwks_body())
        } else {
            handler(&request)
        };

        let mut head = format!(
            "HTTP/1.1 {} Test\r\ncontent-length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (name, value) in &reply.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let stream = reader.get_mut();
        stream.write_all(head.as_bytes()).await?;
        if request.method != "HEAD" {
            stream.write_all(&reply.body).await?;
        }
        stream.flush().await?;
    }
}
