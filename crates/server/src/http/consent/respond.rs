//! HTML responses of the consent pages and the security headers on every response.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::Markup;

/// Builds the Content-Security-Policy of a page.
///
/// Nothing but inline styles may load, and no site may frame the page. `form-action` allows
/// this server plus `callback_source`, the callback's origin or scheme. Chromium applies
/// `form-action` to every redirect that follows a form submission. Checked with Chromium 156,
/// a page under `form-action 'self'` stays put when its form's 303 points elsewhere. The
/// consent form's response is a 303 to the app's callback, so the callback must be listed.
/// Listing it, rather than dropping the directive, keeps a form injected into the page from
/// posting anywhere else.
pub fn content_security_policy(callback_source: Option<&str>) -> String {
    let mut form_action = String::from("'self'");
    if let Some(source) = callback_source {
        form_action.push(' ');
        form_action.push_str(source);
    }
    format!("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'; form-action {form_action}")
}

/// A rendered page with its status, the callback source for its CSP, and cookies to set.
pub struct HtmlPage {
    /// HTTP status.
    pub status: StatusCode,
    /// The document.
    pub markup: Markup,
    /// CSP source of the callback that forms on this page may end at.
    pub callback_source: Option<String>,
    /// Further CSP `form-action` sources, such as the authorization endpoints of providers
    /// that a push consent form may redirect to.
    pub form_sources: Vec<String>,
    /// `Set-Cookie` values.
    pub cookies: Vec<String>,
}

impl HtmlPage {
    /// A page without callback or cookies.
    pub fn new(status: StatusCode, markup: Markup) -> Self {
        Self { status, markup, callback_source: None, form_sources: Vec::new(), cookies: Vec::new() }
    }
}

impl IntoResponse for HtmlPage {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.markup.into_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
        // Every part of the policy is ASCII: fixed text, a URL origin, or a URL scheme.
        let sources: Vec<&str> = self.callback_source.iter().chain(&self.form_sources).map(String::as_str).collect();
        let sources = (!sources.is_empty()).then(|| sources.join(" "));
        if let Ok(policy) = HeaderValue::from_str(&content_security_policy(sources.as_deref())) {
            headers.insert(CONTENT_SECURITY_POLICY, policy);
        }
        for cookie in &self.cookies {
            if let Ok(value) = HeaderValue::from_str(cookie) {
                headers.append(SET_COOKIE, value);
            }
        }
        response
    }
}

/// Adds the headers every consent response carries, redirects and framework rejections
/// included. The URLs of these pages and of their redirects carry preauthorization and
/// authorization codes, hence `no-referrer` and `no-store`.
pub async fn add_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        if let Ok(policy) = HeaderValue::from_str(&content_security_policy(None)) {
            headers.insert(CONTENT_SECURITY_POLICY, policy);
        }
    }
    response
}
