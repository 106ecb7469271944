//! One delivery attempt: find the account's provider, authorize, POST, and classify the response.
//!
//! The provider's OAuth access token is refreshed with its refresh token when it has expired,
//! and once more when the provider responds with 401; the request is then sent again once. New tokens
//! are stored sealed on the account before they are used.

use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use trove_protocol::time;

use super::DeliveryService;
use crate::service::providers::{open_account_tokens, open_provider_secret, seal_account_tokens, PlainAccountTokens, ProviderSecret};
use crate::state::AppState;
use crate::store::{Provider, ProviderAccount, ProviderAuth};

/// `Content-Type` of every delivery: FHIR JSON of release 3.0 (STU3).
pub const FHIR_CONTENT_TYPE: &str = "application/fhir+json; fhirVersion=3.0";

/// Access tokens this close to their expiry are refreshed before use.
const EXPIRY_MARGIN_MS: i64 = 30_000;

/// The request data of one attempt.
pub struct AttemptRequest<'a> {
    /// Library of the account.
    pub library_id: &'a str,
    /// The PUSH account.
    pub account_id: &'a str,
    /// Resource type, or `None` to post a Bundle to the base URL.
    pub resource_type: Option<&'a str>,
    /// `If-None-Exist` for a single resource.
    pub if_none_exist: Option<&'a str>,
    /// The prepared JSON.
    pub body: &'a [u8],
}

/// The classified result of one attempt.
#[derive(Debug)]
pub enum AttemptResult {
    /// The provider responded with 2xx.
    Delivered {
        /// Its status.
        status: u16,
        /// Its `Location` header.
        location: Option<String>,
        /// Its JSON body, if it sent one.
        body: Option<Value>,
    },
    /// The provider rejected the data (4xx other than 401, 408 and 429); retrying cannot help.
    Rejected {
        /// Its status.
        status: u16,
        /// A summary naming the provider's OperationOutcome diagnostics.
        message: String,
        /// Its OperationOutcome, if it sent one.
        outcome: Option<Value>,
    },
    /// Trove is not, or no longer, authorized at the provider; the account needs to be
    /// authorized again.
    Unauthorized {
        /// What failed.
        message: String,
    },
    /// The account or its provider no longer exists.
    Gone {
        /// The missing row.
        message: String,
    },
    /// Unreachable, timed out, 5xx, 408 or 429: try again later.
    Transient {
        /// Provider status, when it responded.
        status: Option<u16>,
        /// What failed.
        message: String,
        /// The provider's `Retry-After`, when it sent one in seconds.
        retry_after: Option<Duration>,
    },
}

impl AttemptResult {
    /// Returns the provider status this result carries, if any.
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptResult::Delivered { status, .. } | AttemptResult::Rejected { status, .. } => Some(*status),
            AttemptResult::Transient { status, .. } => *status,
            AttemptResult::Unauthorized { .. } | AttemptResult::Gone { .. } => None,
        }
    }
}

/// Source of the bearer token for a provider.
enum Credentials {
    /// The account's OAuth tokens.
    OAuth { tokens: PlainAccountTokens },
    /// One token for every account of the provider.
    Fixed(SecretString),
}

/// Makes one attempt. Store and sealing failures come back as transient, because the data is
/// still in the outbox and a later attempt may succeed.
pub async fn attempt(state: &AppState, service: &DeliveryService, request: &AttemptRequest<'_>) -> AttemptResult {
    let (account, provider) = match find_target(state, request).await {
        Ok(found) => found,
        Err(result) => return result,
    };
    let base = match fhir_base_url(state, &provider) {
        Ok(base) => base,
        Err(message) => return AttemptResult::Gone { message },
    };
    let url = match target_url(&base, request.resource_type) {
        Ok(url) => url,
        Err(message) => return AttemptResult::Gone { message },
    };
    let mut credentials = match credentials(state, service, &account, &provider) {
        Ok(credentials) => credentials,
        Err(result) => return result,
    };

    if let Credentials::OAuth { tokens } = &credentials {
        let expired = tokens.expires_ms.is_some_and(|expires| expires <= time::now_ms() + EXPIRY_MARGIN_MS);
        if tokens.access_token.is_none() || expired {
            match refresh(state, service, &account, &provider, tokens.access_token.as_ref()).await {
                Ok(fresh) => credentials = Credentials::OAuth { tokens: fresh },
                Err(result) => return result,
            }
        }
    }

    let first = send(service, &url, request, &credentials).await;
    if !matches!(&first, Sent::Answer { status, .. } if *status == StatusCode::UNAUTHORIZED) {
        return classify(first);
    }
    let Credentials::OAuth { tokens } = &credentials else {
        return AttemptResult::Unauthorized {
            message: format!("provider {} rejected its configured bearer token with HTTP 401", provider.id),
        };
    };
    tracing::info!(account = %account.id, provider = provider.id, "provider responded with 401; refreshing its access token");
    let fresh = match refresh(state, service, &account, &provider, tokens.access_token.as_ref()).await {
        Ok(fresh) => fresh,
        Err(result) => return result,
    };
    let second = send(service, &url, request, &Credentials::OAuth { tokens: fresh }).await;
    if matches!(&second, Sent::Answer { status, .. } if *status == StatusCode::UNAUTHORIZED) {
        return AttemptResult::Unauthorized {
            message: format!("provider {} responded with 401 again after its access token was refreshed", provider.id),
        };
    }
    classify(second)
}

async fn find_target(state: &AppState, request: &AttemptRequest<'_>) -> Result<(ProviderAccount, Provider), AttemptResult> {
    let transient = |error: crate::store::StoreError| AttemptResult::Transient {
        status: None,
        message: format!("reading the account failed: {error}"),
        retry_after: None,
    };
    let account = state
        .store
        .find_account(request.library_id, request.account_id)
        .await
        .map_err(transient)?
        .ok_or_else(|| AttemptResult::Gone { message: format!("account {} no longer exists", request.account_id) })?;
    let provider = state
        .store
        .find_provider(account.provider_id)
        .await
        .map_err(transient)?
        .ok_or_else(|| AttemptResult::Gone { message: format!("provider {} no longer exists", account.provider_id) })?;
    Ok((account, provider))
}

/// Returns the provider's FHIR base URL. A sandbox provider without one uses the built-in
/// sandbox, which must be enabled.
fn fhir_base_url(state: &AppState, provider: &Provider) -> Result<String, String> {
    if !provider.fhir_base_url.is_empty() || provider.auth != ProviderAuth::Sandbox {
        return Ok(provider.fhir_base_url.clone());
    }
    if !state.config.sandbox_provider {
        return Err(format!(
            "provider {} is the built-in sandbox, which is not enabled; start the server with --sandbox-provider",
            provider.id
        ));
    }
    // NOTE: this goes through the public URL, which must reach this server from itself.
    Ok(format!("{}{}", state.public_url, super::SANDBOX_PATH))
}

/// Joins the FHIR base URL and the resource type: `[base]/[type]`, or `[base]` itself.
pub fn target_url(base: &str, resource_type: Option<&str>) -> Result<String, String> {
    let parsed = url::Url::parse(base).map_err(|error| format!("the provider's FHIR base URL {base:?} is invalid: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("the provider's FHIR base URL {base:?} is not an http or https URL"));
    }
    let base = base.trim_end_matches('/');
    Ok(match resource_type {
        Some(resource_type) => format!("{base}/{resource_type}"),
        None => format!("{base}/"),
    })
}

fn credentials(
    state: &AppState,
    service: &DeliveryService,
    account: &ProviderAccount,
    provider: &Provider,
) -> Result<Credentials, AttemptResult> {
    let unreadable = |error: crate::service::envelope::EnvelopeError| AttemptResult::Transient {
        status: None,
        message: format!("opening the sealed provider credentials failed: {error}"),
        retry_after: None,
    };
    match &provider.auth {
        ProviderAuth::OAuth { .. } => {
            let tokens = open_account_tokens(&state.master, account).map_err(unreadable)?;
            Ok(Credentials::OAuth { tokens })
        }
        ProviderAuth::Static { bearer_token } => {
            let token = open_provider_secret(&state.master, provider.id, ProviderSecret::BearerToken, bearer_token)
                .map_err(unreadable)?;
            Ok(Credentials::Fixed(token))
        }
        ProviderAuth::Sandbox => Ok(Credentials::Fixed(service.sandbox_token.clone())),
    }
}

/// The provider's response, or the transport failure.
enum Sent {
    Answer { status: StatusCode, headers: HeaderMap, body: Vec<u8> },
    Failed(String),
}

async fn send(service: &DeliveryService, url: &str, request: &AttemptRequest<'_>, credentials: &Credentials) -> Sent {
    let token = match credentials {
        Credentials::OAuth { tokens } => tokens.access_token.as_ref().map(|token| token.expose_secret().to_string()),
        Credentials::Fixed(token) => Some(token.expose_secret().to_string()),
    };
    let mut builder = service
        .http
        .post(url)
        .header(CONTENT_TYPE, FHIR_CONTENT_TYPE)
        .header(ACCEPT, "application/fhir+json")
        .body(request.body.to_vec());
    if let Some(token) = token {
        builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(condition) = request.if_none_exist {
        builder = builder.header("If-None-Exist", condition);
    }
    match builder.send().await {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            match response.bytes().await {
                Ok(body) => Sent::Answer { status, headers, body: body.to_vec() },
                Err(error) => Sent::Failed(format!("reading the provider's answer (HTTP {status}) failed: {error}")),
            }
        }
        Err(error) if error.is_timeout() => Sent::Failed(format!("the provider did not answer within the timeout: {error}")),
        Err(error) => Sent::Failed(format!("the provider could not be reached: {error}")),
    }
}

fn classify(sent: Sent) -> AttemptResult {
    let (status, headers, body) = match sent {
        Sent::Answer { status, headers, body } => (status, headers, body),
        Sent::Failed(message) => return AttemptResult::Transient { status: None, message, retry_after: None },
    };
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    if status.is_success() {
        let location = headers.get(LOCATION).and_then(|value| value.to_str().ok()).map(str::to_string);
        return AttemptResult::Delivered { status: status.as_u16(), location, body: json };
    }
    let outcome = json.filter(|value| value.get("resourceType").and_then(Value::as_str) == Some("OperationOutcome"));
    let diagnostics = outcome.as_ref().map(outcome_summary).unwrap_or_default();
    let mut message = format!("HTTP {status}");
    if !diagnostics.is_empty() {
        message.push_str(": ");
        message.push_str(&diagnostics);
    }
    let transient = status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS;
    if transient {
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return AttemptResult::Transient { status: Some(status.as_u16()), message, retry_after };
    }
    AttemptResult::Rejected { status: status.as_u16(), message, outcome }
}

/// Joins the issues of an OperationOutcome as `severity code at location: diagnostics` parts.
pub fn outcome_summary(outcome: &Value) -> String {
    let Some(issues) = outcome.get("issue").and_then(Value::as_array) else {
        return String::new();
    };
    let parts: Vec<String> = issues
        .iter()
        .map(|issue| {
            let text = |name: &str| issue.get(name).and_then(Value::as_str).unwrap_or_default();
            let mut part = format!("{} {}", text("severity"), text("code")).trim().to_string();
            let locations: Vec<&str> = issue
                .get("expression")
                .or_else(|| issue.get("location"))
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !locations.is_empty() {
                part.push_str(&format!(" at {}", locations.join(", ")));
            }
            let detail = issue.pointer("/details/text").and_then(Value::as_str).unwrap_or_default();
            let diagnostics = if text("diagnostics").is_empty() { detail } else { text("diagnostics") };
            if !diagnostics.is_empty() {
                part.push_str(": ");
                part.push_str(diagnostics);
            }
            part
        })
        .collect();
    parts.join("; ")
}

/// Refreshes an account's OAuth tokens, one refresh per account at a time. When another task
/// refreshed while this one waited, its tokens are used instead of refreshing again.
async fn refresh(
    state: &AppState,
    service: &DeliveryService,
    account: &ProviderAccount,
    provider: &Provider,
    rejected: Option<&SecretString>,
) -> Result<PlainAccountTokens, AttemptResult> {
    let ProviderAuth::OAuth { client_id, client_secret, token_endpoint, .. } = &provider.auth else {
        return Err(AttemptResult::Unauthorized { message: format!("provider {} does not use OAuth", provider.id) });
    };
    let lock = service.refresh_lock(&account.id);
    let _guard = lock.lock().await;

    let transient = |message: String| AttemptResult::Transient { status: None, message, retry_after: None };
    let current = state
        .store
        .find_account(&account.library_id, &account.id)
        .await
        .map_err(|error| transient(format!("reading the account failed: {error}")))?
        .ok_or_else(|| AttemptResult::Gone { message: format!("account {} no longer exists", account.id) })?;
    let tokens = open_account_tokens(&state.master, &current)
        .map_err(|error| transient(format!("opening the sealed provider tokens failed: {error}")))?;
    let replaced = match (&tokens.access_token, rejected) {
        (Some(now), Some(before)) => now.expose_secret() != before.expose_secret(),
        (Some(_), None) => true,
        _ => false,
    };
    let fresh_enough = tokens.expires_ms.is_none_or(|expires| expires > time::now_ms() + EXPIRY_MARGIN_MS);
    if replaced && fresh_enough {
        return Ok(tokens);
    }

    let Some(refresh_token) = tokens.refresh_token.as_ref() else {
        return Err(AttemptResult::Unauthorized {
            message: format!("the access token of account {} expired and there is no refresh token", account.id),
        });
    };
    let mut form = vec![("grant_type", "refresh_token".to_string()), ("refresh_token", refresh_token.expose_secret().to_string())];
    let mut builder = service.http.post(token_endpoint).header(ACCEPT, "application/json");
    match client_secret {
        Some(sealed) => {
            let secret = open_provider_secret(&state.master, provider.id, ProviderSecret::ClientSecret, sealed)
                .map_err(|error| transient(format!("opening the sealed client secret failed: {error}")))?;
            builder = builder.basic_auth(client_id, Some(secret.expose_secret()));
        }
        None => form.push(("client_id", client_id.clone())),
    }
    let response = builder.form(&form).send().await.map_err(|error| {
        transient(format!("the provider's token endpoint could not be reached: {error}"))
    })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(AttemptResult::Transient {
            status: Some(status.as_u16()),
            message: format!("the provider's token endpoint responded with HTTP {status}"),
            retry_after: None,
        });
    }
    let access_token = body.get("access_token").and_then(Value::as_str);
    let Some(access_token) = access_token.filter(|_| status.is_success()) else {
        let error = body.get("error").and_then(Value::as_str).unwrap_or("no access_token in the answer");
        return Err(AttemptResult::Unauthorized {
            message: format!("refreshing the provider token of account {} failed with HTTP {status}: {error}", account.id),
        });
    };
    let now = time::now_ms();
    let fresh = PlainAccountTokens {
        access_token: Some(SecretString::from(access_token.to_string())),
        refresh_token: match body.get("refresh_token").and_then(Value::as_str) {
            Some(rotated) => Some(SecretString::from(rotated.to_string())),
            None => Some(refresh_token.clone()),
        },
        expires_ms: body.get("expires_in").and_then(Value::as_i64).map(|seconds| now + seconds * 1000),
    };
    state
        .store
        .update_account_tokens(&account.id, seal_account_tokens(&state.master, &account.id, &fresh), now)
        .await
        .map_err(|error| transient(format!("storing the refreshed provider tokens failed: {error}")))?;
    tracing::info!(account = %account.id, provider = provider.id, "refreshed the provider access token");
    Ok(fresh)
}

/// Builds the JSON relayed to the app for a delivered push: the provider's status and `Location`, its
/// OperationOutcome, and for a Bundle the status and location of each entry.
pub fn delivered_summary(delivery_id: &str, status: u16, location: Option<&str>, body: Option<&Value>) -> Value {
    let mut summary = json!({"status": "delivered", "deliveryId": delivery_id, "providerStatus": status});
    if let Some(location) = location {
        summary["location"] = json!(location);
    }
    let Some(body) = body else {
        return summary;
    };
    match body.get("resourceType").and_then(Value::as_str) {
        Some("OperationOutcome") => summary["operationOutcome"] = body.clone(),
        Some("Bundle") if body.get("type").and_then(Value::as_str).is_some_and(|kind| kind.ends_with("-response")) => {
            let entries: Vec<Value> = body
                .get("entry")
                .and_then(Value::as_array)
                .map(|entries| {
                    entries
                        .iter()
                        .map(|entry| {
                            let response = entry.get("response").cloned().unwrap_or(Value::Null);
                            let mut item = json!({"status": response.get("status").cloned().unwrap_or(Value::Null)});
                            if let Some(location) = response.get("location") {
                                item["location"] = location.clone();
                            }
                            if let Some(outcome) = response.get("outcome") {
                                item["operationOutcome"] = outcome.clone();
                            }
                            item
                        })
                        .collect()
                })
                .unwrap_or_default();
            summary["entries"] = Value::Array(entries);
        }
        _ => {}
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_summary_names_issues() {
        let outcome = json!({"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "required", "expression": ["Observation.status"], "diagnostics": "status is required"},
            {"severity": "warning", "code": "informational", "details": {"text": "check units"}},
        ]});

        assert_eq!(
            outcome_summary(&outcome),
            "error required at Observation.status: status is required; warning informational: check units"
        );
    }

    #[test]
    fn target_url_joins_type() {
        assert_eq!(target_url("https://p.example/fhir/", Some("Observation")).unwrap(), "https://p.example/fhir/Observation");
        assert_eq!(target_url("https://p.example/fhir", None).unwrap(), "https://p.example/fhir/");
        assert!(target_url("ftp://p.example/fhir", None).is_err());
    }

    #[test]
    fn server_errors_are_transient() {
        let sent = Sent::Answer { status: StatusCode::SERVICE_UNAVAILABLE, headers: HeaderMap::new(), body: Vec::new() };

        assert!(matches!(classify(sent), AttemptResult::Transient { status: Some(503), .. }));
    }

    #[test]
    fn unprocessable_is_rejected() {
        let body = br#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"bad unit"}]}"#;
        let sent = Sent::Answer { status: StatusCode::UNPROCESSABLE_ENTITY, headers: HeaderMap::new(), body: body.to_vec() };
        let AttemptResult::Rejected { status, message, outcome } = classify(sent) else { panic!("expected a rejection") };

        assert_eq!(status, 422);
        assert!(message.contains("bad unit"), "{message}");
        assert!(outcome.is_some());
    }
}
