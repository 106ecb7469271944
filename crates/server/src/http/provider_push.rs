//! `POST permission-access/import/h:accountId/{standard}/{version}`: a push of FHIR STU3 JSON
//! to the healthcare provider behind one of the library's PUSH accounts.
//!
//! `h:accountId` is a literal path segment; the account id travels in the `accountId` header.
//! Responses, always JSON because the Node SDK parses them:
//!
//! - 201 (or 200 when the provider answered 200, for example to a conditional create that found
//!   the resource) with `{"status":"delivered","deliveryId","providerStatus","location"?,
//!   "operationOutcome"?,"entries"?}`;
//! - 202 `{"status":"pending","deliveryId"}` when the provider could not be reached, timed out
//!   or answered 5xx: the push is in the outbox and is retried in the background;
//! - 400 `ProviderRejected` when the provider answered 4xx, naming its OperationOutcome;
//! - 403 `ServiceAuthorizationError` when Trove's authorization at the provider failed, even
//!   after a token refresh, so the account must be authorized again;
//! - the usual 400 `ValidationErrors`, 401, 403 `InsufficientScope`, 404 `AccountNotFound` and
//!   413 for requests that never reach the outbox.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::http::auth;
use crate::http::error::ApiError;
use crate::service::delivery::attempt::{delivered_summary, AttemptResult};
use crate::service::delivery::prepare::prepare;
use crate::service::delivery::{new_delivery_id, submit, Pusher, Submitted};
use crate::state::AppState;
use crate::store::ContractKind;

/// The `standard` path segment the SDKs send.
const STANDARD: &str = "fhir";
/// `version` values naming FHIR STU3.
const VERSIONS: &[&str] = &["stu3", "3.0.2"];

fn check_standard(standard: &str, version: &str) -> Result<(), ApiError> {
    if standard != STANDARD {
        return Err(ApiError::validation(format!("The standard {standard:?} is not supported; use \"fhir\"")));
    }
    if !VERSIONS.contains(&version) {
        return Err(ApiError::validation(format!("The FHIR version {version:?} is not supported; use \"stu3\" or \"3.0.2\"")));
    }
    Ok(())
}

fn account_header(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get("accountid")
        .ok_or_else(|| ApiError::validation("The accountId header is missing; send the PUSH account's id in it"))?
        .to_str()
        .map_err(|_| ApiError::validation("The accountId header is not text"))?
        .trim();
    if value.is_empty() {
        return Err(ApiError::validation("The accountId header is empty; send the PUSH account's id in it"));
    }
    Ok(value.to_string())
}

/// Reads the body up to `limit` bytes and parses it as a JSON object.
async fn read_document(body: Body, limit: usize) -> Result<Value, ApiError> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| ApiError::validation(format!("The request body could not be read: {error}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationErrors",
                format!("The document is larger than the limit of {limit} bytes"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    let document: Value = serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::validation(format!("The request body is not valid JSON: {error}")))?;
    if !document.is_object() {
        return Err(ApiError::validation("The request body must be a JSON object: one FHIR STU3 resource or Bundle"));
    }
    Ok(document)
}

/// Joins validation issues as `path: message` parts, so the message names every failing element.
fn issues_message(issues: impl IntoIterator<Item = (String, String)>) -> String {
    let parts: Vec<String> = issues.into_iter().map(|(path, message)| format!("{path}: {message}")).collect();
    format!("The FHIR STU3 document is invalid: {}", parts.join("; "))
}

/// Accepts a provider push, delivers it or keeps it in the outbox, and reports the result.
pub async fn push(
    State(state): State<AppState>,
    Path((standard, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = auth::authenticate_user(&state, &headers).await?;
    let contract = &user.caller.contract;
    if contract.kind != ContractKind::Write {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "InsufficientScope",
            "The request requires higher privileges than provided by the access token: only write contracts can push",
        ));
    }
    check_standard(&standard, &version)?;
    let account_id = account_header(&headers)?;
    // NOTE: the store contains only PUSH accounts. When library accounts of other types
    // exist, a push to one of them must be rejected here with 400 ValidationErrors.
    let account = state.store.find_account(&user.grant.library_id, &account_id).await?;
    let is_callers = crate::http::accounts::is_callers_account(&state, &account_id, &user.grant.app_id).await?;
    if account.is_none() || !is_callers {
        return Err(ApiError::not_found(
            "AccountNotFound",
            format!("The account {account_id} is not a PUSH account of this library; use an id from permission-access/accounts"),
        ));
    }

    let document = read_document(body, state.config.max_provider_push_bytes).await?;
    if let Err(errors) = trove_fhir::validate(&document) {
        return Err(ApiError::validation(issues_message(errors.issues.into_iter().map(|issue| (issue.path, issue.message)))));
    }
    let delivery_id = new_delivery_id();
    let prepared = prepare(document, &delivery_id)
        .map_err(|issues| ApiError::validation(issues_message(issues.into_iter().map(|issue| (issue.path, issue.message)))))?;

    let pusher = Pusher { library_id: &user.grant.library_id, app_id: &contract.app_id, contract_id: &contract.id };
    let submitted = submit(&state, pusher, &account_id, delivery_id, prepared).await.map_err(ApiError::internal)?;
    match submitted {
        Submitted::Delivered { id, status, location, body } => {
            let answer = if status == 200 { StatusCode::OK } else { StatusCode::CREATED };
            Ok((answer, Json(delivered_summary(&id, status, location.as_deref(), body.as_ref()))))
        }
        Submitted::Pending { id } => Ok((StatusCode::ACCEPTED, Json(json!({"status": "pending", "deliveryId": id})))),
        Submitted::Failed { id, result } => Err(failure(&id, result)),
    }
}

fn failure(delivery_id: &str, result: AttemptResult) -> ApiError {
    match result {
        AttemptResult::Rejected { message, .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "ProviderRejected",
            format!("The provider rejected delivery {delivery_id} with {message}"),
        ),
        AttemptResult::Unauthorized { message } => ApiError::new(
            StatusCode::FORBIDDEN,
            "ServiceAuthorizationError",
            format!("Trove is not authorized at the provider for delivery {delivery_id} ({message}); authorize the account again"),
        ),
        AttemptResult::Gone { message } => ApiError::new(
            StatusCode::NOT_FOUND,
            "AccountNotFound",
            format!("Delivery {delivery_id} has no target: {message}"),
        ),
        other => ApiError::internal(format!("delivery {delivery_id} ended in an unexpected state: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_version_are_checked() {
        assert!(check_standard("fhir", "stu3").is_ok());
        assert!(check_standard("fhir", "3.0.2").is_ok());
        let wrong_version = check_standard("fhir", "r4").unwrap_err();
        assert!(wrong_version.message.contains("\"r4\""), "{}", wrong_version.message);
        let wrong_standard = check_standard("hl7v2", "stu3").unwrap_err();
        assert!(wrong_standard.message.contains("\"hl7v2\""), "{}", wrong_standard.message);
    }

    #[test]
    fn issues_message_names_paths() {
        let message = issues_message([
            ("Observation.status".to_string(), "missing".to_string()),
            ("Observation.code".to_string(), "missing".to_string()),
        ]);

        assert_eq!(message, "The FHIR STU3 document is invalid: Observation.status: missing; Observation.code: missing");
    }
}
