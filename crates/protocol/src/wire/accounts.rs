//! Elements of the bare array returned by `GET permission-access/accounts`.

use serde::{Deserialize, Serialize};

/// Account types Node's codec accepts.
pub const ACCOUNT_TYPES: &[&str] = &[
    "USER", "ADMIN", "EVENT", "GROUP", "BANK", "CREDIT_CARD", "IMPORTED", "INVESTMENT", "INSURANCE", "LOAN",
    "REWARD", "BILL", "PUSH",
];

/// One account of the library.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Account id, sent as the `accountId` header.
    pub id: String,
    /// Reference returned on the consent callback as `accountReference`.
    pub reference: String,
    /// One of [`ACCOUNT_TYPES`].
    pub r#type: String,
    /// Creation time in Unix milliseconds.
    pub created_date: i64,
    /// Service group id.
    pub service_group_id: i64,
    /// Service group name.
    pub service_group_name: String,
    /// Service type id.
    pub service_type_id: i64,
    /// Service type name.
    pub service_type_name: String,
    /// Service type reference.
    pub service_type_reference: String,
    /// Source id.
    pub source_id: i64,
    /// Last update in Unix milliseconds.
    pub updated_date: i64,
    /// Provider name, for provider accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider_name: Option<String>,
    /// Provider reference, for provider accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider_reference: Option<String>,
    /// Whether the account's authorization at its source still holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_status: Option<AccessTokenStatus>,
}

/// The `accessTokenStatus` member of an account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenStatus {
    /// Whether Trove holds a usable authorization for the source.
    pub authorized: bool,
    /// Expiry of the source's access token in Unix milliseconds, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}
