//! The file descriptor an app signs into the `FileDescriptor` header, its stored (lower-cased)
//! form, and the `x-metadata` download header built from it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::b64;

/// Member names the server lower-cases when it stores a descriptor. Other members keep their
/// spelling (iOS reads `providerName` back as written).
const LOWER_CASED_MEMBERS: &[&str] =
    &["mimeType", "accountId", "contractId", "appId", "objectTypes", "serviceGroups", "partnerId", "fileName"];

/// Members the server sets from the authenticated caller, overriding the client's values.
pub const SERVER_SET_MEMBERS: &[&str] = &["appid", "contractid", "created", "partnerid"];

/// One of the app's own account identifiers for the user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DescriptorAccount {
    /// The app's account id.
    pub account_id: String,
}

/// A file descriptor as an app sends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileDescriptor {
    /// MIME type of the bytes.
    pub mime_type: String,
    /// The app's account ids for the user; may be empty.
    pub accounts: Vec<DescriptorAccount>,
    /// Free references, usable as read filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Vec<String>>,
    /// Free tags, usable as read filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Display name of the file, a Trove addition the official SDKs never send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// Any other members, passed through unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FileDescriptor {
    /// A descriptor with a MIME type and no accounts, tags or references.
    pub fn new(mime_type: impl Into<String>) -> Self {
        Self {
            mime_type: mime_type.into(),
            accounts: Vec::new(),
            reference: None,
            tags: None,
            file_name: None,
            extra: Map::new(),
        }
    }
}

/// Checks a received descriptor and returns its stored form.
///
/// `mimeType` must be a string and `accounts` an array of objects with a string `accountId`;
/// `tags` and `reference`, when present, must be arrays of strings. Known member names are
/// lower-cased (also `accountId` inside `accounts`), and the server-set members are removed so
/// the caller can set them from the authenticated request.
pub fn normalize_descriptor(descriptor: &Value) -> Result<Map<String, Value>, String> {
    let Value::Object(members) = descriptor else {
        return Err("metadata must be a JSON object".into());
    };
    if !members.get("mimeType").is_some_and(Value::is_string) {
        return Err("metadata.mimeType must be a string".into());
    }
    let Some(Value::Array(accounts)) = members.get("accounts") else {
        return Err("metadata.accounts must be an array".into());
    };
    for (index, account) in accounts.iter().enumerate() {
        if !account.get("accountId").is_some_and(Value::is_string) {
            return Err(format!("metadata.accounts[{index}].accountId must be a string"));
        }
        if account.get("accountid").is_some() {
            return Err(format!("metadata.accounts[{index}] has both accountId and accountid; send only accountId"));
        }
    }
    for list in ["tags", "reference"] {
        if let Some(value) = members.get(list) {
            let all_strings = value.as_array().is_some_and(|items| items.iter().all(Value::is_string));
            if !all_strings {
                return Err(format!("metadata.{list} must be an array of strings"));
            }
        }
    }

    let mut stored = Map::new();
    for (name, value) in members {
        let stored_name = lower_cased(name);
        if SERVER_SET_MEMBERS.contains(&stored_name.as_str()) {
            continue;
        }
        if stored.contains_key(&stored_name) {
            return Err(format!("metadata has both {name} and another member stored as {stored_name}; send only one"));
        }
        let stored_value = if name == "accounts" { lower_case_accounts(value) } else { value.clone() };
        stored.insert(stored_name, stored_value);
    }
    Ok(stored)
}

fn lower_cased(name: &str) -> String {
    if LOWER_CASED_MEMBERS.contains(&name) {
        name.to_ascii_lowercase()
    } else {
        name.to_string()
    }
}

fn lower_case_accounts(accounts: &Value) -> Value {
    let Value::Array(items) = accounts else { return accounts.clone() };
    let lowered = items
        .iter()
        .map(|item| match item {
            Value::Object(members) => {
                Value::Object(members.iter().map(|(name, value)| (lower_cased(name), value.clone())).collect())
            }
            other => other.clone(),
        })
        .collect();
    Value::Array(lowered)
}

/// The decoded `x-metadata` header of a download.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct XMetadata {
    /// RawFileMetadata for pushed files.
    pub metadata: Value,
    /// `gzip` when the payload was compressed before encryption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}

impl XMetadata {
    /// Encodes as base64url JSON without padding.
    pub fn encode(&self) -> String {
        b64::encode(serde_json::to_vec(self).expect("JSON values always serialize"))
    }

    /// Decodes a header value (padded or not).
    pub fn decode(header: &str) -> Result<Self, String> {
        let bytes = b64::decode(header.trim()).map_err(|error| format!("x-metadata is not base64url: {error}"))?;
        serde_json::from_slice(&bytes).map_err(|error| format!("x-metadata is not the expected JSON: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_lowercases_known_members() {
        let stored = normalize_descriptor(&json!({
            "mimeType": "application/pdf",
            "accounts": [{"accountId": "a1"}],
            "tags": ["x"],
            "providerName": "P",
            "appid": "spoofed",
        }))
        .unwrap();
        assert_eq!(stored["mimetype"], "application/pdf");
        assert_eq!(stored["accounts"][0]["accountid"], "a1");
        assert_eq!(stored["providerName"], "P");
        assert!(!stored.contains_key("appid"));
        assert!(!stored.contains_key("mimeType"));
    }

    #[test]
    fn normalize_rejects_case_collisions() {
        let error = normalize_descriptor(&json!({"mimeType": "a/b", "mimetype": {"evil": 1}, "accounts": []})).unwrap_err();
        assert!(error.contains("mimetype"), "{error}");
    }

    #[test]
    fn normalize_rejects_missing_members() {
        assert!(normalize_descriptor(&json!({"accounts": []})).is_err());
        assert!(normalize_descriptor(&json!({"mimeType": "a/b"})).is_err());
        assert!(normalize_descriptor(&json!({"mimeType": "a/b", "accounts": [{}]})).is_err());
        assert!(normalize_descriptor(&json!({"mimeType": "a/b", "accounts": [], "tags": [1]})).is_err());
    }
}
