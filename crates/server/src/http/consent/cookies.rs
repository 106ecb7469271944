//! The consent pages' two cookies and the CSRF check.
//!
//! `trove_csrf` contains a random token that every form repeats in its hidden `csrf` field (the
//! double-submit pattern): a page on another site can make the browser send the cookie but
//! cannot read it to fill in the field. `trove_session` holds the signed-in library's session
//! secret, and the store keeps only its SHA-256. Both are HttpOnly and SameSite=Lax, so the
//! top-level GET from the app to `authorize` still carries them, and Secure when the public
//! URL is HTTPS.

use std::time::Duration;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::http::header::COOKIE;
use axum::http::HeaderMap;

use crate::state::AppState;

/// Name of the cookie holding the CSRF token.
pub const CSRF_COOKIE: &str = "trove_csrf";
/// Name of the cookie holding the signed-in session secret.
pub const SESSION_COOKIE: &str = "trove_session";

/// Returns the value of the cookie `name` from the request's `Cookie` headers.
pub fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// Checks that `value` has the form of a `random::token::<32>()`: 43 base64url characters.
/// Anything else in a cookie is replaced rather than echoed into a page.
fn is_token(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// The CSRF token of a request: the browser's existing one, or a new one that the response
/// must set.
pub struct CsrfToken {
    /// The token, repeated in each form's hidden `csrf` field.
    pub value: String,
    /// Whether the response must send a `Set-Cookie` for it.
    pub is_new: bool,
}

impl CsrfToken {
    /// Reuses the request's CSRF cookie when it is well formed, so that two tabs of the
    /// consent pages keep working; otherwise creates a token.
    pub fn for_request(headers: &HeaderMap) -> Self {
        match read_cookie(headers, CSRF_COOKIE).filter(|value| is_token(value)) {
            Some(value) => Self { value: value.to_string(), is_new: false },
            None => Self { value: trove_protocol::random::token::<32>(), is_new: true },
        }
    }
}

/// Checks that the form's `csrf` field equals the `trove_csrf` cookie. The comparison takes the
/// same time for every mismatch of equal length. A missing cookie or field never matches.
pub fn csrf_matches(headers: &HeaderMap, submitted: Option<&str>) -> bool {
    let (Some(cookie), Some(submitted)) = (read_cookie(headers, CSRF_COOKIE), submitted) else {
        return false;
    };
    // Only a token of the form Trove issues counts, so a cookie planted with any value (for
    // example `x` through a sibling subdomain) cannot be matched by a form field of its choice.
    is_token(cookie) && verify_slices_are_equal(cookie.as_bytes(), submitted.as_bytes()).is_ok()
}

/// Returns the path both cookies are scoped to: `/apps/saas` below the public URL's own path, so a
/// server published under a path prefix still gets its cookies back.
pub fn cookie_path(state: &AppState) -> String {
    let base_path =
        url::Url::parse(&state.public_url).map(|url| url.path().trim_end_matches('/').to_string()).unwrap_or_default();
    format!("{base_path}/apps/saas")
}

/// Builds a `Set-Cookie` value. `max_age` of `None` makes a browser-session cookie.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<Duration>) -> String {
    let mut cookie = format!("{name}={value}; Path={}; HttpOnly; SameSite=Lax", cookie_path(state));
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", max_age.as_secs()));
    }
    if state.is_https() {
        cookie.push_str("; Secure");
    }
    cookie
}

/// Returns the session secret of a request when the cookie is well formed.
pub fn session_secret(headers: &HeaderMap) -> Option<&str> {
    read_cookie(headers, SESSION_COOKIE).filter(|value| is_token(value))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_cookies(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(COOKIE, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    #[test]
    fn read_cookie_across_headers() {
        let headers = with_cookies(&["a=1; trove_csrf=abc", "trove_session=xyz"]);
        assert_eq!(read_cookie(&headers, CSRF_COOKIE), Some("abc"));
        assert_eq!(read_cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(read_cookie(&headers, "missing"), None);
    }

    #[test]
    fn csrf_match_requires_both_sides() {
        let token = "a".repeat(42) + "b";
        let headers = with_cookies(&[&format!("trove_csrf={token}")]);
        assert!(csrf_matches(&headers, Some(&token)));
        assert!(!csrf_matches(&headers, Some(&("a".repeat(42) + "c"))));
        assert!(!csrf_matches(&headers, Some("token")));
        assert!(!csrf_matches(&headers, None));
        assert!(!csrf_matches(&HeaderMap::new(), Some(&token)));
        assert!(!csrf_matches(&with_cookies(&["trove_csrf="]), Some("")));
    }

    #[test]
    fn csrf_match_rejects_planted_short_token() {
        let headers = with_cookies(&["trove_csrf=x"]);
        assert!(!csrf_matches(&headers, Some("x")));
    }

    #[test]
    fn malformed_csrf_cookie_is_replaced() {
        let headers = with_cookies(&["trove_csrf=<script>"]);
        let token = CsrfToken::for_request(&headers);
        assert!(token.is_new);
        assert!(is_token(&token.value));

        let reused = CsrfToken::for_request(&with_cookies(&[&format!("trove_csrf={}", token.value)]));
        assert!(!reused.is_new);
        assert_eq!(reused.value, token.value);
    }
}
