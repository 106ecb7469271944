//! Rows and operations of the provider-push outbox and of the sandbox provider.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;

/// State of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its first or next attempt.
    Pending,
    /// The provider accepted it.
    Delivered,
    /// The provider rejected it, or the retry period ended.
    Failed,
}

impl DeliveryState {
    /// Returns the stored and command-line name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// Parses a stored or command-line name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(DeliveryState::Pending),
            "delivered" => Some(DeliveryState::Delivered),
            "failed" => Some(DeliveryState::Failed),
            _ => None,
        }
    }
}

/// A provider push in the outbox, with its sealed body.
#[derive(Clone)]
pub struct Delivery {
    /// Delivery id, also the value of the idempotency identifier set on the resources.
    pub id: String,
    /// Library of the pushing user.
    pub library_id: String,
    /// The PUSH account the data goes to.
    pub account_id: String,
    /// Pushing application.
    pub app_id: String,
    /// Pushing contract.
    pub contract_id: String,
    /// Resource type for `POST [base]/[type]`, or `None` for a Bundle posted to `[base]`.
    pub resource_type: Option<String>,
    /// `If-None-Exist` search sent with a single resource.
    pub if_none_exist: Option<String>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Master key id that sealed the body.
    pub key_id: String,
    /// The prepared FHIR JSON, sealed; `None` once delivered.
    pub sealed_body: Option<Vec<u8>>,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// After this time a failed attempt ends the delivery, Unix ms.
    pub give_up_ms: i64,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Delivery")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("resource_type", &self.resource_type)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// A delivery as the admin listing shows it, without the body.
#[derive(Debug, Clone, Serialize)]
pub struct DeliverySummary {
    /// Delivery id.
    pub id: String,
    /// Library of the pushing user.
    pub library_id: String,
    /// Target PUSH account.
    pub account_id: String,
    /// Pushing application.
    pub app_id: String,
    /// Pushing contract.
    pub contract_id: String,
    /// Resource type, or `None` for a Bundle posted to the provider's base URL.
    pub resource_type: Option<String>,
    /// Current state.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// HTTP status of the provider's last response, if any.
    pub provider_status: Option<u16>,
    /// `Location` the provider returned on success.
    pub provider_location: Option<String>,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Last change, Unix ms.
    pub updated_ms: i64,
    /// When the next attempt is due, Unix ms (meaningful while pending).
    pub next_attempt_ms: i64,
}

/// The result of one attempt, recorded by [`DeliveryStore::finish_attempt`].
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    /// The provider accepted the data; the sealed body is dropped.
    Delivered {
        /// Provider status code.
        status: u16,
        /// Provider `Location` header.
        location: Option<String>,
    },
    /// Another attempt is due at `next_attempt_ms`.
    Retry {
        /// Reason this attempt failed.
        error: String,
        /// Provider status code, when it responded.
        status: Option<u16>,
        /// Unix ms.
        next_attempt_ms: i64,
    },
    /// No further attempt will be made.
    Failed {
        /// Why.
        error: String,
        /// Provider status code, when it responded.
        status: Option<u16>,
    },
}

/// Outbox operations. Every update names the lease owner, so a node whose lease ran out and was
/// taken over cannot overwrite the new owner's result.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Inserts a pending delivery already leased to `owner` until `lease_until_ms`, so that the
    /// request that created it makes the first attempt.
    async fn create_delivery(&self, delivery: Delivery, owner: &str, lease_until_ms: i64) -> Result<(), StoreError>;
    /// Leases up to `limit` pending deliveries that are due at `now_ms` and not leased by a live
    /// owner, and returns them.
    async fn claim_due_deliveries(
        &self,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Returns the earliest time a pending delivery becomes claimable, if any is pending.
    async fn next_delivery_due_ms(&self) -> Result<Option<i64>, StoreError>;
    /// Records one attempt's result and releases the lease; false when `owner` no longer held it.
    async fn finish_attempt(&self, id: &str, owner: &str, outcome: AttemptOutcome, now_ms: i64) -> Result<bool, StoreError>;
    /// Releases every lease `owner` holds, so a restarted node need not wait for them to run out.
    async fn release_delivery_leases(&self, owner: &str) -> Result<u64, StoreError>;
    /// Lists deliveries, newest first, optionally in one state.
    async fn list_deliveries(&self, state: Option<DeliveryState>) -> Result<Vec<DeliverySummary>, StoreError>;
    /// Finds one delivery's summary.
    async fn find_delivery(&self, id: &str) -> Result<Option<DeliverySummary>, StoreError>;
}

/// A resource kept by the sandbox provider.
#[derive(Debug, Clone)]
pub struct SandboxResource {
    /// Resource type.
    pub resource_type: String,
    /// Id the sandbox assigned.
    pub id: String,
    /// The resource JSON as stored, with `id` and `meta` set.
    pub json: String,
    /// Creation time, Unix ms.
    pub created_ms: i64,
}

/// Storage of the sandbox provider.
#[async_trait]
pub trait SandboxStore: Send + Sync {
    /// Stores several resources in one transaction, replacing any with the same type and id.
    async fn create_sandbox_resources(&self, resources: Vec<SandboxResource>) -> Result<(), StoreError>;
    /// Finds one resource.
    async fn find_sandbox_resource(&self, resource_type: &str, id: &str) -> Result<Option<SandboxResource>, StoreError>;
    /// Lists the resources of one type, oldest first.
    async fn list_sandbox_resources(&self, resource_type: &str) -> Result<Vec<SandboxResource>, StoreError>;
}
