//! `GET permission-access/contract`: the calling contract's details (the SDKs'
//! getContractDetails), authenticated with an APP JWT.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use crate::http::auth;
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::ContractKind;

/// Returns the contract in the shape Node's codec requires: every member present.
pub async fn contract_details(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let caller = auth::authenticate(&state, &headers).await?;
    let contract = &caller.contract;
    let application = state.store.find_application(&contract.app_id).await?.ok_or_else(|| {
        ApiError::internal(format!("contract {} has no application {}", contract.id, contract.app_id))
    })?;
    let access_type = if contract.kind == ContractKind::Write { "w" } else { "r" };
    Ok(Json(json!({
        "accessType": access_type,
        "application": {
            "id": application.id,
            "name": application.name,
            "resources": {},
            "status": 1,
        },
        "certificate": "",
        "certificateContractSchemaVersion": "",
        // Trove contracts do not expire; 0 stands for "no expiry date".
        "expirationDate": 0,
        "id": contract.id,
        "partnerId": "",
        "type": contract.kind.as_str(),
    })))
}
