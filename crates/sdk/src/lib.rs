//! Async client for the digi.me API as Trove serves it: consent, tokens, pushing files into a
//! user's library, and reading them back.
//!
//! It speaks the same wire protocol as the official digi.me Node SDK. Every request carries a
//! PS512 JWT signed with the contract's RSA key, with a fresh nonce and millisecond timestamp
//! per attempt. Server tokens are checked against the server's JWKS. Downloads arrive encrypted
//! to the contract's key and are decrypted here as they stream in.
//!
//! # Flow
//!
//! 1. [`Client::get_authorize_url`] registers a PKCE challenge and returns the consent page
//!    URL. The user consents in a browser, which returns to the app's callback with a `code`.
//! 2. [`Client::exchange_code_for_token`] turns the code into a [`TokenPair`].
//! 3. A write contract pushes with [`Client::push_data`]. A read-raw contract linked to the
//!    same library (pass the write contract's token as
//!    [`AuthorizeOptions::user_access_token`]) reads back with [`Client::read_session`],
//!    [`Client::read_file_list`] and [`Client::read_file`], or all at once with
//!    [`Client::read_all_files`].
//!
//! Calls made with a user's token refresh an expired pair once by themselves. Each returns the
//! current pair in [`WithToken`], and the token-change callback hears about every new pair:
//! store it, because the server may have rotated the refresh token.
//!
//! # Example
//!
//! ```no_run
//! use trove_sdk::{Client, ContractDetails, FileDescriptor, Push, PushBody, PushRequest};
//!
//! # async fn run(token: trove_sdk::TokenPair) -> Result<(), trove_sdk::Error> {
//! let client = Client::builder("demo-app")
//!     .base_url("http://127.0.0.1:8080/v1.7/")
//!     .build()?;
//! let pem = std::fs::read_to_string("write-contract.pem")?;
//! let contract = ContractDetails::from_pem("write-contract", &pem)?;
//!
//! let push = Push::Library {
//!     descriptor: FileDescriptor::new("text/plain"),
//!     body: PushBody::from(b"hello".to_vec()),
//! };
//! let result = client.push_data(PushRequest::new(&contract, &token, push)).await?;
//! if result.refreshed {
//!     // Save result.token in place of the old pair.
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Cargo features
//!
//! None. TLS uses rustls through the workspace's `reqwest` settings.
#![warn(missing_docs)]

mod authorize;
mod client;
mod download;
mod error;
mod jwks;
mod push;
mod read;
mod read_all;
mod refresh;
mod retry;
mod transport;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use authorize::{AuthorizeOptions, AuthorizeUrl, SampleData, SourceType, SourcesScope};
pub use client::{
    Client, ClientBuilder, ContractDetails, TokenChangeCallback, WithToken, DEFAULT_BASE_URL,
    DEFAULT_JWKS_TTL, DEFAULT_TIMEOUT,
};
pub use download::{Compression, DecryptedStream};
pub use error::{Error, Result};
pub use push::{Push, PushBody, PushRequest, StreamFactory};
pub use read::{DownloadedFile, FileDownload, FileMetadata};
pub use read_all::{
    BoxError, FileError, OnFile, OnFileError, OnStatusChange, ReadAllOptions, ReadAllOutcome,
};
pub use retry::RetryPolicy;

pub use tokio_util::sync::CancellationToken;
pub use trove_protocol::keys::RsaPrivateKey;
pub use trove_protocol::wire::descriptor::DescriptorAccount;
pub use trove_protocol::wire::options::{
    AcceptOptions, Criterion, CriterionAccount, CriterionMetadata, Scope,
};
pub use trove_protocol::wire::{
    Account, FileDescriptor, FileEntry, FileList, FileListStatus, PullSessionOptions, Session,
    TokenPair, XMetadata,
};
