//! The protocol's error body: `{"error":{"code","message","reference"}}` and nothing else.

use serde::{Deserialize, Serialize};

/// An error response body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// The members of an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorDetail {
    /// A stable code such as `InvalidToken`, on which clients branch.
    pub code: String,
    /// A human-readable message.
    pub message: String,
    /// A random 32-character id that also appears in the server log.
    #[serde(default)]
    pub reference: String,
}
