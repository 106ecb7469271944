//! The sandbox provider: a small FHIR STU3 endpoint under `/sandbox/fhir/`, served only when
//! `Config::sandbox_provider` is set, so apps and operators can try provider pushes without a
//! real healthcare provider. Providers of kind `sandbox` deliver here.
//!
//! - `POST [type]` creates a resource, honoring `If-None-Exist` with `identifier=system|value`
//!   or `_tag=system|code` searches: 201 with `Location`, or 200 with the match.
//! - `POST /` takes a `transaction` or `batch` Bundle of POST entries (each with an optional
//!   `request.ifNoneExist`) and PUT entries (`Type/id`, or a conditional `Type?identifier=...`)
//!   and responds with a
//!   `transaction-response` or `batch-response`.
//!   Both kinds are applied all or nothing.
//! - `GET [type]` returns a `searchset` Bundle, filtered by `identifier` or `_tag` when given,
//!   and `GET [type]/[id]` one resource.
//!
//! Every request needs `Authorization: Bearer <sandbox token>`: the configured token, or else a
//! random one that only Trove's own deliveries know. Resources are validated with `trove_fhir`
//! (invalid ones get 422 with an OperationOutcome) and stored as plain JSON, not sealed,
//! because the sandbox holds test data only.
//!
//! NOTE: the sandbox does not rewrite `urn:uuid:` references between Bundle entries, and two
//! concurrent conditional creates of the same resource can both succeed.

// The helpers return the finished rejection `Response` as their error, and handlers return it
// unchanged. Boxing it would only add an allocation on the error path.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use trove_protocol::{random, time};

pub use crate::service::delivery::SANDBOX_PATH;
use crate::state::AppState;
use crate::store::deliveries::SandboxResource;


/// Routes of the sandbox provider.
pub fn routes(body_limit: usize) -> Router<AppState> {
    Router::new()
        .route(SANDBOX_PATH, post(transaction))
        .route(&format!("{SANDBOX_PATH}/"), post(transaction))
        .route(&format!("{SANDBOX_PATH}/{{resource_type}}"), post(create).get(search))
        .route(&format!("{SANDBOX_PATH}/{{resource_type}}/{{id}}"), get(read))
        .layer(DefaultBodyLimit::max(body_limit))
}

/// Builds a FHIR JSON response.
fn fhir(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/fhir+json; fhirVersion=3.0"));
    response
}

/// Builds an OperationOutcome response with one issue per `(location, diagnostics)` pair.
fn outcome(status: StatusCode, code: &str, issues: &[(Option<String>, String)]) -> Response {
    let issues: Vec<Value> = issues
        .iter()
        .map(|(location, diagnostics)| {
            let mut issue = json!({"severity": "error", "code": code, "diagnostics": diagnostics});
            if let Some(location) = location {
                issue["expression"] = json!([location]);
            }
            issue
        })
        .collect();
    fhir(status, &json!({"resourceType": "OperationOutcome", "issue": issues}))
}

fn check_token(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let expected = format!("Bearer {}", state.deliveries.sandbox_token().expose_secret());
    let presented = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    if presented == Some(expected.as_str()) {
        return Ok(());
    }
    let mut response = outcome(StatusCode::UNAUTHORIZED, "login", &[(None, "A valid sandbox bearer token is required".into())]);
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Err(response)
}

fn parse_json(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body)
        .map_err(|error| outcome(StatusCode::BAD_REQUEST, "structure", &[(None, format!("The body is not valid JSON: {error}"))]))
}

fn validate(resource: &Value) -> Result<(), Response> {
    trove_fhir::validate(resource).map_err(|errors| {
        let issues: Vec<(Option<String>, String)> =
            errors.issues.into_iter().map(|issue| (Some(issue.path), issue.message)).collect();
        outcome(StatusCode::UNPROCESSABLE_ENTITY, "invalid", &issues)
    })
}

/// One `name=system|value` search parameter of a conditional create or a search.
struct TokenSearch {
    name: String,
    system: Option<String>,
    value: String,
}

/// Parses `identifier=` and `_tag=` token searches; other parameters are unsupported.
fn parse_search(pairs: impl Iterator<Item = (String, String)>) -> Result<Vec<TokenSearch>, Response> {
    let mut searches = Vec::new();
    for (name, token) in pairs {
        if name != "identifier" && name != "_tag" {
            return Err(outcome(
                StatusCode::BAD_REQUEST,
                "not-supported",
                &[(None, format!("The sandbox supports only identifier and _tag searches, not {name:?}"))],
            ));
        }
        let (system, value) = match token.split_once('|') {
            Some((system, value)) => (Some(system.to_string()), value.to_string()),
            None => (None, token),
        };
        searches.push(TokenSearch { name, system, value });
    }
    Ok(searches)
}

fn matches(resource: &Value, searches: &[TokenSearch]) -> bool {
    searches.iter().all(|search| {
        let (candidates, value_field) = match search.name.as_str() {
            "identifier" => (resource.get("identifier"), "value"),
            _ => (resource.pointer("/meta/tag"), "code"),
        };
        let list: Vec<&Value> = match candidates {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(single) => vec![single],
            None => Vec::new(),
        };
        list.iter().any(|item| {
            let system_matches = search.system.as_deref().is_none_or(|system| item.get("system").and_then(Value::as_str) == Some(system));
            system_matches && item.get(value_field).and_then(Value::as_str) == Some(search.value.as_str())
        })
    })
}

async fn find_matches(
    state: &AppState,
    resource_type: &str,
    searches: &[TokenSearch],
    pending: &[SandboxResource],
) -> Result<Vec<Value>, Response> {
    let stored = state.store.list_sandbox_resources(resource_type).await.map_err(internal)?;
    let candidates = stored.iter().chain(pending.iter().filter(|resource| resource.resource_type == resource_type));
    Ok(candidates
        .filter_map(|resource| serde_json::from_str::<Value>(&resource.json).ok())
        .filter(|resource| matches(resource, searches))
        .collect())
}

fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "sandbox provider storage failed");
    outcome(StatusCode::INTERNAL_SERVER_ERROR, "exception", &[(None, "The sandbox could not store or read the data".into())])
}

/// Gives a resource its id and version, returning the row to store.
fn assign_id(resource: &mut Value, resource_type: &str, now_ms: i64) -> SandboxResource {
    let id = random::alphanumeric(16);
    resource["id"] = json!(id);
    let meta = resource.as_object_mut().expect("a validated resource is an object").entry("meta").or_insert_with(|| json!({}));
    meta["versionId"] = json!("1");
    SandboxResource { resource_type: resource_type.to_string(), id, json: resource.to_string(), created_ms: now_ms }
}

fn location(state: &AppState, resource_type: &str, id: &str) -> String {
    format!("{}{SANDBOX_PATH}/{resource_type}/{id}/_history/1", state.public_url)
}

/// `POST [type]`.
async fn create(State(state): State<AppState>, Path(resource_type): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = check_token(&state, &headers) {
        return response;
    }
    let mut resource = match parse_json(&body) {
        Ok(resource) => resource,
        Err(response) => return response,
    };
    if resource.get("resourceType").and_then(Value::as_str) != Some(resource_type.as_str()) {
        return outcome(
            StatusCode::BAD_REQUEST,
            "invalid",
            &[(Some("resourceType".into()), format!("The resourceType must be {resource_type}, as in the URL"))],
        );
    }
    if let Err(response) = validate(&resource) {
        return response;
    }
    if let Some(condition) = headers.get("if-none-exist").and_then(|value| value.to_str().ok()) {
        let pairs = url::form_urlencoded::parse(condition.as_bytes()).into_owned();
        let searches = match parse_search(pairs) {
            Ok(searches) => searches,
            Err(response) => return response,
        };
        match find_matches(&state, &resource_type, &searches, &[]).await {
            Ok(found) if found.len() == 1 => {
                let id = found[0].get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                let mut response = fhir(StatusCode::OK, &found[0]);
                if let Ok(value) = HeaderValue::from_str(&location(&state, &resource_type, &id)) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                return response;
            }
            Ok(found) if found.len() > 1 => {
                return outcome(
                    StatusCode::PRECONDITION_FAILED,
                    "duplicate",
                    &[(None, format!("If-None-Exist matched {} resources", found.len()))],
                );
            }
            Ok(_) => {}
            Err(response) => return response,
        }
    }

    let row = assign_id(&mut resource, &resource_type, time::now_ms());
    let id = row.id.clone();
    if let Err(error) = state.store.create_sandbox_resources(vec![row]).await {
        return internal(error);
    }
    tracing::info!(resource_type = %resource_type, id = %id, "sandbox provider stored a resource");
    let mut response = fhir(StatusCode::CREATED, &resource);
    if let Ok(value) = HeaderValue::from_str(&location(&state, &resource_type, &id)) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `POST /` with a transaction or batch Bundle.
async fn transaction(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = check_token(&state, &headers) {
        return response;
    }
    let mut bundle = match parse_json(&body) {
        Ok(bundle) => bundle,
        Err(response) => return response,
    };
    let bundle_type = bundle.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") || !matches!(bundle_type.as_str(), "transaction" | "batch") {
        return outcome(StatusCode::BAD_REQUEST, "invalid", &[(None, "POST [base] takes a transaction or batch Bundle".into())]);
    }
    if let Err(response) = validate(&bundle) {
        return response;
    }

    let now = time::now_ms();
    let mut created: Vec<SandboxResource> = Vec::new();
    let mut responses: Vec<Value> = Vec::new();
    let entries = bundle.get_mut("entry").and_then(Value::as_array_mut).map(std::mem::take).unwrap_or_default();
    for (index, mut entry) in entries.into_iter().enumerate() {
        let path = format!("Bundle.entry[{index}]");
        let method = entry.pointer("/request/method").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(resource_type) = entry.pointer("/resource/resourceType").and_then(Value::as_str).map(str::to_string) else {
            return outcome(StatusCode::BAD_REQUEST, "required", &[(Some(format!("{path}.resource")), "An entry needs a resource".into())]);
        };
        match method.as_str() {
            "POST" => {}
            "PUT" => {
                let url = entry.pointer("/request/url").and_then(Value::as_str).unwrap_or_default().to_string();
                let id = match put_target(&state, &resource_type, &url, &entry["resource"], &created).await {
                    Ok(id) => id,
                    Err(response) => return response,
                };
                let existed = match state.store.find_sandbox_resource(&resource_type, &id).await {
                    Ok(existing) => existing.is_some(),
                    Err(error) => return internal(error),
                };
                let status = if existed { "200 OK" } else { "201 Created" };
                responses.push(json!({"response": {"status": status, "location": format!("{resource_type}/{id}/_history/1")}}));
                entry["resource"]["id"] = json!(id);
                let json = entry["resource"].to_string();
                created.push(SandboxResource { resource_type, id, json, created_ms: now });
                continue;
            }
            _ => {
                return outcome(
                    StatusCode::BAD_REQUEST,
                    "not-supported",
                    &[(Some(format!("{path}.request.method")), "The sandbox supports only POST and PUT entries".into())],
                );
            }
        }
        if let Some(condition) = entry.pointer("/request/ifNoneExist").and_then(Value::as_str) {
            let pairs = url::form_urlencoded::parse(condition.as_bytes()).into_owned();
            let searches = match parse_search(pairs) {
                Ok(searches) => searches,
                Err(response) => return response,
            };
            let found = match find_matches(&state, &resource_type, &searches, &created).await {
                Ok(found) => found,
                Err(response) => return response,
            };
            if let Some(existing) = found.first() {
                let id = existing.get("id").and_then(Value::as_str).unwrap_or_default();
                responses.push(json!({"response": {"status": "200 OK", "location": format!("{resource_type}/{id}/_history/1")}}));
                continue;
            }
        }
        let row = assign_id(&mut entry["resource"], &resource_type, now);
        responses.push(json!({"response": {"status": "201 Created", "location": format!("{resource_type}/{}/_history/1", row.id)}}));
        created.push(row);
    }

    let stored = created.len();
    if let Err(error) = state.store.create_sandbox_resources(created).await {
        return internal(error);
    }
    tracing::info!(entries = responses.len(), stored, "sandbox provider processed a {bundle_type} Bundle");
    let response_type = format!("{bundle_type}-response");
    fhir(StatusCode::OK, &json!({"resourceType": "Bundle", "type": response_type, "entry": responses}))
}

/// Returns the id a PUT entry writes: the id of `Type/id`, or for a conditional update
/// (`Type?identifier=...`) the id of the one match, else the resource's own id or a new one.
async fn put_target(
    state: &AppState,
    resource_type: &str,
    url: &str,
    resource: &Value,
    pending: &[SandboxResource],
) -> Result<String, Response> {
    let invalid = |message: &str| outcome(StatusCode::BAD_REQUEST, "invalid", &[(Some("Bundle.entry.request.url".into()), message.into())]);
    if let Some(query) = url.strip_prefix(&format!("{resource_type}?")) {
        let pairs = url::form_urlencoded::parse(query.as_bytes()).into_owned();
        let found = find_matches(state, resource_type, &parse_search(pairs)?, pending).await?;
        return match found.as_slice() {
            [] => Ok(resource.get("id").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| random::alphanumeric(16))),
            [one] => Ok(one.get("id").and_then(Value::as_str).unwrap_or_default().to_string()),
            _ => Err(outcome(StatusCode::PRECONDITION_FAILED, "multiple-matches", &[(None, format!("{url} matched {} resources", found.len()))])),
        };
    }
    let id = url.strip_prefix(&format!("{resource_type}/")).unwrap_or_default();
    if id.is_empty() || resource.get("id").and_then(Value::as_str) != Some(id) {
        return Err(invalid("A PUT entry's url must be Type/id with the resource's id, or a conditional Type?search"));
    }
    Ok(id.to_string())
}

/// `GET [type]`, optionally filtered by `identifier` or `_tag`.
async fn search(
    State(state): State<AppState>,
    Path(resource_type): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = check_token(&state, &headers) {
        return response;
    }
    let searches = match parse_search(query.into_iter()) {
        Ok(searches) => searches,
        Err(response) => return response,
    };
    let found = match find_matches(&state, &resource_type, &searches, &[]).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let entries: Vec<Value> = found.into_iter().map(|resource| json!({"resource": resource})).collect();
    fhir(StatusCode::OK, &json!({"resourceType": "Bundle", "type": "searchset", "total": entries.len(), "entry": entries}))
}

/// `GET [type]/[id]`.
async fn read(State(state): State<AppState>, Path((resource_type, id)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Err(response) = check_token(&state, &headers) {
        return response;
    }
    match state.store.find_sandbox_resource(&resource_type, &id).await {
        Ok(Some(resource)) => {
            let value: Value = serde_json::from_str(&resource.json).unwrap_or(Value::Null);
            fhir(StatusCode::OK, &value)
        }
        Ok(None) => outcome(StatusCode::NOT_FOUND, "not-found", &[(None, format!("{resource_type}/{id} is not known"))]),
        Err(error) => internal(error),
    }
}
