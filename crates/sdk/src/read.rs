//! Reading data back: sessions, accounts, file lists, file downloads, and deleting the user.

use std::fmt;

use futures::{StreamExt, TryStreamExt};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, LAST_MODIFIED};
use reqwest::Method;
use serde::Deserialize;
use trove_protocol::wire::{
    Account, FileList, PullSessionOptions, Session, TokenPair, TriggerBody, XMetadata,
};

use crate::authorize::agent;
use crate::client::{Client, ContractDetails, WithToken};
use crate::download::{Compression, DecryptedStream};
use crate::error::{Error, Result};
use crate::refresh::RefreshOn;
use crate::transport::{
    check_status, path_segment, read_json, read_optional_json, RequestExt, OCTET_STREAM,
};

/// A file being downloaded: its metadata, and its payload as a stream.
#[derive(Debug)]
pub struct FileDownload {
    /// The file name from the file list.
    pub file_name: String,
    /// The decoded `x-metadata` header. For pushed files `metadata.metadata` contains the stored
    /// descriptor with lower-cased member names (`mimetype`, `accounts[].accountid`, ...).
    pub metadata: XMetadata,
    /// The `Last-Modified` header as sent, when present.
    pub last_modified: Option<String>,
    /// The decrypted, decompressed payload.
    pub body: DecryptedStream,
}

impl FileDownload {
    /// Reads the whole payload into memory.
    pub async fn into_downloaded(self) -> Result<DownloadedFile> {
        let data = self.body.to_vec().await?;
        Ok(DownloadedFile {
            file_name: self.file_name,
            metadata: self.metadata,
            last_modified: self.last_modified,
            data,
        })
    }
}

/// A downloaded file held in memory.
#[derive(Clone)]
pub struct DownloadedFile {
    /// The file name from the file list.
    pub file_name: String,
    /// The decoded `x-metadata` header.
    pub metadata: XMetadata,
    /// The `Last-Modified` header as sent, when present.
    pub last_modified: Option<String>,
    /// The decrypted, decompressed payload.
    pub data: Vec<u8>,
}

impl fmt::Debug for DownloadedFile {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("DownloadedFile")
            .field("file_name", &self.file_name)
            .field("metadata", &self.metadata)
            .field("last_modified", &self.last_modified)
            .field("data_len", &self.data.len())
            .finish()
    }
}

/// A file's metadata, read without its body.
#[derive(Debug, Clone)]
pub struct FileMetadata {
    /// The file name.
    pub file_name: String,
    /// The decoded `x-metadata` header.
    pub metadata: XMetadata,
    /// The `Last-Modified` header as sent, when present.
    pub last_modified: Option<String>,
}

#[derive(Deserialize)]
struct TriggerResponse {
    session: Session,
}

/// Rejects a session key or file name that cannot be one path segment.
fn check_segment(kind: &str, value: &str) -> Result<()> {
    if value.is_empty() || value == "." || value == ".." {
        return Err(Error::InvalidArgument(format!(
            "the {kind} {value:?} is not a valid path segment"
        )));
    }
    Ok(())
}

fn parse_file_headers(headers: &HeaderMap, endpoint: &str) -> Result<(XMetadata, Option<String>)> {
    let raw = headers
        .get("x-metadata")
        .ok_or_else(|| Error::unexpected(endpoint, "the x-metadata header is missing"))?
        .to_str()
        .map_err(|_| Error::unexpected(endpoint, "the x-metadata header is not ASCII"))?;
    let metadata = XMetadata::decode(raw).map_err(|reason| Error::unexpected(endpoint, reason))?;
    let last_modified = headers
        .get(LAST_MODIFIED)
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    Ok((metadata, last_modified))
}

fn file_path(session_key: &str, file_name: &str) -> Result<String> {
    check_segment("session key", session_key)?;
    check_segment("file name", file_name)?;
    Ok(format!(
        "permission-access/query/{}/{}",
        path_segment(session_key),
        path_segment(file_name)
    ))
}

impl Client {
    /// Opens a read session with `POST permission-access/trigger`, which also starts a sync of
    /// the user's sources unless `options.source_fetch` is `false`.
    pub async fn read_session(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
        options: &PullSessionOptions,
    ) -> Result<WithToken<Session>> {
        let endpoint = "permission-access/trigger";
        let url = self.url(endpoint);
        let body = TriggerBody {
            agent: Some(agent()),
            options: options.clone(),
        };
        self.user_call(contract, token, RefreshOn::InvalidToken, None, |token| {
            let (url, body) = (&url, &body);
            async move {
                let response = self
                    .execute(&Method::POST, endpoint, || {
                        self.request(Method::POST, url, true)
                            .header(
                                AUTHORIZATION,
                                self.user_bearer(contract, &token.access_token)?,
                            )
                            .accept_json()
                            .json_body(body)
                    })
                    .await?;
                let response: TriggerResponse =
                    read_json(check_status(response).await?, endpoint).await?;
                Ok(response.session)
            }
        })
        .await
    }

    /// Lists the accounts (onboarded sources) of the user's library. A library holding only
    /// pushed files has none.
    pub async fn read_accounts(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
    ) -> Result<WithToken<Vec<Account>>> {
        let endpoint = "permission-access/accounts";
        self.user_call(
            contract,
            token,
            RefreshOn::InvalidToken,
            None,
            |token| async move {
                let response = self.get_json_response(contract, &token, endpoint).await?;
                read_json(response, endpoint).await
            },
        )
        .await
    }

    /// Reads the sync state and the files of a read session.
    pub async fn read_file_list(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
        session_key: &str,
    ) -> Result<WithToken<FileList>> {
        check_segment("session key", session_key)?;
        let endpoint = format!("permission-access/query/{}", path_segment(session_key));
        self.user_call(contract, token, RefreshOn::InvalidToken, None, |token| {
            let endpoint = &endpoint;
            async move {
                let response = self.get_json_response(contract, &token, endpoint).await?;
                read_json(response, endpoint).await
            }
        })
        .await
    }

    pub(crate) async fn get_json_response(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
        endpoint: &str,
    ) -> Result<reqwest::Response> {
        let url = self.url(endpoint);
        let response = self
            .execute(&Method::GET, endpoint, || {
                Ok(self
                    .request(Method::GET, &url, true)
                    .header(
                        AUTHORIZATION,
                        self.user_bearer(contract, &token.access_token)?,
                    )
                    .accept_json())
            })
            .await?;
        check_status(response).await
    }

    /// Downloads one file of a read session and returns its metadata with a stream of the
    /// decrypted payload.
    ///
    /// The file key is unwrapped with the contract's private key before this returns, so a
    /// wrong key fails here. The body itself is decrypted as it is read. Any 401 refreshes the
    /// token pair once.
    pub async fn read_file(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
        session_key: &str,
        file_name: &str,
    ) -> Result<WithToken<FileDownload>> {
        let endpoint = file_path(session_key, file_name)?;
        self.user_call(contract, token, RefreshOn::AnyUnauthorized, None, |token| {
            self.read_file_once(contract, token, endpoint.clone(), file_name.to_string())
        })
        .await
    }

    pub(crate) async fn read_file_once(
        &self,
        contract: &ContractDetails,
        token: TokenPair,
        endpoint: String,
        file_name: String,
    ) -> Result<FileDownload> {
        let url = self.url(&endpoint);
        let response = self
            .execute(&Method::GET, &endpoint, || {
                Ok(self
                    .request(Method::GET, &url, false)
                    .header(
                        AUTHORIZATION,
                        self.user_bearer(contract, &token.access_token)?,
                    )
                    .header(ACCEPT, OCTET_STREAM))
            })
            .await?;
        let response = check_status(response).await?;
        let (metadata, last_modified) = parse_file_headers(response.headers(), &endpoint)?;
        let compression = Compression::from_metadata(metadata.compression.as_deref());
        let content_length = response.content_length();
        let source = response.bytes_stream().map_err(Error::Transport).boxed();
        let body =
            DecryptedStream::start(source, &contract.private_key, compression, content_length)
                .await?;
        Ok(FileDownload {
            file_name,
            metadata,
            last_modified,
            body,
        })
    }

    /// Downloads one file and reads its whole payload into memory.
    pub async fn read_file_to_vec(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
        session_key: &str,
        file_name: &str,
    ) -> Result<WithToken<DownloadedFile>> {
        let download = self
            .read_file(contract, token, session_key, file_name)
            .await?;
        let file = download.value.into_downloaded().await?;
        Ok(WithToken {
            value: file,
            token: download.token,
            refreshed: download.refreshed,
        })
    }

    /// Reads a file's metadata with `HEAD`, without downloading it.
    pub async fn read_file_metadata(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
        session_key: &str,
        file_name: &str,
    ) -> Result<WithToken<FileMetadata>> {
        let endpoint = file_path(session_key, file_name)?;
        let url = self.url(&endpoint);
        self.user_call(contract, token, RefreshOn::InvalidToken, None, |token| {
            let (url, endpoint) = (&url, &endpoint);
            async move {
                let response = self
                    .execute(&Method::HEAD, endpoint, || {
                        Ok(self
                            .request(Method::HEAD, url, true)
                            .header(
                                AUTHORIZATION,
                                self.user_bearer(contract, &token.access_token)?,
                            )
                            .accept_json())
                    })
                    .await?;
                let response = check_status(response).await?;
                let (metadata, last_modified) = parse_file_headers(response.headers(), endpoint)?;
                Ok(FileMetadata {
                    file_name: file_name.to_string(),
                    metadata,
                    last_modified,
                })
            }
        })
        .await
    }

    /// Deletes the user's library and all its data with `DELETE user`.
    ///
    /// This call does not refresh an expired token, as in the Node SDK.
    pub async fn delete_user(&self, contract: &ContractDetails, token: &TokenPair) -> Result<()> {
        let endpoint = "user";
        let url = self.url(endpoint);
        let response = self
            .execute(&Method::DELETE, endpoint, || {
                Ok(self
                    .request(Method::DELETE, &url, true)
                    .header(
                        AUTHORIZATION,
                        self.user_bearer(contract, &token.access_token)?,
                    )
                    .accept_json())
            })
            .await?;
        read_optional_json(check_status(response).await?, endpoint).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    #[test]
    fn file_path_rejects_dot_segments() {
        assert_eq!(
            file_path("key", "file.json").unwrap(),
            "permission-access/query/key/file.json"
        );
        assert!(file_path("key", "..").is_err());
        assert!(file_path(".", "file").is_err());
        assert!(file_path("key", "").is_err());
    }

    #[test]
    fn file_headers_are_parsed() {
        let metadata = XMetadata {
            metadata: json!({"mimetype": "text/plain", "accounts": []}),
            compression: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-metadata",
            HeaderValue::from_str(&metadata.encode()).unwrap(),
        );
        headers.insert(
            LAST_MODIFIED,
            HeaderValue::from_static("Tue, 01 Jul 2025 10:00:00 GMT"),
        );
        let (parsed, last_modified) = parse_file_headers(&headers, "e").unwrap();
        assert_eq!(parsed, metadata);
        assert_eq!(
            last_modified.as_deref(),
            Some("Tue, 01 Jul 2025 10:00:00 GMT")
        );
    }

    #[test]
    fn missing_x_metadata_is_an_error() {
        let error = parse_file_headers(&HeaderMap::new(), "e").unwrap_err();
        assert!(
            matches!(error, Error::UnexpectedResponse { .. }),
            "{error:?}"
        );
    }
}
