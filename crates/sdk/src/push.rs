//! Pushing data: raw files into the user's library, or FHIR JSON to a provider account.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::Method;
use trove_protocol::claims::FileDescriptorClaims;
use trove_protocol::jws::{self, Header};
use trove_protocol::wire::{FileDescriptor, TokenPair};

use crate::client::{Client, ContractDetails, TokenChangeCallback, WithToken};
use crate::error::{Error, Result};
use crate::refresh::RefreshOn;
use crate::transport::{
    check_status, parse_optional_json, path_segment, read_optional_json, JSON, OCTET_STREAM,
};

/// A function that returns a fresh stream of the same bytes each time it is called.
pub type StreamFactory = Arc<dyn Fn() -> BoxStream<'static, io::Result<Bytes>> + Send + Sync>;

/// The bytes of a library push, in a form that can be sent again.
///
/// When the access token has expired the push is sent a second time after the refresh, so the
/// body must be readable twice: a plain stream would already be spent.
#[derive(Clone)]
pub enum PushBody {
    /// Bytes in memory, sent with `Content-Length`.
    Bytes(Bytes),
    /// A file streamed from disk, sent with `Content-Length` taken from its metadata when it is
    /// opened.
    File(PathBuf),
    /// A stream opened anew for every attempt, sent with `Transfer-Encoding: chunked`.
    Stream(StreamFactory),
}

impl PushBody {
    /// Creates a body from a function returning a fresh stream on each call.
    pub fn from_stream_factory<F, S>(factory: F) -> Self
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: Stream<Item = io::Result<Bytes>> + Send + 'static,
    {
        PushBody::Stream(Arc::new(move || factory().boxed()))
    }

    /// Opens the body for one attempt, returning it with its length when known.
    async fn open(&self) -> Result<(reqwest::Body, Option<u64>)> {
        match self {
            PushBody::Bytes(bytes) => {
                Ok((reqwest::Body::from(bytes.clone()), Some(bytes.len() as u64)))
            }
            PushBody::File(path) => {
                let file = tokio::fs::File::open(path).await.map_err(|error| {
                    Error::Io(io::Error::new(
                        error.kind(),
                        format!("opening {}: {error}", path.display()),
                    ))
                })?;
                let length = file.metadata().await?.len();
                let stream = tokio_util::io::ReaderStream::new(file);
                Ok((reqwest::Body::wrap_stream(stream), Some(length)))
            }
            PushBody::Stream(factory) => Ok((reqwest::Body::wrap_stream(factory()), None)),
        }
    }
}

impl From<Bytes> for PushBody {
    fn from(bytes: Bytes) -> Self {
        PushBody::Bytes(bytes)
    }
}

impl From<Vec<u8>> for PushBody {
    fn from(bytes: Vec<u8>) -> Self {
        PushBody::Bytes(Bytes::from(bytes))
    }
}

impl From<PathBuf> for PushBody {
    fn from(path: PathBuf) -> Self {
        PushBody::File(path)
    }
}

impl fmt::Debug for PushBody {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushBody::Bytes(bytes) => write!(formatter, "PushBody::Bytes({} bytes)", bytes.len()),
            PushBody::File(path) => write!(formatter, "PushBody::File({})", path.display()),
            PushBody::Stream(_) => formatter.write_str("PushBody::Stream"),
        }
    }
}

/// The data of a push: a library file or a provider document.
#[derive(Debug, Clone)]
pub enum Push {
    /// A raw file into the user's library (`POST permission-access/import`). Read-raw contracts
    /// of the same application can read it back.
    Library {
        /// Describes the file; it travels signed in the `FileDescriptor` header.
        descriptor: FileDescriptor,
        /// The file bytes, sent as they are.
        body: PushBody,
    },
    /// A JSON document to a provider account
    /// (`POST permission-access/import/h:accountId/{standard}/{version}`).
    Provider {
        /// The data standard, `fhir` in the digi.me SDKs.
        standard: String,
        /// The standard's version, `stu3` or `3.0.2` in the digi.me SDKs.
        version: String,
        /// The provider account's id from `read_accounts`, sent in the `accountId` header.
        account_id: String,
        /// The document, a JSON object (typically a FHIR Bundle).
        json: serde_json::Value,
    },
}

/// Arguments of [`Client::push_data`].
#[derive(Clone)]
pub struct PushRequest<'a> {
    /// The write contract.
    pub contract: &'a ContractDetails,
    /// The user's token pair for that contract.
    pub token: &'a TokenPair,
    /// The data to push.
    pub push: Push,
    /// Told the new pair after a refresh, instead of the client's callback.
    pub on_token_change: Option<TokenChangeCallback>,
}

impl fmt::Debug for PushRequest<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("PushRequest")
            .field("contract", &self.contract)
            .field("token", &self.token)
            .field("push", &self.push)
            .field("on_token_change", &self.on_token_change.is_some())
            .finish()
    }
}

impl<'a> PushRequest<'a> {
    /// Creates a request without a per-call token callback.
    pub fn new(contract: &'a ContractDetails, token: &'a TokenPair, push: Push) -> Self {
        Self {
            contract,
            token,
            push,
            on_token_change: None,
        }
    }
}

/// Signs the `FileDescriptor` header: a PS512 JWS whose payload is only `{"metadata": ...}`.
pub(crate) fn descriptor_jwt(
    descriptor: &FileDescriptor,
    contract: &ContractDetails,
) -> Result<String> {
    let metadata = serde_json::to_value(descriptor).map_err(|error| {
        Error::InvalidArgument(format!("the file descriptor cannot be serialized: {error}"))
    })?;
    Ok(jws::sign(
        &Header::client(),
        &FileDescriptorClaims { metadata },
        &contract.private_key,
    )?)
}

/// Reports whether the access token's expiry (Unix seconds, 0 when unknown) has passed.
fn is_expired(token: &TokenPair) -> bool {
    token.access_expires_on > 0 && token.access_expires_on <= trove_protocol::time::now_s()
}

fn check_provider(
    standard: &str,
    version: &str,
    account_id: &str,
    json: &serde_json::Value,
) -> Result<()> {
    if standard.is_empty() || version.is_empty() {
        return Err(Error::InvalidArgument(
            "a provider push needs a non-empty standard and version".into(),
        ));
    }
    if account_id.is_empty() {
        return Err(Error::InvalidArgument(
            "a provider push needs the provider account id".into(),
        ));
    }
    if !json.is_object() {
        return Err(Error::InvalidArgument(
            "a provider push body must be a JSON object".into(),
        ));
    }
    Ok(())
}

impl Client {
    /// Pushes a file into the user's library or a JSON document to a provider account.
    ///
    /// Returns the server's JSON reply when it sent one. Trove replies to a library push with
    /// `{"status":"delivered"}`, which the official SDKs ignore. Any 401 refreshes the token
    /// pair once and sends the body again.
    ///
    /// Unlike the Node SDK, a library push also refreshes first when the access token's
    /// `expires_on` has already passed by the local clock.
    ///
    /// NOTE: when the server rejects a token that has not expired yet (revoked, or a skewed
    /// clock) before it has read a large body, it closes the connection. The push then fails
    /// with [`Error::Transport`] (broken pipe) instead of a 401, so no refresh happens.
    pub async fn push_data(
        &self,
        request: PushRequest<'_>,
    ) -> Result<WithToken<Option<serde_json::Value>>> {
        let PushRequest {
            contract,
            token,
            push,
            on_token_change,
        } = request;
        match push {
            Push::Library { descriptor, body } => {
                let descriptor_header =
                    HeaderValue::from_str(&descriptor_jwt(&descriptor, contract)?).map_err(
                        |_| {
                            Error::InvalidArgument(
                                "the signed file descriptor is not a valid header".into(),
                            )
                        },
                    )?;
                // A server that rejects the token before reading a large body closes the
                // connection, and the client then sees a broken pipe instead of the 401. So an
                // access token already past its expiry is refreshed before the upload.
                let callback = self.token_callback(on_token_change.as_ref());
                let (token, refreshed_early) = if is_expired(token) {
                    tracing::debug!("access token expired before a library push, refreshing");
                    let fresh = self.refresh_token(contract, token).await?;
                    if let Some(callback) = callback {
                        callback(&fresh);
                    }
                    (fresh, true)
                } else {
                    (token.clone(), false)
                };
                let mut result = self
                    .user_call(
                        contract,
                        &token,
                        RefreshOn::AnyUnauthorized,
                        on_token_change.as_ref(),
                        |token| self.push_library_once(contract, token, &descriptor_header, &body),
                    )
                    .await?;
                result.refreshed |= refreshed_early;
                Ok(result)
            }
            Push::Provider {
                standard,
                version,
                account_id,
                json,
            } => {
                check_provider(&standard, &version, &account_id, &json)?;
                let account_header = HeaderValue::from_str(&account_id).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "the account id {account_id:?} is not a valid header value"
                    ))
                })?;
                let path = format!(
                    "permission-access/import/h:accountId/{}/{}",
                    path_segment(&standard),
                    path_segment(&version)
                );
                let body = serde_json::to_vec(&json).map_err(|error| {
                    Error::InvalidArgument(format!(
                        "the provider document cannot be serialized: {error}"
                    ))
                })?;
                let body = Bytes::from(body);
                self.user_call(
                    contract,
                    token,
                    RefreshOn::InvalidToken,
                    on_token_change.as_ref(),
                    |token| {
                        self.push_provider_once(
                            contract,
                            token,
                            &path,
                            &account_header,
                            body.clone(),
                        )
                    },
                )
                .await
            }
        }
    }

    async fn push_library_once(
        &self,
        contract: &ContractDetails,
        token: TokenPair,
        descriptor_header: &HeaderValue,
        body: &PushBody,
    ) -> Result<Option<serde_json::Value>> {
        let endpoint = "permission-access/import";
        let url = self.url(endpoint);
        let (opened, length) = body.open().await?;
        let mut opened = Some(opened);
        let response = self
            .execute(&Method::POST, endpoint, || {
                let request_body = opened.take().ok_or_else(|| {
                    Error::InvalidArgument("a push body is sent only once".into())
                })?;
                let mut builder = self
                    .request(Method::POST, &url, false)
                    .header(
                        AUTHORIZATION,
                        self.user_bearer(contract, &token.access_token)?,
                    )
                    .header(CONTENT_TYPE, OCTET_STREAM)
                    .header("FileDescriptor", descriptor_header.clone());
                // reqwest sets Content-Length for in-memory bytes itself; a file stream needs it
                // set here or it would go out chunked.
                if let (Some(length), PushBody::File(_)) = (length, body) {
                    builder = builder.header(CONTENT_LENGTH, length);
                }
                Ok(builder.body(request_body))
            })
            .await?;
        let response = check_status(response).await?;
        // The reply is not part of the contract: keep it when it is JSON, ignore it otherwise.
        let reply = response.bytes().await?;
        Ok(parse_optional_json(&reply, endpoint).unwrap_or(None))
    }

    async fn push_provider_once(
        &self,
        contract: &ContractDetails,
        token: TokenPair,
        path: &str,
        account_header: &HeaderValue,
        body: Bytes,
    ) -> Result<Option<serde_json::Value>> {
        let url = self.url(path);
        let response = self
            .execute(&Method::POST, path, || {
                Ok(self
                    .request(Method::POST, &url, true)
                    .header(
                        AUTHORIZATION,
                        self.user_bearer(contract, &token.access_token)?,
                    )
                    .header(CONTENT_TYPE, JSON)
                    .header(reqwest::header::ACCEPT, JSON)
                    .header("accountId", account_header.clone())
                    .body(body.clone()))
            })
            .await?;
        read_optional_json(check_status(response).await?, path).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::contract;
    use serde_json::json;
    use trove_protocol::jws::Unverified;
    use trove_protocol::wire::descriptor::DescriptorAccount;

    #[test]
    fn descriptor_jwt_has_only_metadata() {
        let contract = contract();
        let mut descriptor = FileDescriptor::new("application/pdf");
        descriptor.accounts.push(DescriptorAccount {
            account_id: "acc-1".into(),
        });
        descriptor.tags = Some(vec!["receipt".into()]);
        descriptor.file_name = Some("receipt.pdf".into());
        let token = descriptor_jwt(&descriptor, &contract).unwrap();

        let parsed = Unverified::parse(&token).unwrap();
        assert_eq!(parsed.header.alg, "PS512");
        assert_eq!(parsed.header.typ.as_deref(), Some("JWT"));
        assert!(parsed.header.kid.is_none());
        assert!(parsed.header.jku.is_none());
        let payload = parsed.verify(&contract.private_key.public_key()).unwrap();
        assert_eq!(
            payload,
            json!({"metadata": {
                "mimeType": "application/pdf",
                "accounts": [{"accountId": "acc-1"}],
                "tags": ["receipt"],
                "fileName": "receipt.pdf",
            }})
        );
    }

    #[test]
    fn provider_push_is_checked() {
        let object = json!({"resourceType": "Bundle"});
        assert!(check_provider("fhir", "stu3", "acc", &object).is_ok());
        assert!(check_provider("", "stu3", "acc", &object).is_err());
        assert!(check_provider("fhir", "", "acc", &object).is_err());
        assert!(check_provider("fhir", "stu3", "", &object).is_err());
        assert!(check_provider("fhir", "stu3", "acc", &json!([1, 2])).is_err());
    }

    #[test]
    fn push_body_debug_shows_no_content() {
        let body = PushBody::from(b"secret file content".to_vec());
        assert_eq!(format!("{body:?}"), "PushBody::Bytes(19 bytes)");
    }
}
