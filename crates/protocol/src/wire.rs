//! JSON shapes of request bodies, response bodies and headers.

pub mod accounts;
pub mod descriptor;
pub mod error_body;
pub mod file_list;
pub mod jwks;
pub mod options;
pub mod token;

pub use accounts::{AccessTokenStatus, Account};
pub use descriptor::{normalize_descriptor, FileDescriptor, XMetadata};
pub use error_body::{ErrorBody, ErrorDetail};
pub use file_list::{FileEntry, FileList, FileListStatus};
pub use jwks::{Jwk, Jwks};
pub use options::{Agent, AuthorizeBody, Criterion, PullSessionOptions, Scope, TriggerBody};
pub use token::{AuthorizeResponse, PreauthorizationPayload, Session, TokenPair, TokenPayload, TokenResponse, TokenValue};
