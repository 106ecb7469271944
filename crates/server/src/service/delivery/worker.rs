//! The background worker that retries pending deliveries.
//!
//! It sleeps until the earliest pending row is due (or at most the poll interval, so rows that
//! other nodes write are seen), claims up to [`CLAIM_BATCH`] due rows under this node's lease,
//! and attempts them concurrently. On shutdown it stops the attempts in flight and releases
//! its leases, so a restarted server resumes those rows at once. After a crash the leases run
//! out by themselves.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use trove_protocol::time;

use super::attempt::{self, AttemptRequest, AttemptResult};
use super::{log_outcome, open_body};
use crate::state::AppState;
use crate::store::deliveries::Delivery;

/// Most rows claimed, and so attempted concurrently, per round.
const CLAIM_BATCH: usize = 16;

/// Handle to a running worker.
pub struct DeliveryWorker {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl DeliveryWorker {
    /// Starts the worker on the server's state.
    pub fn start(state: AppState, poll_interval: Duration) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(state, poll_interval, stop.clone()));
        Self { stop, task }
    }

    /// Stops the worker, abandoning attempts in flight, and waits until its leases are released.
    pub async fn stop(self) {
        self.stop.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the delivery worker ended abnormally");
        }
    }
}

async fn run(state: AppState, poll_interval: Duration, stop: CancellationToken) {
    let service = Arc::clone(&state.deliveries);
    tracing::info!(node = %service.node_id, "delivery worker started");
    let mut in_flight: JoinSet<()> = JoinSet::new();
    loop {
        while in_flight.try_join_next().is_some() {}
        let now = time::now_ms();
        let lease_until = now + service.lease.as_millis() as i64;
        let free = CLAIM_BATCH.saturating_sub(in_flight.len());
        if free > 0 {
            match state.store.claim_due_deliveries(&service.node_id, now, lease_until, free).await {
                Ok(claimed) => {
                    for delivery in claimed {
                        in_flight.spawn(process(state.clone(), delivery));
                    }
                }
                Err(error) => tracing::error!(%error, "claiming due deliveries failed"),
            }
        }

        let wait = match state.store.next_delivery_due_ms().await {
            Ok(Some(due)) => Duration::from_millis((due - time::now_ms()).max(0) as u64).min(poll_interval),
            Ok(None) => poll_interval,
            Err(error) => {
                tracing::error!(%error, "reading the next due delivery failed");
                poll_interval
            }
        };
        // Rows in flight keep their leases, so the next due time may be one of theirs. When no
        // claim slot is free, the worker waits for an attempt to finish or the poll interval.
        let wait = if free == 0 { poll_interval } else { wait.max(Duration::from_millis(10)) };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = service.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }

    in_flight.shutdown().await;
    match state.store.release_delivery_leases(&service.node_id).await {
        Ok(released) => tracing::info!(released, "delivery worker stopped"),
        Err(error) => tracing::error!(%error, "releasing delivery leases failed; they run out by themselves"),
    }
}

/// Attempts one claimed delivery and records the result.
async fn process(state: AppState, delivery: Delivery) {
    let service = &state.deliveries;
    let attempt_number = delivery.attempts + 1;
    let result = match open_body(&state, &delivery) {
        Ok(body) => {
            let request = AttemptRequest {
                library_id: &delivery.library_id,
                account_id: &delivery.account_id,
                resource_type: delivery.resource_type.as_deref(),
                if_none_exist: delivery.if_none_exist.as_deref(),
                body: &body,
            };
            attempt::attempt(&state, service, &request).await
        }
        // A master key that is missing now may be configured again before the period ends.
        Err(error) => AttemptResult::Transient {
            status: None,
            message: format!("opening the sealed body failed: {error}"),
            retry_after: None,
        },
    };
    let outcome = service.outcome_of(&result, delivery.attempts, delivery.give_up_ms);
    log_outcome(&delivery.id, &delivery.account_id, attempt_number, &outcome);
    match state.store.finish_attempt(&delivery.id, &service.node_id, outcome, time::now_ms()).await {
        Ok(true) => {}
        Ok(false) => tracing::warn!(delivery = %delivery.id, "the lease ran out during the attempt; another node owns the row now"),
        Err(error) => tracing::error!(delivery = %delivery.id, %error, "recording a delivery attempt failed; it is retried after the lease"),
    }
}
