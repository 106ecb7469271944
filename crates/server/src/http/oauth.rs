//! `POST oauth/authorize` and `POST oauth/token`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use trove_protocol::wire::options::AuthorizeBody;
use trove_protocol::wire::token::{Identifier, TokenValue};
use trove_protocol::wire::{AuthorizeResponse, PreauthorizationPayload, Session, TokenPayload, TokenResponse};
use trove_protocol::{pkce, random, time};

use crate::http::auth::{self, Caller};
use crate::http::error::ApiError;
use crate::service::hashing::secret_hash;
use crate::state::AppState;
use crate::store::{Authorization, AuthorizationStatus, NewTokenPair, ReadSession, RefreshOutcome};

fn ms(duration: std::time::Duration) -> i64 {
    duration.as_millis() as i64
}

fn required<'a>(value: &'a Option<String>, claim: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .filter(|text| !text.is_empty())
        .ok_or_else(|| ApiError::validation(format!("The bearer JWT needs a non-empty {claim} claim")))
}

/// Checks a PKCE verifier or challenge: `min..=max` characters from RFC 7636's unreserved set.
fn is_pkce_value(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len())
        && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
}

/// Parses an optional JSON body; an empty body means no parameters.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|error| ApiError::validation(format!("The request body is not valid JSON for this call: {error}")))
}

/// Starts a consent flow.
pub async fn authorize(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Json<AuthorizeResponse>, ApiError> {
    let caller = auth::authenticate(&state, &headers).await?;
    let claims = &caller.claims;
    let redirect_uri = required(&claims.redirect_uri, "redirect_uri")?;
    let challenge = required(&claims.code_challenge, "code_challenge")?;
    if !is_pkce_value(challenge, 43, 43) {
        return Err(ApiError::validation("code_challenge must be the 43-character base64url SHA-256 of the verifier"));
    }
    if claims.code_challenge_method.as_deref() != Some("S256") {
        return Err(ApiError::validation("code_challenge_method must be S256"));
    }
    if claims.response_type.as_deref().is_some_and(|kind| kind != "code") {
        return Err(ApiError::validation("response_type must be code"));
    }
    if !caller.contract.callbacks.iter().any(|allowed| allowed == redirect_uri) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "InvalidRedirectUri", format!(
                "The redirect_uri ({redirect_uri}) is invalid: it is not one of the contract's registered callbacks \
                 (an operator adds it with 'trove admin contract callbacks')"
            )));
    }
    let body: AuthorizeBody = optional_json(&body)?;
    let linked_library = match &claims.access_token {
        Some(token) => Some(linked_library(&state, &caller, token).await?),
        None => None,
    };

    let now = time::now_ms();
    let code = random::token::<32>();
    let session_key = random::alphanumeric(32);
    let authorization = Authorization {
        id: random::alphanumeric(24),
        code_hash: secret_hash(&code),
        app_id: caller.contract.app_id.clone(),
        contract_id: caller.contract.id.clone(),
        redirect_uri: redirect_uri.to_string(),
        state: claims.state.clone(),
        code_challenge: challenge.to_string(),
        actions_json: body.actions.as_ref().map(|actions| serde_json::to_string(actions).expect("JSON")),
        linked_library,
        session_key: session_key.clone(),
        status: AuthorizationStatus::Pending,
        created_ms: now,
        expires_ms: now + ms(state.config.code_ttl),
    };
    let pull_options = body.actions.and_then(|actions| actions.pull);
    let session = ReadSession {
        key: session_key.clone(),
        app_id: authorization.app_id.clone(),
        contract_id: authorization.contract_id.clone(),
        library_id: None,
        authorization_id: Some(authorization.id.clone()),
        options_json: pull_options.map(|options| serde_json::to_string(&options).expect("JSON")),
        expires_ms: now + ms(state.config.session_ttl),
    };
    let expiry = session.expires_ms;
    state.store.create_authorization(authorization, session).await?;
    tracing::info!(client_id = %caller.nonce.client_id, "authorization started");
    let token = state.keys.sign(&PreauthorizationPayload { preauthorization_code: code }).map_err(ApiError::internal)?;
    Ok(Json(AuthorizeResponse { token, session: Session { key: session_key, expiry } }))
}

/// Resolves the library of a linking access token: any genuine token of the same application,
/// expired or not, unless its grant was revoked.
async fn linked_library(state: &AppState, caller: &Caller, token: &str) -> Result<String, ApiError> {
    let (grant, _) =
        state.store.find_access_token(&secret_hash(token)).await?.ok_or_else(|| ApiError::invalid_token("access_token"))?;
    if grant.app_id != caller.contract.app_id {
        return Err(ApiError::invalid_token("access_token"));
    }
    Ok(grant.library_id)
}

struct IssuedPair {
    access: String,
    refresh: String,
    stored: NewTokenPair,
}

fn new_pair(state: &AppState) -> IssuedPair {
    let now = time::now_ms();
    let access = random::token::<32>();
    let refresh = random::token::<32>();
    let stored = NewTokenPair {
        access_hash: secret_hash(&access),
        access_expires_ms: now + ms(state.config.access_token_ttl),
        refresh_hash: secret_hash(&refresh),
        refresh_expires_ms: now + ms(state.config.refresh_token_ttl),
    };
    IssuedPair { access, refresh, stored }
}

fn token_response(state: &AppState, pair: IssuedPair, library_id: &str, consent_id: &str) -> Result<Json<TokenResponse>, ApiError> {
    let payload = TokenPayload {
        access_token: TokenValue { value: pair.access, expires_on: pair.stored.access_expires_ms / 1000 },
        refresh_token: TokenValue { value: pair.refresh, expires_on: pair.stored.refresh_expires_ms / 1000 },
        sub: library_id.to_string(),
        consentid: consent_id.to_string(),
        identifier: Identifier { id: library_id.to_string() },
        token_type: "Bearer".into(),
    };
    let token = state.keys.sign(&payload).map_err(ApiError::internal)?;
    Ok(Json(TokenResponse { token }))
}

/// Exchanges an authorization code, or rotates a refresh token. The body is ignored: Node
/// sends none for the exchange and an empty JSON-typed one for refresh.
pub async fn token(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<TokenResponse>, ApiError> {
    let caller = auth::authenticate(&state, &headers).await?;
    match caller.claims.grant_type.as_deref() {
        Some("authorization_code") => exchange_code(&state, &caller).await,
        Some("refresh_token") => refresh(&state, &caller).await,
        other => Err(ApiError::validation(format!(
            "grant_type must be authorization_code or refresh_token, got {}",
            other.unwrap_or("nothing")
        ))),
    }
}

async fn exchange_code(state: &AppState, caller: &Caller) -> Result<Json<TokenResponse>, ApiError> {
    let code = required(&caller.claims.code, "code")?;
    let verifier = required(&caller.claims.code_verifier, "code_verifier")?;
    if !is_pkce_value(verifier, 43, 128) {
        return Err(ApiError::validation("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)"));
    }
    let (auth_code, consent) =
        state.store.take_auth_code(&secret_hash(code), time::now_ms()).await?.ok_or_else(|| ApiError::invalid_token("code"))?;
    if consent.app_id != caller.contract.app_id || consent.contract_id != caller.contract.id {
        return Err(ApiError::invalid_token("code"));
    }
    if !pkce::verify(verifier, &auth_code.code_challenge) {
        return Err(ApiError::validation("The code_verifier does not match the code_challenge of the authorization"));
    }
    let pair = new_pair(state);
    let family_id = random::alphanumeric(24);
    state.store.create_token_family(&family_id, &consent.id, pair.stored.clone()).await?;
    tracing::info!(client_id = %caller.nonce.client_id, consent = %consent.id, "authorization code exchanged");
    token_response(state, pair, &consent.library_id, &consent.id)
}

/// The pair a rotation issued, as kept (sealed) for retries within the grace window.
#[derive(serde::Serialize, serde::Deserialize)]
struct SuccessorPair {
    access: String,
    refresh: String,
    access_expires_ms: i64,
    refresh_expires_ms: i64,
}

fn successor_context(old_hash: &str) -> String {
    format!("trove refresh successor {old_hash}")
}

fn seal_successor(state: &AppState, old_hash: &str, pair: &IssuedPair) -> Vec<u8> {
    let successor = SuccessorPair {
        access: pair.access.clone(),
        refresh: pair.refresh.clone(),
        access_expires_ms: pair.stored.access_expires_ms,
        refresh_expires_ms: pair.stored.refresh_expires_ms,
    };
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(&successor).expect("JSON"));
    let (kid, sealed) = state.master.seal(&plain, &successor_context(old_hash));
    let mut stored = kid.into_bytes();
    stored.push(b':');
    stored.extend_from_slice(&sealed);
    stored
}

fn open_successor(state: &AppState, old_hash: &str, stored: &[u8]) -> Result<IssuedPair, ApiError> {
    let separator = stored.iter().position(|&byte| byte == b':').ok_or_else(|| ApiError::internal("sealed pair has no key id"))?;
    let kid = std::str::from_utf8(&stored[..separator]).map_err(ApiError::internal)?;
    let plain = state.master.open(kid, &stored[separator + 1..], &successor_context(old_hash)).map_err(ApiError::internal)?;
    let successor: SuccessorPair = serde_json::from_slice(&plain).map_err(ApiError::internal)?;
    Ok(IssuedPair {
        stored: NewTokenPair {
            access_hash: secret_hash(&successor.access),
            access_expires_ms: successor.access_expires_ms,
            refresh_hash: secret_hash(&successor.refresh),
            refresh_expires_ms: successor.refresh_expires_ms,
        },
        access: successor.access,
        refresh: successor.refresh,
    })
}

/// Rotates a refresh token. A retry with the same token within the grace window (apps that
/// refresh concurrently) gets the pair the rotation issued, not a new family branch; a reuse
/// after the window revokes the whole family.
async fn refresh(state: &AppState, caller: &Caller) -> Result<Json<TokenResponse>, ApiError> {
    let refresh_token = required(&caller.claims.refresh_token, "refresh_token")?;
    let old_hash = secret_hash(refresh_token);
    let pair = new_pair(state);
    let sealed = seal_successor(state, &old_hash, &pair);
    let contract = (caller.contract.app_id.as_str(), caller.contract.id.as_str());
    let outcome = state
        .store
        .rotate_refresh_token(&old_hash, contract, pair.stored.clone(), sealed, time::now_ms(), ms(state.config.refresh_grace))
        .await?;
    match outcome {
        RefreshOutcome::Rotated(grant) => token_response(state, pair, &grant.library_id, &grant.consent_id),
        RefreshOutcome::WithinGrace(grant, successor) => {
            let current = open_successor(state, &old_hash, &successor)?;
            token_response(state, current, &grant.library_id, &grant.consent_id)
        }
        RefreshOutcome::ReuseDetected => {
            tracing::warn!(client_id = %caller.nonce.client_id, "refresh token reused after rotation; token family revoked");
            Err(ApiError::invalid_token("refresh_token"))
        }
        RefreshOutcome::Invalid => Err(ApiError::invalid_token("refresh_token")),
    }
}
