//! Limits password guessing on the sign-in form.
//!
//! After [`MAX_FAILURES`] failed sign-ins for one username within [`WINDOW`], further attempts
//! for that username are rejected without checking the password until the oldest failure in
//! the window is [`WINDOW`] old. A successful sign-in clears the count. Unknown usernames are
//! counted the same way, so the lockout does not reveal which usernames exist.
//!
//! The counts live in memory: they reset when the server restarts and are not shared between
//! servers. Anyone can lock a username out for up to [`WINDOW`] by guessing badly; that is the
//! price of stopping online guessing without CAPTCHAs or e-mail.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins for one username that trigger the lockout.
pub const MAX_FAILURES: usize = 5;
/// The period over which failures are counted, and the longest lockout.
pub const WINDOW: Duration = Duration::from_secs(5 * 60);
/// Map size above which stale usernames are swept out on the next failure.
const SWEEP_THRESHOLD: usize = 10_000;

/// Recent sign-in failures per username.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// Returns how long `username` stays locked out, or `None` when it may try now.
    pub fn locked_for(&self, username: &str) -> Option<Duration> {
        self.locked_for_at(username, Instant::now())
    }

    fn locked_for_at(&self, username: &str, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let recent = failures.get_mut(username)?;
        drop_expired(recent, now);
        if recent.len() < MAX_FAILURES {
            return None;
        }
        let oldest = *recent.front()?;
        Some(WINDOW.saturating_sub(now.duration_since(oldest)))
    }

    /// Starts a sign-in attempt for `username`: counts it as a failure at once, under the same
    /// lock as the lockout check, so parallel attempts cannot all pass the check before any of
    /// them is counted. [`LoginThrottle::clear`] undoes the count when the password was right.
    /// Returns the remaining lockout when the username may not try now.
    pub fn begin_attempt(&self, username: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(recent) = failures.get_mut(username) {
            drop_expired(recent, now);
            if recent.len() >= MAX_FAILURES {
                let oldest = recent.front().copied().unwrap_or(now);
                return Err(WINDOW.saturating_sub(now.duration_since(oldest)));
            }
        }
        drop(failures);
        self.record_failure_at(username, now);
        Ok(())
    }

    /// Counts a failed sign-in for `username`.
    pub fn record_failure(&self, username: &str) {
        self.record_failure_at(username, Instant::now());
    }

    fn record_failure_at(&self, username: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() >= SWEEP_THRESHOLD {
            failures.retain(|_, recent| {
                drop_expired(recent, now);
                !recent.is_empty()
            });
        }
        let recent = failures.entry(username.to_string()).or_default();
        drop_expired(recent, now);
        recent.push_back(now);
        // Only the newest MAX_FAILURES matter for the lockout.
        while recent.len() > MAX_FAILURES {
            recent.pop_front();
        }
    }

    /// Forgets the failures of `username` after a successful sign-in.
    pub fn clear(&self, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.remove(username);
    }
}

fn drop_expired(recent: &mut VecDeque<Instant>, now: Instant) {
    while recent.front().is_some_and(|&time| now.duration_since(time) >= WINDOW) {
        recent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        for attempt in 0..MAX_FAILURES {
            assert_eq!(throttle.locked_for_at("alice", start), None, "attempt {attempt}");
            throttle.record_failure_at("alice", start);
        }
        assert_eq!(throttle.locked_for_at("alice", start), Some(WINDOW));
        assert_eq!(throttle.locked_for_at("bob", start), None);
    }

    #[test]
    fn lockout_ends_when_oldest_failure_ages_out() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        throttle.record_failure_at("alice", start);
        let later = start + Duration::from_secs(60);
        for _ in 1..MAX_FAILURES {
            throttle.record_failure_at("alice", later);
        }
        let check = start + Duration::from_secs(120);
        assert_eq!(throttle.locked_for_at("alice", check), Some(WINDOW - Duration::from_secs(120)));
        assert_eq!(throttle.locked_for_at("alice", start + WINDOW), None);
    }

    #[test]
    fn success_clears_failures() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES {
            throttle.record_failure_at("alice", now);
        }
        throttle.clear("alice");
        assert_eq!(throttle.locked_for_at("alice", now), None);
    }
}
