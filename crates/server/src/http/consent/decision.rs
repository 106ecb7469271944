//! The consent page (`GET consent`) and the decision (`POST consent`).

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use trove_protocol::{random, time};

use crate::http::consent::callback::{destination_label, form_action_source, see_other, Outcome};
use crate::http::consent::cookies::{self, CsrfToken, CSRF_COOKIE};
use crate::http::consent::flow::{
    self, bad_form, check_csrf, invalid_link, redirect_to_callback, server_error, EarlyResponse, Signer,
};
use crate::http::consent::i18n::Lang;
use crate::http::consent::pages::{self, ConsentView, FormContext};
use crate::http::consent::respond::HtmlPage;
use crate::service::hashing::secret_hash;
use crate::state::AppState;
use crate::http::consent::push::{self, ProviderChoice};
use crate::store::{AuthCode, Authorization, Consent, Contract, Library};

/// Query of the page routes: `?code=PRE[&lng=nl][&prompt=login]`, plus the push-onboarding
/// parameters that `authorize` stores. Other parameters that apps add to the onboarding URL
/// are ignored.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    /// `pull` (the default) or `push`.
    #[serde(rename = "sourceType")]
    pub source_type: Option<String>,
    /// Provider id preselected by the app.
    pub service: Option<String>,
    /// `sourcesScope` JSON, percent-encoded once more by the SDK.
    #[serde(rename = "sourcesScope")]
    pub sources_scope: Option<String>,
    /// The preauthorization code.
    pub code: Option<String>,
    /// Page language.
    pub lng: Option<String>,
    /// `login` shows the sign-in forms even to a signed-in browser.
    pub prompt: Option<String>,
}

/// The flow a consent page belongs to.
pub struct ConsentTarget<'a> {
    /// The pending authorization.
    pub authorization: &'a Authorization,
    /// Its preauthorization code, as the link carried it.
    pub code: &'a str,
    /// The requesting application's display name.
    pub app_name: &'a str,
    /// The requesting contract.
    pub contract: &'a Contract,
    /// Page language.
    pub lang: Lang,
    /// The provider choice of a push flow.
    pub provider_choice: Option<&'a ProviderChoice>,
}

/// Renders the consent page for the library of `signer`. `path` is the page the browser is
/// on (`authorize` or `consent`), for the language switch link.
pub fn consent_response(
    state: &AppState,
    headers: &HeaderMap,
    target: &ConsentTarget<'_>,
    signer: &Signer,
    path: &str,
) -> Response {
    let csrf = CsrfToken::for_request(headers);
    let destination = destination_label(&target.authorization.redirect_uri);
    let view = ConsentView {
        form: FormContext { lang: target.lang, csrf: &csrf.value, code: target.code },
        app_name: target.app_name,
        kind: target.contract.kind,
        username: &signer.library().username,
        destination: &destination,
        offer_switch: matches!(signer, Signer::Session(_)),
        path,
        provider_choice: target.provider_choice.map(|choice| &choice.markup),
        can_allow: target.provider_choice.is_none_or(|choice| choice.can_allow),
    };
    let mut page = HtmlPage::new(StatusCode::OK, pages::consent_page(&view));
    page.callback_source = form_action_source(&target.authorization.redirect_uri);
    if let Some(choice) = target.provider_choice {
        page.form_sources = choice.form_sources.clone();
    }
    if csrf.is_new {
        page.cookies.push(cookies::set_cookie(state, CSRF_COOKIE, &csrf.value, None));
    }
    page.into_response()
}

/// `GET /apps/saas/consent?code=PRE[&lng=..]`: the consent page for the signed-in or linked
/// library. A browser that is not signed in is sent to the sign-in page.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Response, EarlyResponse> {
    let Ok(Query(query)) = query else { return Err(invalid_link(Lang::choose(None, &headers)).into()) };
    let lang = Lang::choose(query.lng.as_deref(), &headers);
    let authorization = flow::pending_authorization(&state, query.code.as_deref(), lang).await?;
    let code = query.code.as_deref().unwrap_or_default();
    let (app_name, contract) = flow::client_of(&state, &authorization, lang).await?;
    let Some(signer) = flow::signer(&state, &headers, &authorization, lang).await? else {
        if authorization.linked_library.is_some() {
            tracing::warn!(authorization = %authorization.id, "the linked library of an authorization no longer exists");
            return Err(invalid_link(lang).into());
        }
        let location = state.onboard_url(&pages::page_href("authorize", code, lang, &[]));
        return Ok(see_other(&location, &[]));
    };
    let provider_choice = push::provider_choice(&state, &authorization, lang).await?;
    let target = ConsentTarget {
        authorization: &authorization,
        code,
        app_name: &app_name,
        contract: &contract,
        lang,
        provider_choice: provider_choice.as_ref(),
    };
    Ok(consent_response(&state, &headers, &target, &signer, "consent"))
}

/// Fields of the consent form.
#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: Option<String>,
    code: Option<String>,
    lng: Option<String>,
    decision: Option<String>,
    /// The chosen provider id of a push flow.
    provider: Option<String>,
}

/// `POST /apps/saas/consent`: records the decision and sends the browser to the callback.
///
/// `allow` needs the signed-in or linked library and responds with 303 to the callback with
/// `success=true&code=..`. `deny` responds with 303 and `errorCode=USER_CANCEL`, and works
/// without a session, so a person whose session lapsed can still back out. Both add `state` when the app
/// sent one. An authorization that expired or was decided meanwhile ends with `INVALID_CODE`.
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> Result<Response, EarlyResponse> {
    let Ok(Form(form)) = form else { return Err(bad_form(Lang::choose(None, &headers)).into()) };
    let lang = Lang::choose(form.lng.as_deref(), &headers);
    check_csrf(&headers, form.csrf.as_deref(), lang)?;
    let authorization = flow::pending_authorization(&state, form.code.as_deref(), lang).await?;
    match form.decision.as_deref() {
        Some("allow") => {
            let code = form.code.as_deref().unwrap_or_default();
            allow(&state, &headers, &authorization, code, form.provider.as_deref(), lang).await
        }
        Some("deny") => {
            let denied =
                state.store.deny_authorization(&authorization.id).await.map_err(|error| server_error(lang, error))?;
            if !denied {
                return Ok(redirect_to_callback(&authorization, &Outcome::InvalidCode, lang));
            }
            tracing::info!(
                authorization = %authorization.id,
                app = %authorization.app_id,
                contract = %authorization.contract_id,
                "consent denied"
            );
            Ok(redirect_to_callback(&authorization, &Outcome::Denied, lang))
        }
        _ => Err(bad_form(lang).into()),
    }
}

async fn allow(
    state: &AppState,
    headers: &HeaderMap,
    authorization: &Authorization,
    code: &str,
    provider: Option<&str>,
    lang: Lang,
) -> Result<Response, EarlyResponse> {
    let Some(signer) = flow::signer(state, headers, authorization, lang).await? else {
        if authorization.linked_library.is_some() {
            tracing::warn!(authorization = %authorization.id, "the linked library of an authorization no longer exists");
            return Err(invalid_link(lang).into());
        }
        // The session expired while the page was open: sign in again, then decide.
        let location = state.onboard_url(&pages::page_href("authorize", code, lang, &[]));
        return Ok(see_other(&location, &[]));
    };
    let library = signer.library();
    if let Some(response) = push::allow_push(state, authorization, library, provider, lang).await? {
        return Ok(response);
    }
    complete_allow(state, authorization, library, None, lang).await
}

/// Records consent for `library`: creates the consent and the authorization code, and sends
/// the browser to the callback with `accountReference` when the flow onboarded an account.
pub async fn complete_allow(
    state: &AppState,
    authorization: &Authorization,
    library: &Library,
    account_reference: Option<&str>,
    lang: Lang,
) -> Result<Response, EarlyResponse> {
    let now = time::now_ms();
    let consent = Consent {
        id: random::alphanumeric(24),
        library_id: library.id.clone(),
        app_id: authorization.app_id.clone(),
        contract_id: authorization.contract_id.clone(),
        created_ms: now,
    };
    let consent_id = consent.id.clone();
    let authorization_code = random::token::<32>();
    let stored_code = AuthCode {
        code_hash: secret_hash(&authorization_code),
        consent_id: consent.id.clone(),
        code_challenge: authorization.code_challenge.clone(),
        expires_ms: now + state.config.code_ttl.as_millis() as i64,
    };
    let allowed = state
        .store
        .allow_authorization(&authorization.id, consent, stored_code)
        .await
        .map_err(|error| server_error(lang, error))?;
    if !allowed {
        tracing::warn!(authorization = %authorization.id, "consent arrived after the authorization was decided");
        return Ok(redirect_to_callback(authorization, &Outcome::InvalidCode, lang));
    }
    tracing::info!(
        authorization = %authorization.id,
        app = %authorization.app_id,
        contract = %authorization.contract_id,
        library = %library.id,
        consent = %consent_id,
        account_reference = account_reference.unwrap_or(""),
        "consent allowed"
    );
    let outcome = Outcome::Allowed { code: &authorization_code, account_reference };
    Ok(redirect_to_callback(authorization, &outcome, lang))
}
