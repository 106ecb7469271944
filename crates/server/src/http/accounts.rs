//! The library's PUSH accounts over the API: `GET permission-access/accounts`,
//! `DELETE permission-access/service/h:accountId` and `GET permission-access/revoke/h:accountId`.
//!
//! The account id travels in the `accountId` header; `h:accountId` is a literal path segment.
//! An account belongs to a library and to the application whose consent flow connected it.
//! Only that application can list, remove or revoke it, except an account created outside a
//! consent flow, which every application of the library can use.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use trove_protocol::wire::{AccessTokenStatus, Account};
use trove_protocol::{random, time};

use crate::http::auth;
use crate::http::error::ApiError;
use crate::service::directory::{provider_reference, SERVICE_GROUP_ID, SERVICE_GROUP_NAME};
use crate::service::hashing::secret_hash;
use crate::state::AppState;
use crate::store::{AccountRevocation, Provider, ProviderAccount, ProviderAuth};

/// How long a revoke link stays usable.
pub const REVOKE_LINK_TTL_MS: i64 = 10 * 60 * 1000;

/// Returns a request header as text, or a 400 naming it.
fn required_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    let value = headers
        .get(name)
        .ok_or_else(|| ApiError::validation(format!("The {name} header is missing")))?
        .to_str()
        .map_err(|_| ApiError::validation(format!("The {name} header is not text")))?
        .trim();
    if value.is_empty() {
        return Err(ApiError::validation(format!("The {name} header is empty")));
    }
    Ok(value)
}

fn account_not_found(account_id: &str) -> ApiError {
    ApiError::not_found("NotFound", format!("The account ({account_id}) does not exist in this library"))
}

/// Builds the wire account of a PUSH account. A provider that has vanished from the
/// directory still yields a valid element, named after its id.
pub fn wire_account(account: &ProviderAccount, provider: Option<&Provider>, now_ms: i64) -> Account {
    let (name, reference) = match provider {
        Some(provider) => (provider.name.clone(), provider_reference(provider)),
        None => (format!("Provider {}", account.provider_id), format!("trove-provider-{}", account.provider_id)),
    };
    let authorized = match provider.map(|provider| &provider.auth) {
        Some(ProviderAuth::OAuth { .. }) => {
            let tokens = &account.tokens;
            let access_current = tokens.access_token.is_some() && tokens.expires_ms.is_none_or(|expires| expires > now_ms);
            access_current || tokens.refresh_token.is_some()
        }
        Some(ProviderAuth::Static { .. } | ProviderAuth::Sandbox) => true,
        None => false,
    };
    Account {
        id: account.id.clone(),
        reference: account.reference.clone(),
        r#type: "PUSH".into(),
        created_date: account.created_ms,
        service_group_id: SERVICE_GROUP_ID,
        service_group_name: SERVICE_GROUP_NAME.into(),
        service_type_id: account.provider_id,
        service_type_name: name.clone(),
        service_type_reference: reference.clone(),
        source_id: account.provider_id,
        updated_date: account.updated_ms,
        service_provider_name: Some(name),
        service_provider_reference: Some(reference),
        access_token_status: Some(AccessTokenStatus { authorized, expires_at: account.tokens.expires_ms }),
    }
}

/// Returns whether the calling application may use an account: the one whose consent flow
/// connected it, or any application for an account no flow created.
pub async fn is_callers_account(state: &AppState, account_id: &str, app_id: &str) -> Result<bool, ApiError> {
    Ok(state.store.account_app(account_id).await?.is_none_or(|owner| owner == app_id))
}

/// Returns the PUSH accounts that the calling application connected to the library, as a bare
/// JSON array, oldest first. A library without such accounts gets `[]`.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<Account>>, ApiError> {
    let user = auth::authenticate_user(&state, &headers).await?;
    let mut accounts = Vec::new();
    for account in state.store.list_accounts(&user.grant.library_id).await? {
        if is_callers_account(&state, &account.id, &user.grant.app_id).await? {
            accounts.push(account);
        }
    }
    let providers: HashMap<i64, Provider> =
        state.store.list_providers().await?.into_iter().map(|provider| (provider.id, provider)).collect();
    let now = time::now_ms();
    let listed = accounts.iter().map(|account| wire_account(account, providers.get(&account.provider_id), now)).collect();
    Ok(Json(listed))
}

/// Removes the account named by the `accountId` header from the caller's library.
pub async fn delete(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let user = auth::authenticate_user(&state, &headers).await?;
    let account_id = required_header(&headers, "accountId")?;
    // NOTE: Trove does not notify the provider, because the ZAL lists no revocation endpoint.
    // The provider's tokens stop being used and expire there.
    if !is_callers_account(&state, account_id, &user.grant.app_id).await?
        || !state.store.delete_account(&user.grant.library_id, account_id).await?
    {
        return Err(account_not_found(account_id));
    }
    tracing::info!(library = %user.grant.library_id, account = %account_id, "push account deleted by the app");
    Ok(Json(json!({ "deleted": true, "accountId": account_id })))
}

/// Returns `{location}`: a one-time link to the revoke page, where the person confirms removing
/// the account named by the `accountId` header. The page then sends the browser to the
/// `redirectUri` header's URL, which must be one of the contract's callback URLs.
pub async fn revoke_link(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let user = auth::authenticate_user(&state, &headers).await?;
    let account_id = required_header(&headers, "accountId")?;
    let redirect_uri = required_header(&headers, "redirectUri")?;
    if !user.caller.contract.callbacks.iter().any(|allowed| allowed == redirect_uri) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidRedirectUri",
            format!("The redirect_uri ({redirect_uri}) is invalid"),
        ));
    }
    let library_id = &user.grant.library_id;
    if state.store.find_account(library_id, account_id).await?.is_none()
        || !is_callers_account(&state, account_id, &user.grant.app_id).await?
    {
        return Err(account_not_found(account_id));
    }

    let code = random::token::<32>();
    let revocation = AccountRevocation {
        code_hash: secret_hash(&code),
        library_id: library_id.clone(),
        account_id: account_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        expires_ms: time::now_ms() + REVOKE_LINK_TTL_MS,
    };
    state.store.create_account_revocation(revocation).await?;
    let mut location = url::Url::parse(&state.onboard_url("revoke")).map_err(ApiError::internal)?;
    location.query_pairs_mut().append_pair("code", &code);
    Ok(Json(json!({ "location": location.as_str() })))
}
