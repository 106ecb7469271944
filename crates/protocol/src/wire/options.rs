//! Request bodies of authorize and trigger: the agent and the pull session options.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The SDK description every authorize and trigger body carries.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Agent {
    /// SDK name, version and free metadata.
    pub sdk: AgentSdk,
}

/// SDK identification.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct AgentSdk {
    /// SDK name, for example `nodejs` or `trove-rust`.
    pub name: String,
    /// SDK version.
    pub version: String,
    /// Free metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

impl Agent {
    /// Returns the agent of this crate's SDK.
    pub fn trove(version: &str) -> Self {
        Self { sdk: AgentSdk { name: "trove-rust".into(), version: version.into(), meta: None } }
    }
}

/// Options of a read session (`actions.pull` in authorize, top level in trigger).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PullSessionOptions {
    /// Scope of the files the session lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// `false` returns existing data without syncing sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_fetch: Option<bool>,
    /// `{"compression":"gzip"}` requests compressed downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<AcceptOptions>,
    /// Limits, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Value>,
}

/// Download encoding preferences.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct AcceptOptions {
    /// `gzip`, or absent for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
}

/// A read scope.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// Time ranges, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ranges: Option<Value>,
    /// Service groups, passed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_groups: Option<Value>,
    /// Raw-file filters; several criteria combine with OR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<Vec<Criterion>>,
}

/// One raw-file filter. Its members combine with AND, and array values with OR.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Criterion {
    /// Earliest `created`, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// Latest `created`, Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<i64>,
    /// A trailing window such as `7d`, `12h`, `30m`, `2w`, `1y`, counted back from now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
    /// Filters on the pushed descriptor, keyed in camelCase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<CriterionMetadata>,
}

/// Descriptor filters of a criterion.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CriterionMetadata {
    /// Pushing application ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<Vec<String>>,
    /// Pushing contract ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_id: Option<Vec<String>>,
    /// MIME types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<Vec<String>>,
    /// References.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Vec<String>>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The app's account ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<CriterionAccount>>,
}

/// An account filter.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CriterionAccount {
    /// The app's account id.
    pub account_id: String,
    /// Optional user name, not used for raw files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// Body of `POST oauth/authorize`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct AuthorizeBody {
    /// The calling SDK.
    #[serde(default)]
    pub agent: Option<Agent>,
    /// `{"pull": PullSessionOptions}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<AuthorizeActions>,
}

/// The actions member of authorize.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct AuthorizeActions {
    /// Options of the session returned with the authorize response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullSessionOptions>,
}

/// Body of `POST permission-access/trigger`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TriggerBody {
    /// The calling SDK.
    #[serde(default)]
    pub agent: Option<Agent>,
    /// Session options at top level.
    #[serde(flatten)]
    pub options: PullSessionOptions,
}
