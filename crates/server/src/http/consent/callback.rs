//! The redirect back to the app's callback, and what the pages need to know about its target.

use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::store::Authorization;

/// Outcome of a consent flow, as the callback reports it.
pub enum Outcome<'a> {
    /// The person allowed access; carries the new authorization code, and the reference of
    /// the account onboarded in the flow, if any.
    Allowed { code: &'a str, account_reference: Option<&'a str> },
    /// The person denied access (`USER_CANCEL`).
    Denied,
    /// The preauthorization code expired or was already used (`INVALID_CODE`).
    InvalidCode,
    /// Onboarding the chosen source failed (`ONBOARD_ERROR`).
    OnboardError,
}

/// Builds the callback URL: the authorization's `redirect_uri` with the outcome's parameters
/// appended to any query it already has, then `state` when the app sent one. Custom schemes
/// such as `myapp://auth` work because `url` keeps the scheme and authority as given.
pub fn callback_url(authorization: &Authorization, outcome: &Outcome<'_>) -> Result<Url, url::ParseError> {
    let mut url = Url::parse(&authorization.redirect_uri)?;
    {
        let mut query = url.query_pairs_mut();
        match outcome {
            Outcome::Allowed { code, account_reference } => {
                query.append_pair("success", "true");
                query.append_pair("code", code);
                if let Some(reference) = account_reference {
                    query.append_pair("accountReference", reference);
                }
            }
            Outcome::Denied => {
                query.append_pair("success", "false");
                query.append_pair("errorCode", "USER_CANCEL");
            }
            Outcome::InvalidCode => {
                query.append_pair("success", "false");
                query.append_pair("errorCode", "INVALID_CODE");
            }
            Outcome::OnboardError => {
                query.append_pair("success", "false");
                query.append_pair("errorCode", "ONBOARD_ERROR");
            }
        }
        if let Some(state) = &authorization.state {
            query.append_pair("state", state);
        }
    }
    Ok(url)
}

/// Builds a 303 See Other response to `location` that sets the given cookies.
pub fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(LOCATION, value);
        }
        Err(_) => {
            tracing::error!("a redirect target is not a valid header value");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// The CSP source expression that lets a form on these pages end at the callback: the origin
/// for `http` and `https` callbacks, the bare scheme (`myapp:`) for custom schemes. `None`
/// when the URL does not parse, so the caller can fall back to a policy without the callback.
pub fn form_action_source(redirect_uri: &str) -> Option<String> {
    let url = Url::parse(redirect_uri).ok()?;
    match url.scheme() {
        "http" | "https" => {
            let origin = url.origin();
            origin.is_tuple().then(|| origin.ascii_serialization())
        }
        scheme => Some(format!("{scheme}:")),
    }
}

/// A short name for where the person returns after deciding: the host of a web callback, or
/// the scheme and host of an app's custom-scheme callback.
pub fn destination_label(redirect_uri: &str) -> String {
    match Url::parse(redirect_uri) {
        Ok(url) => match (url.scheme(), url.host_str()) {
            ("http" | "https", Some(host)) => match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            },
            (scheme, Some(host)) => format!("{scheme}://{host}"),
            (scheme, None) => format!("{scheme}:"),
        },
        Err(_) => redirect_uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuthorizationStatus;

    fn authorization(redirect_uri: &str, state: Option<&str>) -> Authorization {
        Authorization {
            id: "auth".into(),
            code_hash: "hash".into(),
            app_id: "app".into(),
            contract_id: "contract".into(),
            redirect_uri: redirect_uri.into(),
            state: state.map(str::to_string),
            code_challenge: "challenge".into(),
            actions_json: None,
            linked_library: None,
            session_key: "session".into(),
            status: AuthorizationStatus::Pending,
            created_ms: 0,
            expires_ms: 0,
        }
    }

    #[test]
    fn allowed_keeps_existing_query_and_encodes_state() {
        let url = callback_url(
            &authorization("https://app.example/cb?x=1", Some("a b&c=d/é")),
            &Outcome::Allowed { code: "C0de", account_reference: None },
        )
        .unwrap();
        assert_eq!(url.as_str(), "https://app.example/cb?x=1&success=true&code=C0de&state=a+b%26c%3Dd%2F%C3%A9");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(pairs.last().unwrap(), &("state".to_string(), "a b&c=d/é".to_string()));
    }

    #[test]
    fn custom_scheme_callback() {
        let url = callback_url(&authorization("myapp://auth", None), &Outcome::Denied).unwrap();
        assert_eq!(url.as_str(), "myapp://auth?success=false&errorCode=USER_CANCEL");
        let url = callback_url(&authorization("digime-ca://callback-app", Some("s")), &Outcome::InvalidCode).unwrap();
        assert_eq!(url.as_str(), "digime-ca://callback-app?success=false&errorCode=INVALID_CODE&state=s");
    }

    #[test]
    fn form_action_sources() {
        assert_eq!(form_action_source("http://127.0.0.1:9999/cb?x=1").as_deref(), Some("http://127.0.0.1:9999"));
        assert_eq!(form_action_source("https://app.example/cb").as_deref(), Some("https://app.example"));
        assert_eq!(form_action_source("myapp://auth").as_deref(), Some("myapp:"));
        assert_eq!(form_action_source("not a url"), None);
    }

    #[test]
    fn destination_labels() {
        assert_eq!(destination_label("https://app.example/cb"), "app.example");
        assert_eq!(destination_label("http://127.0.0.1:9999/cb"), "127.0.0.1:9999");
        assert_eq!(destination_label("myapp://auth"), "myapp://auth");
    }
}
