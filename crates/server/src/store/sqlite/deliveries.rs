//! SQL of the provider-push outbox and the sandbox provider.
//!
//! Claiming is a single `UPDATE ... RETURNING` on the one write connection, so two claims never
//! lease the same row. NOTE: a PostgreSQL backend needs `FOR UPDATE SKIP LOCKED` in the inner
//! select to keep that guarantee across connections.
//!
//! TODO: delivered and failed rows are never purged, so the table grows by one row per push.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{database_error, SqliteStore};
use crate::store::deliveries::*;
use crate::store::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

const DELIVERY_COLUMNS: &str =
    "id, library_id, account_id, app_id, contract_id, resource_type, if_none_exist, attempts, key_id, sealed_body, created_ms, \
     give_up_ms";

const SUMMARY_COLUMNS: &str = "id, library_id, account_id, app_id, contract_id, resource_type, state, attempts, last_error, \
     provider_status, provider_location, created_ms, updated_ms, next_attempt_ms";

fn optional_type(stored: String) -> Option<String> {
    (!stored.is_empty()).then_some(stored)
}

fn delivery_from_row(row: &Row) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: row.get(0)?,
        library_id: row.get(1)?,
        account_id: row.get(2)?,
        app_id: row.get(3)?,
        contract_id: row.get(4)?,
        resource_type: optional_type(row.get(5)?),
        if_none_exist: row.get(6)?,
        attempts: row.get(7)?,
        key_id: row.get(8)?,
        sealed_body: row.get(9)?,
        created_ms: row.get(10)?,
        give_up_ms: row.get(11)?,
    })
}

fn summary_from_row(row: &Row) -> rusqlite::Result<DeliverySummary> {
    let state: String = row.get(6)?;
    Ok(DeliverySummary {
        id: row.get(0)?,
        library_id: row.get(1)?,
        account_id: row.get(2)?,
        app_id: row.get(3)?,
        contract_id: row.get(4)?,
        resource_type: optional_type(row.get(5)?),
        state: DeliveryState::parse(&state).unwrap_or(DeliveryState::Failed),
        attempts: row.get(7)?,
        last_error: row.get(8)?,
        provider_status: row.get(9)?,
        provider_location: row.get(10)?,
        created_ms: row.get(11)?,
        updated_ms: row.get(12)?,
        next_attempt_ms: row.get(13)?,
    })
}

fn insert_delivery(c: &Connection, delivery: &Delivery, owner: &str, lease_until_ms: i64) -> Result<()> {
    c.execute(
        "INSERT INTO deliveries (id, library_id, account_id, app_id, contract_id, resource_type, if_none_exist, state, \
             attempts, key_id, sealed_body, created_ms, updated_ms, next_attempt_ms, give_up_ms, lease_owner, lease_until_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10, ?11, ?11, ?11, ?12, ?13, ?14)",
        params![
            delivery.id,
            delivery.library_id,
            delivery.account_id,
            delivery.app_id,
            delivery.contract_id,
            delivery.resource_type.as_deref().unwrap_or(""),
            delivery.if_none_exist,
            delivery.attempts,
            delivery.key_id,
            delivery.sealed_body,
            delivery.created_ms,
            delivery.give_up_ms,
            owner,
            lease_until_ms,
        ],
    )
    .map_err(database_error)?;
    Ok(())
}

fn claim_due(c: &Connection, owner: &str, now_ms: i64, lease_until_ms: i64, limit: usize) -> Result<Vec<Delivery>> {
    let sql = format!(
        "UPDATE deliveries SET lease_owner = ?1, lease_until_ms = ?3 \
         WHERE id IN (SELECT id FROM deliveries \
                      WHERE state = 'pending' AND next_attempt_ms <= ?2 \
                        AND (lease_until_ms IS NULL OR lease_until_ms <= ?2) \
                      ORDER BY next_attempt_ms LIMIT ?4) \
         RETURNING {DELIVERY_COLUMNS}"
    );
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    let rows = statement
        .query_map(params![owner, now_ms, lease_until_ms, limit as i64], delivery_from_row)
        .map_err(database_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(database_error)
}

fn next_due(c: &Connection) -> Result<Option<i64>> {
    c.query_row(
        "SELECT MIN(MAX(next_attempt_ms, COALESCE(lease_until_ms, 0))) FROM deliveries WHERE state = 'pending'",
        [],
        |row| row.get(0),
    )
    .map_err(database_error)
}

fn finish(c: &Connection, id: &str, owner: &str, outcome: &AttemptOutcome, now_ms: i64) -> Result<bool> {
    let changed = match outcome {
        AttemptOutcome::Delivered { status, location } => c.execute(
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, last_error = NULL, sealed_body = NULL, \
                 provider_status = ?3, provider_location = ?4, updated_ms = ?5, lease_owner = NULL, lease_until_ms = NULL \
             WHERE id = ?1 AND lease_owner = ?2 AND state = 'pending'",
            params![id, owner, status, location, now_ms],
        ),
        AttemptOutcome::Retry { error, status, next_attempt_ms } => c.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?3, provider_status = ?4, next_attempt_ms = ?5, \
                 updated_ms = ?6, lease_owner = NULL, lease_until_ms = NULL \
             WHERE id = ?1 AND lease_owner = ?2 AND state = 'pending'",
            params![id, owner, error, status, next_attempt_ms, now_ms],
        ),
        AttemptOutcome::Failed { error, status } => c.execute(
            "UPDATE deliveries SET state = 'failed', attempts = attempts + 1, last_error = ?3, provider_status = ?4, \
                 updated_ms = ?5, lease_owner = NULL, lease_until_ms = NULL \
             WHERE id = ?1 AND lease_owner = ?2 AND state = 'pending'",
            params![id, owner, error, status, now_ms],
        ),
    }
    .map_err(database_error)?;
    Ok(changed == 1)
}

fn list(c: &Connection, state: Option<DeliveryState>) -> Result<Vec<DeliverySummary>> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM deliveries WHERE ?1 IS NULL OR state = ?1 ORDER BY created_ms DESC, id");
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    let rows = statement.query_map([state.map(DeliveryState::as_str)], summary_from_row).map_err(database_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(database_error)
}

fn find(c: &Connection, id: &str) -> Result<Option<DeliverySummary>> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM deliveries WHERE id = ?1");
    c.query_row(&sql, [id], summary_from_row).optional().map_err(database_error)
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn create_delivery(&self, delivery: Delivery, owner: &str, lease_until_ms: i64) -> Result<()> {
        let owner = owner.to_string();
        self.write(move |c| insert_delivery(c, &delivery, &owner, lease_until_ms)).await
    }
    async fn claim_due_deliveries(&self, owner: &str, now_ms: i64, lease_until_ms: i64, limit: usize) -> Result<Vec<Delivery>> {
        let owner = owner.to_string();
        self.write(move |c| claim_due(c, &owner, now_ms, lease_until_ms, limit)).await
    }
    async fn next_delivery_due_ms(&self) -> Result<Option<i64>> {
        self.read(next_due).await
    }
    async fn finish_attempt(&self, id: &str, owner: &str, outcome: AttemptOutcome, now_ms: i64) -> Result<bool> {
        let (id, owner) = (id.to_string(), owner.to_string());
        self.write(move |c| finish(c, &id, &owner, &outcome, now_ms)).await
    }
    async fn release_delivery_leases(&self, owner: &str) -> Result<u64> {
        let owner = owner.to_string();
        self.write(move |c| {
            let changed = c
                .execute("UPDATE deliveries SET lease_owner = NULL, lease_until_ms = NULL WHERE lease_owner = ?1", [owner])
                .map_err(database_error)?;
            Ok(changed as u64)
        })
        .await
    }
    async fn list_deliveries(&self, state: Option<DeliveryState>) -> Result<Vec<DeliverySummary>> {
        self.read(move |c| list(c, state)).await
    }
    async fn find_delivery(&self, id: &str) -> Result<Option<DeliverySummary>> {
        let id = id.to_string();
        self.read(move |c| find(c, &id)).await
    }
}

fn sandbox_from_row(row: &Row) -> rusqlite::Result<SandboxResource> {
    Ok(SandboxResource { resource_type: row.get(0)?, id: row.get(1)?, json: row.get(2)?, created_ms: row.get(3)? })
}

#[async_trait]
impl SandboxStore for SqliteStore {
    async fn create_sandbox_resources(&self, resources: Vec<SandboxResource>) -> Result<()> {
        self.write(move |c| {
            for resource in &resources {
                c.execute(
                    "INSERT OR REPLACE INTO sandbox_resources (resource_type, id, json, created_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![resource.resource_type, resource.id, resource.json, resource.created_ms],
                )
                .map_err(database_error)?;
            }
            Ok(())
        })
        .await
    }
    async fn find_sandbox_resource(&self, resource_type: &str, id: &str) -> Result<Option<SandboxResource>> {
        let (resource_type, id) = (resource_type.to_string(), id.to_string());
        self.read(move |c| {
            c.query_row(
                "SELECT resource_type, id, json, created_ms FROM sandbox_resources WHERE resource_type = ?1 AND id = ?2",
                [resource_type, id],
                sandbox_from_row,
            )
            .optional()
            .map_err(database_error)
        })
        .await
    }
    async fn list_sandbox_resources(&self, resource_type: &str) -> Result<Vec<SandboxResource>> {
        let resource_type = resource_type.to_string();
        self.read(move |c| {
            let mut statement = c
                .prepare_cached(
                    "SELECT resource_type, id, json, created_ms FROM sandbox_resources WHERE resource_type = ?1 \
                     ORDER BY created_ms, id",
                )
                .map_err(database_error)?;
            let rows = statement.query_map([resource_type], sandbox_from_row).map_err(database_error)?;
            rows.collect::<rusqlite::Result<_>>().map_err(database_error)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Library, Store};

    async fn store_with_delivery(owner: &str, lease_until_ms: i64) -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("trove.db")).unwrap();
        let library = Library { id: "lib".into(), username: "lib".into(), password_hash: "unused".into(), created_ms: 0 };
        store.create_library(library).await.unwrap();
        let delivery = Delivery {
            id: "d1".into(),
            library_id: "lib".into(),
            account_id: "acc".into(),
            app_id: "app".into(),
            contract_id: "writer".into(),
            resource_type: Some("Observation".into()),
            if_none_exist: Some("identifier=urn:trove:delivery|d1".into()),
            attempts: 0,
            key_id: "k".into(),
            sealed_body: Some(vec![1, 2, 3]),
            created_ms: 1000,
            give_up_ms: 100_000,
        };
        store.create_delivery(delivery, owner, lease_until_ms).await.unwrap();
        (dir, store)
    }

    fn retry_at(next_attempt_ms: i64) -> AttemptOutcome {
        AttemptOutcome::Retry { error: "HTTP 503".into(), status: Some(503), next_attempt_ms }
    }

    #[tokio::test]
    async fn claim_waits_for_lease() {
        let (_dir, store) = store_with_delivery("node-a", 5000).await;

        assert!(store.claim_due_deliveries("node-b", 2000, 9000, 10).await.unwrap().is_empty());
        let claimed = store.claim_due_deliveries("node-b", 5000, 9000, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].if_none_exist.as_deref(), Some("identifier=urn:trove:delivery|d1"));
        assert!(store.claim_due_deliveries("node-c", 6000, 9000, 10).await.unwrap().is_empty(), "node-b's lease holds");
    }

    #[tokio::test]
    async fn stale_owner_cannot_finish() {
        let (_dir, store) = store_with_delivery("node-a", 5000).await;
        store.claim_due_deliveries("node-b", 5000, 9000, 10).await.unwrap();

        let stale = store.finish_attempt("d1", "node-a", retry_at(6000), 5500).await.unwrap();
        let owner = store.finish_attempt("d1", "node-b", retry_at(6000), 5500).await.unwrap();

        assert!(!stale);
        assert!(owner);
        let row = store.find_delivery("d1").await.unwrap().unwrap();
        assert_eq!(row.attempts, 1);
        assert_eq!(row.next_attempt_ms, 6000);
        assert_eq!(row.state, DeliveryState::Pending);
    }

    #[tokio::test]
    async fn retry_not_due_before_time() {
        let (_dir, store) = store_with_delivery("node-a", 5000).await;
        store.finish_attempt("d1", "node-a", retry_at(8000), 2000).await.unwrap();

        assert_eq!(store.next_delivery_due_ms().await.unwrap(), Some(8000));
        assert!(store.claim_due_deliveries("node-a", 7999, 20_000, 10).await.unwrap().is_empty());
        assert_eq!(store.claim_due_deliveries("node-a", 8000, 20_000, 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn delivered_row_drops_body() {
        let (_dir, store) = store_with_delivery("node-a", 5000).await;
        let delivered = AttemptOutcome::Delivered { status: 201, location: Some("Observation/1".into()) };

        assert!(store.finish_attempt("d1", "node-a", delivered, 2000).await.unwrap());
        let row = store.find_delivery("d1").await.unwrap().unwrap();
        assert_eq!(row.state, DeliveryState::Delivered);
        assert_eq!(row.provider_location.as_deref(), Some("Observation/1"));
        assert_eq!(store.next_delivery_due_ms().await.unwrap(), None);
        let body: Option<Vec<u8>> = store
            .read(|c| c.query_row("SELECT sealed_body FROM deliveries WHERE id = 'd1'", [], |row| row.get(0)).map_err(database_error))
            .await
            .unwrap();
        assert_eq!(body, None);
    }

    #[tokio::test]
    async fn release_frees_own_leases() {
        let (_dir, store) = store_with_delivery("node-a", 50_000).await;

        assert_eq!(store.release_delivery_leases("node-b").await.unwrap(), 0);
        assert_eq!(store.release_delivery_leases("node-a").await.unwrap(), 1);
        assert_eq!(store.claim_due_deliveries("node-b", 1000, 9000, 10).await.unwrap().len(), 1);
    }
}
