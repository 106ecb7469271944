//! `POST permission-access/import`: a library push.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use futures::StreamExt;
use std::time::Duration;
use serde_json::{json, Value};
use trove_protocol::claims::FileDescriptorClaims;
use trove_protocol::jws;
use trove_protocol::keys::RsaPublicKey;
use trove_protocol::wire::normalize_descriptor;
use trove_protocol::{random, time};
use zeroize::Zeroizing;

use crate::http::auth::{self, replay_error};
use crate::http::error::ApiError;
use crate::service::ingest::{ingest, IngestError};
use crate::state::AppState;
use crate::store::{ContractKind, FileHeader, FileRecord, NonceOutcome, StoredBody};

fn too_large(limit: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "ValidationErrors", format!("The file is larger than the limit of {limit} bytes"))
}

/// Verifies the `FileDescriptor` header with the pushing contract's key and returns the stored
/// descriptor, with `appid`, `contractid` and `created` set from the authenticated caller.
fn descriptor(headers: &HeaderMap, key: &RsaPublicKey, app_id: &str, contract_id: &str, created_ms: i64) -> Result<Value, ApiError> {
    let header = headers
        .get("filedescriptor")
        .ok_or_else(|| ApiError::validation("The FileDescriptor header is missing"))?
        .to_str()
        .map_err(|_| ApiError::validation("The FileDescriptor header is not text"))?;
    let claims: FileDescriptorClaims = jws::verify(header.trim(), key)
        .map_err(|error| ApiError::validation(format!("The FileDescriptor JWT is invalid: {error}")))?;
    let mut stored = normalize_descriptor(&claims.metadata)
        .map_err(|problem| ApiError::validation(format!("The FileDescriptor is invalid: {problem}")))?;
    stored.insert("appid".into(), json!(app_id));
    stored.insert("contractid".into(), json!(contract_id));
    stored.insert("created".into(), json!(created_ms));
    Ok(Value::Object(stored))
}

/// Result of the checks made before the body is read.
struct CheckedPush {
    user: auth::UserCaller,
    metadata: Value,
    created_ms: i64,
}

/// Checks everything a push carries in its headers: caller, contract kind, declared size and
/// the file descriptor.
async fn check_push(state: &AppState, headers: &HeaderMap) -> Result<CheckedPush, ApiError> {
    let user = auth::verify_user(state, headers).await?;
    let contract = &user.caller.contract;
    if contract.kind != ContractKind::Write {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "InsufficientScope",
            "The request requires higher privileges than provided by the access token: only write contracts can push",
        ));
    }
    let limit = state.config.max_upload_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let key = state.public_keys.get(&contract.public_key_pem).map_err(ApiError::internal)?;
    let created_ms = time::now_ms();
    let metadata = descriptor(headers, &key, &contract.app_id, &contract.id, created_ms)?;
    Ok(CheckedPush { user, metadata, created_ms })
}

/// How long a rejected push's body is read and discarded before the error is sent.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads and discards a rejected push's body (up to the size limit and [`DRAIN_TIMEOUT`]).
///
/// HTTP clients such as reqwest and Node's finish sending the body before they read the
/// response. Closing the connection early would turn a 401 into a broken pipe, so the SDKs
/// would never refresh their token.
async fn drain(body: Body, limit: u64) {
    let mut stream = body.into_data_stream();
    let mut read: u64 = 0;
    let discard = async {
        while let Some(Ok(chunk)) = stream.next().await {
            read += chunk.len() as u64;
            if read > limit {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, discard).await;
}

/// Stores a pushed file and returns 201 once its bytes and row are durable.
pub async fn import(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    let limit = state.config.max_upload_bytes;
    let CheckedPush { user, metadata, created_ms } = match check_push(&state, &headers).await {
        Ok(checked) => checked,
        Err(error) => {
            if error.status != StatusCode::PAYLOAD_TOO_LARGE {
                drain(body, limit).await;
            }
            return Err(error);
        }
    };
    let contract = &user.caller.contract;

    let name = random::alphanumeric(32);
    let file_key = Zeroizing::new(random::bytes::<32>());
    let ingested = ingest(body.into_data_stream(), &file_key, limit, state.blobs.as_ref()).await.map_err(|error| match error {
        IngestError::TooLarge(limit) => too_large(limit),
        IngestError::Body(message) => ApiError::validation(format!("The upload was cut off or malformed: {message}")),
        IngestError::Store(error) => ApiError::internal(error),
    })?;
    let (key_id, wrapped_key) = state.master.seal(file_key.as_ref(), &name);
    let blob_key = match &ingested.body {
        StoredBody::Blob(key) => Some(key.clone()),
        StoredBody::Inline(_) => None,
    };
    let record = FileRecord {
        header: FileHeader {
            name: name.clone(),
            metadata_json: metadata.to_string(),
            size: ingested.size,
            created_ms,
            updated_ms: created_ms.max(1),
        },
        library_id: user.grant.library_id.clone(),
        app_id: contract.app_id.clone(),
        contract_id: contract.id.clone(),
        key_id,
        wrapped_key,
        body: ingested.body,
    };
    let outcome = state.store.create_file(record, user.caller.nonce.clone()).await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            remove_blob(&state, blob_key.as_deref()).await;
            return Err(ApiError::internal(error));
        }
    };
    if outcome == NonceOutcome::Replayed {
        remove_blob(&state, blob_key.as_deref()).await;
        return Err(replay_error(&user.caller.nonce.nonce));
    }
    tracing::info!(file = %name, size = ingested.size, app = %contract.app_id, contract = %contract.id, library = %user.grant.library_id, "file pushed");
    Ok((StatusCode::CREATED, Json(json!({"status": "delivered", "name": name}))))
}

async fn remove_blob(state: &AppState, key: Option<&str>) {
    if let Some(key) = key {
        if let Err(error) = state.blobs.delete(key).await {
            tracing::warn!(%error, blob = key, "could not remove the blob of a rejected push; the startup sweep will");
        }
    }
}
