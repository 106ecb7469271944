//! Retries of failed idempotent requests, following the defaults of got 11, the Node SDK's HTTP
//! client: exponential backoff with jitter, `Retry-After` honoured, POST never retried.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};

/// The retry settings for failed idempotent requests (GET, HEAD, DELETE).
///
/// A request is retried on a connection failure, a timeout, or one of the statuses 408, 413 (only
/// with `Retry-After`), 429, 500, 502, 503 and 504. POST requests (authorize, token, trigger,
/// push) are never retried because the server may already have acted on them. Every attempt
/// is signed again, so it carries a fresh nonce and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Maximum number of retries after the first attempt (default 2, so at most 3 attempts).
    pub limit: u32,
    /// Delay before the first retry; it doubles for each later retry (default 1 s).
    pub base_delay: Duration,
    /// Upper bound of the random delay added to each backoff (default 100 ms).
    pub max_jitter: Duration,
    /// Longest `Retry-After` the client waits for; a longer one ends the retries (default
    /// 60 s).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            limit: 2,
            base_delay: Duration::from_millis(1000),
            max_jitter: Duration::from_millis(100),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Returns a policy that never retries.
    pub fn none() -> Self {
        Self {
            limit: 0,
            ..Self::default()
        }
    }

    /// Returns the backoff before retry number `retry` (1 for the first retry) without jitter:
    /// `base_delay · 2^(retry − 1)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        self.base_delay.saturating_mul(1u32 << exponent)
    }

    fn jitter(&self) -> Duration {
        let max_ms = self.max_jitter.as_millis() as u64;
        if max_ms == 0 {
            return Duration::ZERO;
        }
        let random = u64::from_le_bytes(trove_protocol::random::bytes::<8>());
        Duration::from_millis(random % (max_ms + 1))
    }

    /// Decides whether a response with `status` is retried as retry number `retry`, and after
    /// what delay. Returns `None` when it is not retried.
    pub(crate) fn delay_after_status(
        &self,
        method: &Method,
        status: StatusCode,
        headers: &HeaderMap,
        retry: u32,
    ) -> Option<Duration> {
        if retry > self.limit || !is_idempotent(method) {
            return None;
        }
        let retry_after = parse_retry_after(headers);
        if !is_retryable_status(status, retry_after.is_some()) {
            return None;
        }
        match retry_after {
            // got honours Retry-After on 413, 429 and 503 only.
            Some(wait) if matches!(status.as_u16(), 413 | 429 | 503) => {
                if wait > self.max_retry_after {
                    None
                } else {
                    Some(wait)
                }
            }
            _ => Some(self.backoff(retry) + self.jitter()),
        }
    }

    /// Decides whether a transport failure is retried as retry number `retry`, and after what
    /// delay.
    pub(crate) fn delay_after_error(
        &self,
        method: &Method,
        error: &reqwest::Error,
        retry: u32,
    ) -> Option<Duration> {
        if retry > self.limit || !is_idempotent(method) || !is_retryable_error(error) {
            return None;
        }
        Some(self.backoff(retry) + self.jitter())
    }
}

/// Reports whether requests with `method` may be retried.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::DELETE)
}

/// Reports whether a response status is worth retrying. A 413 is retried only when the response
/// carries `Retry-After`.
pub(crate) fn is_retryable_status(status: StatusCode, has_retry_after: bool) -> bool {
    match status.as_u16() {
        408 | 429 | 500 | 502 | 503 | 504 => true,
        413 => has_retry_after,
        _ => false,
    }
}

fn is_retryable_error(error: &reqwest::Error) -> bool {
    error.is_connect() || error.is_timeout()
}

/// Reads `Retry-After` in its delay-seconds form.
// NOTE: the HTTP-date form is not parsed; such a response is retried after the normal backoff.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn retry_after(seconds: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(seconds).unwrap());
        headers
    }

    #[test]
    fn retryable_status_table() {
        for code in [408, 429, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                is_retryable_status(status, false),
                "{code} without Retry-After"
            );
            assert!(is_retryable_status(status, true), "{code} with Retry-After");
        }
        assert!(!is_retryable_status(StatusCode::PAYLOAD_TOO_LARGE, false));
        assert!(is_retryable_status(StatusCode::PAYLOAD_TOO_LARGE, true));
        for code in [200, 201, 400, 401, 403, 404, 406, 501, 505] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(!is_retryable_status(status, true), "{code}");
        }
    }

    #[test]
    fn only_idempotent_methods_retry() {
        assert!(is_idempotent(&Method::GET));
        assert!(is_idempotent(&Method::HEAD));
        assert!(is_idempotent(&Method::DELETE));
        assert!(!is_idempotent(&Method::POST));
        let policy = RetryPolicy::default();
        let none = HeaderMap::new();
        assert!(policy
            .delay_after_status(&Method::POST, StatusCode::SERVICE_UNAVAILABLE, &none, 1)
            .is_none());
        assert!(policy
            .delay_after_status(&Method::GET, StatusCode::SERVICE_UNAVAILABLE, &none, 1)
            .is_some());
    }

    #[test]
    fn backoff_doubles() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_millis(1000));
        assert_eq!(policy.backoff(2), Duration::from_millis(2000));
        assert_eq!(policy.backoff(3), Duration::from_millis(4000));
    }

    #[test]
    fn delay_includes_bounded_jitter() {
        let policy = RetryPolicy::default();
        let none = HeaderMap::new();
        for _ in 0..50 {
            let delay = policy
                .delay_after_status(&Method::GET, StatusCode::BAD_GATEWAY, &none, 2)
                .unwrap();
            assert!(delay >= Duration::from_millis(2000), "{delay:?}");
            assert!(delay <= Duration::from_millis(2100), "{delay:?}");
        }
    }

    #[test]
    fn limit_stops_retries() {
        let policy = RetryPolicy::default();
        let none = HeaderMap::new();
        assert!(policy
            .delay_after_status(&Method::GET, StatusCode::BAD_GATEWAY, &none, 2)
            .is_some());
        assert!(policy
            .delay_after_status(&Method::GET, StatusCode::BAD_GATEWAY, &none, 3)
            .is_none());
        assert!(RetryPolicy::none()
            .delay_after_status(&Method::GET, StatusCode::BAD_GATEWAY, &none, 1)
            .is_none());
    }

    #[test]
    fn retry_after_is_honoured() {
        let policy = RetryPolicy::default();
        let delay = policy.delay_after_status(
            &Method::GET,
            StatusCode::TOO_MANY_REQUESTS,
            &retry_after("7"),
            1,
        );
        assert_eq!(delay, Some(Duration::from_secs(7)));
        let delay = policy.delay_after_status(
            &Method::GET,
            StatusCode::PAYLOAD_TOO_LARGE,
            &retry_after("3"),
            1,
        );
        assert_eq!(delay, Some(Duration::from_secs(3)));
        let too_long = policy.delay_after_status(
            &Method::GET,
            StatusCode::SERVICE_UNAVAILABLE,
            &retry_after("3600"),
            1,
        );
        assert_eq!(too_long, None);
        // A 500 ignores Retry-After and uses the backoff.
        let delay = policy
            .delay_after_status(
                &Method::GET,
                StatusCode::INTERNAL_SERVER_ERROR,
                &retry_after("30"),
                1,
            )
            .unwrap();
        assert!(delay < Duration::from_secs(2), "{delay:?}");
    }
}
