//! The provider-push outbox as `trove admin deliveries` shows it.

use crate::store::deliveries::{DeliveryState, DeliverySummary};
use crate::store::DeliveryStore;

use super::Admin;

impl Admin {
    /// Lists deliveries, newest first, optionally in one state. Bodies are never included.
    pub async fn list_deliveries(&self, state: Option<DeliveryState>) -> anyhow::Result<Vec<DeliverySummary>> {
        Ok(self.store.list_deliveries(state).await?)
    }
}
