//! Authentication of client-signed requests: the bearer JWT must be PS512 signed by the key of
//! the contract its `client_id` names, carry a timestamp within the window, and a nonce never
//! used before by that contract. USER calls also carry an access token issued to that contract.

use axum::http::{HeaderMap, StatusCode};
use trove_protocol::claims::ReceivedClaims;
use trove_protocol::jws::Unverified;
use trove_protocol::{time, ProtocolError};

use crate::http::error::ApiError;
use crate::service::hashing::secret_hash;
use crate::state::AppState;
use crate::store::{Contract, ContractKind, Grant, NonceOutcome, NonceRecord};

/// A request whose JWT verified; its nonce is not yet consumed.
pub struct Caller {
    /// The signing contract.
    pub contract: Contract,
    /// The verified claims.
    pub claims: ReceivedClaims,
    /// The nonce to consume.
    pub nonce: NonceRecord,
}

/// A USER call: the caller plus the grant behind its access token.
pub struct UserCaller {
    /// The signing contract and claims.
    pub caller: Caller,
    /// Grant behind the access token.
    pub grant: Grant,
}

/// Returns the bearer token of the `Authorization` header.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::validation("The Authorization header is missing"))?
        .to_str()
        .map_err(|_| ApiError::validation("The Authorization header is not text"))?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::validation("The Authorization header must be 'Bearer <JWT>'"))?;
    Ok(token.trim())
}

/// Looks up the contract named by a `client_id`.
pub async fn find_contract(state: &AppState, client_id: &str) -> Result<Contract, ApiError> {
    let invalid = || ApiError::new(StatusCode::UNAUTHORIZED, "InvalidClient", format!("The client_id ({client_id}) is invalid"));
    let (app_id, contract_id) = client_id.split_once('_').ok_or_else(invalid)?;
    state.store.find_contract(app_id, contract_id).await?.ok_or_else(invalid)
}

/// Verifies the bearer JWT of a request without consuming its nonce.
pub async fn verify_request(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let token = bearer(headers)?;
    verify_jwt(state, token).await
}

/// Verifies a request JWT without consuming its nonce.
pub async fn verify_jwt(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let unverified = Unverified::parse(token).map_err(|error| ApiError::validation(format!("The bearer JWT is invalid: {error}")))?;
    let client_id = unverified
        .payload
        .get("client_id")
        .and_then(|value| value.as_str())
        .ok_or_else(|| ApiError::validation("The bearer JWT has no client_id claim"))?
        .to_string();
    let contract = find_contract(state, &client_id).await?;
    let key = state.public_keys.get(&contract.public_key_pem).map_err(ApiError::internal)?;
    let payload = unverified.verify(&key).map_err(|error| match error {
        ProtocolError::UnsupportedAlgorithm(alg) => {
            ApiError::validation(format!("The bearer JWT algorithm {alg:?} is not accepted; sign with PS512"))
        }
        _ => ApiError::validation(format!("The bearer JWT signature does not verify with the key of {client_id}")),
    })?;
    let claims: ReceivedClaims = serde_json::from_value(payload)
        .map_err(|error| ApiError::validation(format!("The bearer JWT claims are invalid: {error}")))?;

    let timestamp = claims
        .timestamp
        .as_ref()
        .and_then(|number| number.as_f64())
        .ok_or_else(|| ApiError::validation("The bearer JWT has no numeric timestamp claim (Unix milliseconds)"))?;
    let now = time::now_ms();
    let window = state.config.timestamp_window.as_millis() as f64;
    if (timestamp - now as f64).abs() > window {
        return Err(ApiError::validation(format!(
            "The bearer JWT timestamp {timestamp} is outside the accepted window of ±{} s around the server time {now}",
            window / 1000.0
        )));
    }
    let nonce = claims
        .nonce
        .clone()
        .filter(|nonce| !nonce.is_empty() && nonce.len() <= 256)
        .ok_or_else(|| ApiError::validation("The bearer JWT needs a nonce claim of 1 to 256 characters"))?;
    // A nonce must outlive the window in which its timestamp is still accepted.
    let expires_ms = now + 2 * window as i64 + 60_000;
    Ok(Caller { contract, claims, nonce: NonceRecord { client_id, nonce, expires_ms } })
}

/// Returns the rejection for a replayed nonce.
pub fn replay_error(nonce: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "InvalidRequest",
        format!("The nonce provided in JWT payload ({nonce}) has already been used"),
    )
}

/// Records the caller's nonce, rejecting a replay.
pub async fn consume_nonce(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    let nonce = &caller.nonce;
    match state.store.consume_nonce(&nonce.client_id, &nonce.nonce, nonce.expires_ms).await? {
        NonceOutcome::Fresh => Ok(()),
        NonceOutcome::Replayed => Err(replay_error(&nonce.nonce)),
    }
}

/// Verifies a request JWT and consumes its nonce.
pub async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let caller = verify_request(state, headers).await?;
    consume_nonce(state, &caller).await?;
    Ok(caller)
}

/// Resolves an access token to its grant: unknown, revoked or another contract's tokens are
/// invalid, and an expired one is reported as expired, which makes SDKs refresh.
pub async fn resolve_access_token(state: &AppState, contract: &Contract, token: &str) -> Result<Grant, ApiError> {
    let (grant, expires_ms) =
        state.store.find_access_token(&secret_hash(token)).await?.ok_or_else(|| ApiError::invalid_token("access_token"))?;
    if grant.app_id != contract.app_id || grant.contract_id != contract.id {
        return Err(ApiError::invalid_token("access_token"));
    }
    if expires_ms <= time::now_ms() {
        return Err(ApiError::expired_token("access_token"));
    }
    Ok(grant)
}

/// Verifies a USER call without consuming its nonce.
pub async fn verify_user(state: &AppState, headers: &HeaderMap) -> Result<UserCaller, ApiError> {
    let caller = verify_request(state, headers).await?;
    let token = caller
        .claims
        .access_token
        .clone()
        .ok_or_else(|| ApiError::validation("The bearer JWT has no access_token claim"))?;
    let grant = resolve_access_token(state, &caller.contract, &token).await?;
    Ok(UserCaller { caller, grant })
}

/// Verifies a USER call and consumes its nonce.
pub async fn authenticate_user(state: &AppState, headers: &HeaderMap) -> Result<UserCaller, ApiError> {
    let user = verify_user(state, headers).await?;
    consume_nonce(state, &user.caller).await?;
    Ok(user)
}

/// Rejects contracts that cannot read raw files.
pub fn require_reader(contract: &Contract) -> Result<(), ApiError> {
    if contract.kind == ContractKind::Write {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidContractDataRequest",
            "A write contract cannot start or read sessions; use a read or read-raw contract",
        ));
    }
    Ok(())
}
