//! Delivery of pushed FHIR STU3 data to healthcare providers through a durable outbox.
//!
//! A push is sealed and written to the `deliveries` table, leased to this node, before the
//! first attempt. The request then makes that attempt itself, so the app learns at once when
//! the provider accepted or rejected the data. When the provider cannot be reached, responds
//! with 5xx or times out, the row stays pending and [`worker`] retries it with exponential backoff
//! and jitter until the retry period ends. Any node may claim a due row once its lease has run
//! out, and every attempt reuses the identifier stamped by [`prepare`], so a retry never creates
//! a second copy at the provider.

pub mod attempt;
pub mod prepare;
pub mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::Notify;
use trove_protocol::{random, time};

use crate::config::Config;
use crate::service::envelope::EnvelopeError;
use crate::state::AppState;
use crate::store::deliveries::{AttemptOutcome, Delivery};
use crate::store::StoreError;

use self::attempt::{AttemptRequest, AttemptResult};
use self::prepare::Prepared;

/// Path the built-in sandbox provider is served under.
pub const SANDBOX_PATH: &str = "/sandbox/fhir";

/// Retry timing, from [`Config`].
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay before the second attempt; each later delay doubles it.
    pub first_delay: Duration,
    /// Largest delay between two attempts.
    pub max_delay: Duration,
    /// How long after the push attempts go on.
    pub retry_period: Duration,
}

impl RetryPolicy {
    /// Returns the delay after `attempts` failed attempts: `first_delay · 2^(attempts−1)`,
    /// capped at `max_delay`, then scaled by a random factor from 0.5 to 1.0 so that deliveries
    /// that failed together do not retry together.
    pub fn delay_after(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = attempts.saturating_sub(1).min(30);
        let base = self.first_delay.saturating_mul(1 << exponent).min(self.max_delay);
        let random = u16::from_le_bytes(random::bytes::<2>()) as f64 / u16::MAX as f64;
        let jittered = base.mul_f64(0.5 + 0.5 * random);
        match retry_after {
            Some(requested) => jittered.max(requested.min(self.max_delay)),
            None => jittered,
        }
    }
}

/// State of the delivery machinery shared by request handlers and the worker.
pub struct DeliveryService {
    /// Lease owner name of this node, new at every start.
    pub node_id: String,
    /// Client for provider FHIR and token endpoints.
    pub(crate) http: reqwest::Client,
    /// Bearer token of the built-in sandbox provider.
    pub(crate) sandbox_token: SecretString,
    /// Retry timing.
    pub retry: RetryPolicy,
    /// How long a claimed row stays leased: long enough for one attempt with a token refresh
    /// and a second request.
    pub lease: Duration,
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Wakes the worker when a request schedules a retry.
    pub(crate) wake: Notify,
}

/// A failure to accept a push into the outbox.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Writing the outbox row failed; nothing was accepted.
    #[error("storing the delivery failed: {0}")]
    Store(#[from] StoreError),
}

/// The result of a push that the app receives.
#[derive(Debug)]
pub enum Submitted {
    /// The provider accepted the data.
    Delivered {
        /// Delivery id.
        id: String,
        /// Provider status.
        status: u16,
        /// Provider `Location`.
        location: Option<String>,
        /// Provider JSON body.
        body: Option<serde_json::Value>,
    },
    /// The data waits in the outbox for a later attempt.
    Pending {
        /// Delivery id.
        id: String,
    },
    /// The provider rejected the data or Trove cannot deliver to the account.
    Failed {
        /// Delivery id.
        id: String,
        /// The attempt's result (`Rejected`, `Unauthorized` or `Gone`).
        result: AttemptResult,
    },
}

impl DeliveryService {
    /// Creates the service from the settings; the sandbox token is the configured one or a new
    /// random one.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.delivery_request_timeout)
            .connect_timeout(config.delivery_request_timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("trove/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let sandbox_token = config.sandbox_provider_token.clone().unwrap_or_else(random::token::<32>);
        Ok(Self {
            node_id: random::alphanumeric(16),
            http,
            sandbox_token: SecretString::from(sandbox_token),
            retry: RetryPolicy {
                first_delay: config.delivery_first_delay,
                max_delay: config.delivery_max_delay,
                retry_period: config.delivery_retry_period,
            },
            lease: config.delivery_request_timeout.saturating_mul(4) + Duration::from_secs(30),
            refresh_locks: Mutex::default(),
            wake: Notify::new(),
        })
    }

    /// Returns the bearer token that the sandbox provider accepts.
    pub fn sandbox_token(&self) -> &SecretString {
        &self.sandbox_token
    }

    fn refresh_lock(&self, account_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.refresh_locks.lock().expect("refresh lock map");
        Arc::clone(locks.entry(account_id.to_string()).or_default())
    }

    /// Returns the outbox record of one attempt's result: delivered, failed, or another attempt
    /// after the backoff delay, unless the retry period has ended.
    pub fn outcome_of(&self, result: &AttemptResult, attempts_before: u32, give_up_ms: i64) -> AttemptOutcome {
        let status = result.status();
        match result {
            AttemptResult::Delivered { status, location, .. } => {
                AttemptOutcome::Delivered { status: *status, location: location.clone() }
            }
            AttemptResult::Rejected { message, .. }
            | AttemptResult::Unauthorized { message }
            | AttemptResult::Gone { message } => AttemptOutcome::Failed { error: message.clone(), status },
            AttemptResult::Transient { message, retry_after, .. } => {
                let now = time::now_ms();
                let attempts = attempts_before + 1;
                if now >= give_up_ms {
                    let period = self.retry.retry_period.as_secs();
                    return AttemptOutcome::Failed {
                        error: format!("gave up after {attempts} attempts over the retry period of {period} s; last error: {message}"),
                        status,
                    };
                }
                let delay = self.retry.delay_after(attempts, *retry_after).as_millis() as i64;
                AttemptOutcome::Retry { error: message.clone(), status, next_attempt_ms: (now + delay).min(give_up_ms) }
            }
        }
    }
}

/// The pushing user and contract, recorded on the outbox row.
pub struct Pusher<'a> {
    /// Library of the token.
    pub library_id: &'a str,
    /// Pushing application.
    pub app_id: &'a str,
    /// Pushing contract.
    pub contract_id: &'a str,
}

/// Returns a new delivery id; it is also the idempotency identifier's value.
pub fn new_delivery_id() -> String {
    random::alphanumeric(24)
}

fn seal_context(delivery_id: &str) -> String {
    format!("delivery/{delivery_id}/body")
}

/// Opens a delivery's sealed body.
pub fn open_body(state: &AppState, delivery: &Delivery) -> Result<zeroize::Zeroizing<Vec<u8>>, EnvelopeError> {
    let sealed = delivery.sealed_body.as_deref().ok_or(EnvelopeError::Tampered)?;
    state.master.open(&delivery.key_id, sealed, &seal_context(&delivery.id))
}

/// Writes a prepared push to the outbox, makes the first attempt and records its result.
///
/// Returns once the row is durable and the attempt's result is recorded. When recording fails
/// the row stays pending under this node's lease, and the worker retries it after the lease.
pub async fn submit(
    state: &AppState,
    pusher: Pusher<'_>,
    account_id: &str,
    delivery_id: String,
    prepared: Prepared,
) -> Result<Submitted, SubmitError> {
    let service = &state.deliveries;
    let body = serde_json::to_vec(&prepared.body).expect("a JSON value serializes");
    let now = time::now_ms();
    let (key_id, sealed) = state.master.seal(&body, &seal_context(&delivery_id));
    let delivery = Delivery {
        id: delivery_id.clone(),
        library_id: pusher.library_id.to_string(),
        account_id: account_id.to_string(),
        app_id: pusher.app_id.to_string(),
        contract_id: pusher.contract_id.to_string(),
        resource_type: prepared.resource_type.clone(),
        if_none_exist: prepared.if_none_exist.clone(),
        attempts: 0,
        key_id,
        sealed_body: Some(sealed),
        created_ms: now,
        give_up_ms: now + service.retry.retry_period.as_millis() as i64,
    };
    let give_up_ms = delivery.give_up_ms;
    state.store.create_delivery(delivery, &service.node_id, now + service.lease.as_millis() as i64).await?;

    let request = AttemptRequest {
        library_id: pusher.library_id,
        account_id,
        resource_type: prepared.resource_type.as_deref(),
        if_none_exist: prepared.if_none_exist.as_deref(),
        body: &body,
    };
    let result = attempt::attempt(state, service, &request).await;
    let outcome = service.outcome_of(&result, 0, give_up_ms);
    log_outcome(&delivery_id, account_id, 1, &outcome);
    let recorded = state.store.finish_attempt(&delivery_id, &service.node_id, outcome.clone(), time::now_ms()).await;
    if let Err(error) = &recorded {
        // The row is still pending under our lease, so the worker delivers it (again, which
        // the idempotency identifier makes harmless) once the lease runs out.
        tracing::error!(delivery = %delivery_id, %error, "recording a delivery attempt failed; the worker will retry it");
    }
    Ok(match (outcome, result) {
        (AttemptOutcome::Delivered { .. }, AttemptResult::Delivered { status, location, body }) => {
            Submitted::Delivered { id: delivery_id, status, location, body }
        }
        (AttemptOutcome::Retry { .. }, _) => {
            service.wake.notify_one();
            Submitted::Pending { id: delivery_id }
        }
        (_, AttemptResult::Transient { .. }) => Submitted::Pending { id: delivery_id },
        (_, result) => Submitted::Failed { id: delivery_id, result },
    })
}

/// Logs one attempt's recorded outcome.
pub fn log_outcome(delivery_id: &str, account_id: &str, attempt: u32, outcome: &AttemptOutcome) {
    match outcome {
        AttemptOutcome::Delivered { status, .. } => {
            tracing::info!(delivery = %delivery_id, account = %account_id, attempt, status, "delivered to the provider");
        }
        AttemptOutcome::Retry { error, next_attempt_ms, .. } => {
            let delay_ms = next_attempt_ms - time::now_ms();
            tracing::warn!(delivery = %delivery_id, account = %account_id, attempt, delay_ms, %error, "delivery attempt failed; will retry");
        }
        AttemptOutcome::Failed { error, .. } => {
            tracing::warn!(delivery = %delivery_id, account = %account_id, attempt, %error, "delivery failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_and_caps() {
        let policy = RetryPolicy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            retry_period: Duration::from_secs(3600),
        };
        for _ in 0..50 {
            let first = policy.delay_after(1, None);
            assert!(first >= Duration::from_millis(500), "{first:?}");
            assert!(first <= Duration::from_secs(1), "{first:?}");
            let fourth = policy.delay_after(4, None);
            assert!(fourth >= Duration::from_secs(4), "{fourth:?}");
            assert!(fourth <= Duration::from_secs(8), "{fourth:?}");
            let late = policy.delay_after(40, None);
            assert!(late >= Duration::from_secs(30), "{late:?}");
            assert!(late <= Duration::from_secs(60), "{late:?}");
        }
    }

    #[test]
    fn retry_after_is_honored_up_to_max() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(60),
            retry_period: Duration::from_secs(3600),
        };

        assert!(policy.delay_after(1, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        assert!(policy.delay_after(1, Some(Duration::from_secs(600))) <= Duration::from_secs(60));
    }
}
