//! Response of `GET permission-access/query/<session>`.

use serde::{Deserialize, Serialize};

/// The file list of a read session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileList {
    /// Overall sync state.
    pub status: FileListStatus,
    /// Files ready to download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_list: Option<Vec<FileEntry>>,
}

/// Sync state: `pending`, `running`, `partial` or `completed`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileListStatus {
    /// The state name.
    pub state: String,
    /// Per-account details (never `pending` inside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// One listed file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// File name, URL-safe.
    pub name: String,
    /// Last update in Unix milliseconds, always greater than zero.
    pub updated_date: i64,
}
