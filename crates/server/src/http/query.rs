//! Read-back: `POST permission-access/trigger`, the file list, and the file download.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use trove_protocol::encrypted_file::encrypted_len;
use trove_protocol::keys::RsaPublicKey;
use trove_protocol::time;
use trove_protocol::wire::{FileEntry, FileList, FileListStatus, PullSessionOptions, Session, TriggerBody, XMetadata};

use crate::http::auth::{self, require_reader, UserCaller};
use crate::http::error::ApiError;
use crate::http::oauth::optional_json;
use crate::service::criteria;
use crate::service::download::encrypted_stream;
use crate::state::AppState;
use crate::store::{ContractKind, FileHeader, ReadSession};

/// Opens a read session on the caller's library.
pub async fn trigger(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let user = auth::authenticate_user(&state, &headers).await?;
    require_reader(&user.caller.contract)?;
    let body: TriggerBody = optional_json(&body)?;
    let session = ReadSession {
        key: trove_protocol::random::alphanumeric(32),
        app_id: user.grant.app_id.clone(),
        contract_id: user.grant.contract_id.clone(),
        library_id: Some(user.grant.library_id.clone()),
        authorization_id: None,
        options_json: Some(serde_json::to_string(&body.options).expect("JSON")),
        expires_ms: time::now_ms() + state.config.session_ttl.as_millis() as i64,
    };
    let answer = Session { key: session.key.clone(), expiry: session.expires_ms };
    state.store.create_read_session(session).await?;
    Ok(Json(json!({ "session": answer })))
}

struct OpenSession {
    library_id: String,
    options: PullSessionOptions,
}

/// Finds a session the caller may use: its own contract's, on the library of its token.
async fn open_session(state: &AppState, user: &UserCaller, key: &str) -> Result<OpenSession, ApiError> {
    let not_found = || ApiError::not_found("SessionInvalid", format!("The session ({key}) is invalid or has expired"));
    let session = state.store.find_read_session(key).await?.ok_or_else(not_found)?;
    let owned = session.app_id == user.grant.app_id && session.contract_id == user.grant.contract_id;
    let library_id = session.library_id.filter(|library| *library == user.grant.library_id);
    let (true, Some(library_id)) = (owned && session.expires_ms > time::now_ms(), library_id) else {
        return Err(not_found());
    };
    let options = session.options_json.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    Ok(OpenSession { library_id, options })
}

/// Files a session shows: raw files that contracts of the reader's own application pushed into
/// the library, filtered by the session's criteria. Mapped-data read contracts see none.
async fn visible_files(state: &AppState, user: &UserCaller, session: &OpenSession) -> Result<Vec<(FileHeader, Value)>, ApiError> {
    if user.caller.contract.kind != ContractKind::ReadRaw {
        return Ok(Vec::new());
    }
    let criteria = session.options.scope.as_ref().and_then(|scope| scope.criteria.as_deref());
    let now = time::now_ms();
    let headers = state.store.list_files(&session.library_id, &user.grant.app_id).await?;
    Ok(headers
        .into_iter()
        .filter_map(|header| {
            let metadata: Value = serde_json::from_str(&header.metadata_json).ok()?;
            criteria::matches(criteria, &metadata, header.created_ms, now).then_some((header, metadata))
        })
        .collect())
}

/// Lists a session's files. A library has no sources to sync, so the state is `completed`.
pub async fn file_list(State(state): State<AppState>, Path(key): Path<String>, headers: HeaderMap) -> Result<Json<FileList>, ApiError> {
    let user = auth::authenticate_user(&state, &headers).await?;
    require_reader(&user.caller.contract)?;
    let session = open_session(&state, &user, &key).await?;
    let files = visible_files(&state, &user, &session).await?;
    let entries = files.into_iter().map(|(header, _)| FileEntry { name: header.name, updated_date: header.updated_ms }).collect();
    Ok(Json(FileList { status: FileListStatus { state: "completed".into(), details: None }, file_list: Some(entries) }))
}

/// Streams one file in the download layout, encrypted to the reading contract's key; HEAD
/// returns the same headers without a body.
pub async fn download(
    State(state): State<AppState>,
    Path((key, name)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user = auth::authenticate_user(&state, &headers).await?;
    require_reader(&user.caller.contract)?;
    let session = open_session(&state, &user, &key).await?;
    let not_found = || ApiError::not_found("FileNotFound", format!("The file ({name}) was not found in this session"));
    let visible = visible_files(&state, &user, &session).await?;
    let (header, metadata) = visible.into_iter().find(|(header, _)| header.name == name).ok_or_else(not_found)?;
    let record = state.store.find_file(&session.library_id, &name).await?.ok_or_else(not_found)?;

    let gzip = session.options.accept.as_ref().and_then(|accept| accept.compression.as_deref()) == Some("gzip");
    if method != Method::HEAD {
        tracing::info!(file = %name, app = %user.grant.app_id, contract = %user.grant.contract_id, library = %session.library_id, gzip, "file read back");
    }
    let x_metadata = XMetadata { metadata, compression: gzip.then(|| "gzip".to_string()) }.encode();
    let last_modified = httpdate(header.updated_ms);
    let mut response = if method == Method::HEAD {
        let mut response = StatusCode::OK.into_response();
        if !gzip {
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(encrypted_len(header.size)));
        }
        response
    } else {
        let reader = RsaPublicKey::from_pem(&user.caller.contract.public_key_pem).map_err(ApiError::internal)?;
        let file_key = state.master.open(&record.key_id, &record.wrapped_key, &record.header.name).map_err(ApiError::internal)?;
        let stream = encrypted_stream(record.body, file_key, reader, gzip, state.blobs.clone());
        let mut response = Body::from_stream(stream).into_response();
        if !gzip {
            response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(encrypted_len(header.size)));
        }
        response
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    response_headers.insert("x-metadata", HeaderValue::from_str(&x_metadata).map_err(ApiError::internal)?);
    if let Ok(value) = HeaderValue::from_str(&last_modified) {
        response_headers.insert(header::LAST_MODIFIED, value);
    }
    Ok(response)
}

/// Formats Unix milliseconds as an HTTP date (RFC 9110 IMF-fixdate).
fn httpdate(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let seconds = ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn httpdate_formats_known_instants() {
        assert_eq!(super::httpdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(super::httpdate(1_764_849_700_000), "Thu, 04 Dec 2025 12:01:40 GMT");
        assert_eq!(super::httpdate(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
