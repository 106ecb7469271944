//! `GET /apps/saas/authorize`, where the app sends the browser to start consent.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::http::consent::decision::{consent_response, ConsentTarget, PageQuery};
use crate::http::consent::flow::{self, invalid_link, EarlyResponse};
use crate::http::consent::i18n::Lang;
use crate::http::consent::push;
use crate::http::consent::signin::{sign_in_response, SignInTarget};
use crate::state::AppState;

/// Shows the consent form straight away for a linked flow or a signed-in browser, and the
/// sign-in and create-a-library forms otherwise (or when `prompt=login` requests them).
///
/// Responds with 200 and a page, 400 for an unknown code, and 303 to the callback with
/// `INVALID_CODE` for an expired or already decided one.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, EarlyResponse> {
    let Ok(Query(query)) = query else { return Err(invalid_link(Lang::choose(None, &headers)).into()) };
    let lang = Lang::choose(query.lng.as_deref(), &headers);
    let authorization = flow::pending_authorization(&state, query.code.as_deref(), lang).await?;
    let code = query.code.as_deref().unwrap_or_default();
    let (app_name, contract) = flow::client_of(&state, &authorization, lang).await?;
    push::remember_onboarding(
        &state,
        &authorization,
        query.source_type.as_deref(),
        query.service.as_deref(),
        query.sources_scope.as_deref(),
        lang,
    )
    .await?;

    let linked = authorization.linked_library.is_some();
    let wants_sign_in = query.prompt.as_deref() == Some("login") && !linked;
    if !wants_sign_in {
        if let Some(signer) = flow::signer(&state, &headers, &authorization, lang).await? {
            let provider_choice = push::provider_choice(&state, &authorization, lang).await?;
            let target = ConsentTarget {
                authorization: &authorization,
                code,
                app_name: &app_name,
                contract: &contract,
                lang,
                provider_choice: provider_choice.as_ref(),
            };
            return Ok(consent_response(&state, &headers, &target, &signer, "authorize"));
        }
        if linked {
            tracing::warn!(authorization = %authorization.id, "the linked library of an authorization no longer exists");
            return Err(invalid_link(lang).into());
        }
    }
    let target = SignInTarget { authorization: &authorization, code, app_name: &app_name, lang };
    Ok(sign_in_response(&state, &headers, &target, None, StatusCode::OK))
}
