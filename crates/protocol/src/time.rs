//! Clock helpers: the protocol mixes seconds (`expires_on`) and milliseconds (`timestamp`,
//! session `expiry`, `created`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Returns the current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// Returns the current Unix time in seconds.
pub fn now_s() -> i64 {
    now_ms() / 1000
}
