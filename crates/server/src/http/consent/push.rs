//! Push onboarding (`sourceType=push`): the person picks the healthcare provider that the app
//! will push to, Trove obtains the right to push there, and creates the library's PUSH
//! account, whose `reference` the app's callback receives as `accountReference`.
//!
//! The link's `sourceType`, `service` and `sourcesScope` are stored at the first visit of
//! `authorize` (see [`remember_onboarding`]), because the sign-in forms do not carry them. The
//! consent page then offers the approved providers that match them. On allow:
//!
//! - an `oauth` provider gets an authorization code flow with PKCE: 303 to its authorization
//!   endpoint, back to `GET provider/callback`, the code exchanged for tokens, then consent
//!   completes as usual;
//! - `static` and `sandbox` providers need no authorization hop, so the account is created and
//!   consent completes at once.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;
use trove_protocol::time;

use crate::http::consent::callback::{form_action_source, see_other, Outcome};
use crate::http::consent::decision::complete_allow;
use crate::http::consent::flow::{self, invalid_link, redirect_to_callback, server_error, EarlyResponse};
use crate::http::consent::i18n::Lang;
use crate::http::consent::pages;
use crate::http::consent::respond::HtmlPage;
use crate::service::directory::{offered_for_onboarding, parse_sources_scope, SourcesScope};
use crate::service::hashing::secret_hash;
use crate::service::provider_oauth::{self, CALLBACK_PATH};
use crate::state::AppState;
use crate::store::{Authorization, AuthorizationStatus, Library, Provider, ProviderAuth, PushOnboarding};

impl Lang {
    fn provider_legend(self) -> &'static str {
        match self {
            Lang::En => "Healthcare provider to send your data to",
            Lang::Nl => "Zorgaanbieder waar je gegevens naartoe gaan",
        }
    }

    fn no_provider_matches(self) -> &'static str {
        match self {
            Lang::En => "No healthcare provider available here accepts what this app sends. You can only deny access.",
            Lang::Nl => "Geen beschikbare zorgaanbieder accepteert wat deze app verstuurt. Je kunt alleen weigeren.",
        }
    }

    fn provider_redirect_notice(self) -> &'static str {
        match self {
            Lang::En => "For some providers you sign in at the provider first; you then come back here.",
            Lang::Nl => "Bij sommige zorgaanbieders log je eerst daar in; daarna kom je hier terug.",
        }
    }

    fn provider_unavailable_title(self) -> &'static str {
        match self {
            Lang::En => "This provider is not available",
            Lang::Nl => "Deze zorgaanbieder is niet beschikbaar",
        }
    }

    fn provider_unavailable_body(self) -> &'static str {
        match self {
            Lang::En => "Go back and choose one of the healthcare providers on the list.",
            Lang::Nl => "Ga terug en kies een van de zorgaanbieders uit de lijst.",
        }
    }
}

/// Reads the push-onboarding parameters of an authorize link and stores them for the flow.
/// Links without `sourceType=push` store nothing. An unreadable `sourcesScope` makes the link
/// invalid, since ignoring it would offer providers that the app did not ask for.
pub async fn remember_onboarding(
    state: &AppState,
    authorization: &Authorization,
    source_type: Option<&str>,
    service: Option<&str>,
    sources_scope: Option<&str>,
    lang: Lang,
) -> Result<(), EarlyResponse> {
    if source_type != Some("push") {
        return Ok(());
    }
    // The SDK leaves out `service` for 0; anything that is not a positive id selects nothing.
    let service = service.and_then(|service| service.trim().parse::<i64>().ok()).filter(|service| *service > 0);
    let scope = match sources_scope.filter(|scope| !scope.trim().is_empty()) {
        Some(raw) => parse_sources_scope(raw).map_err(|error| {
            tracing::warn!(authorization = %authorization.id, %error, "onboarding link with an invalid sourcesScope");
            EarlyResponse::from(invalid_link(lang))
        })?,
        None => SourcesScope::default(),
    };
    let onboarding = PushOnboarding {
        authorization_id: authorization.id.clone(),
        service,
        data_types: scope.data_type,
        organization_type: scope.organization_type,
    };
    state.store.save_push_onboarding(onboarding).await.map_err(|error| server_error(lang, error))?;
    Ok(())
}

fn scope_of(onboarding: &PushOnboarding) -> SourcesScope {
    SourcesScope { data_type: onboarding.data_types.clone(), organization_type: onboarding.organization_type.clone() }
}

/// Lists the providers a push flow may onboard, by name.
async fn offered_providers(state: &AppState, onboarding: &PushOnboarding, lang: Lang) -> Result<Vec<Provider>, EarlyResponse> {
    let scope = scope_of(onboarding);
    let mut providers: Vec<Provider> = state
        .store
        .list_providers()
        .await
        .map_err(|error| server_error(lang, error))?
        .into_iter()
        .filter(|provider| offered_for_onboarding(provider, onboarding.service, &scope))
        .collect();
    providers.sort_by(|left, right| left.name.to_lowercase().cmp(&right.name.to_lowercase()).then(left.id.cmp(&right.id)));
    Ok(providers)
}

/// The provider part of a push flow's consent form.
pub struct ProviderChoice {
    /// Radio buttons named `provider`, or a notice when no provider matches.
    pub markup: Markup,
    /// CSP `form-action` sources of the offered OAuth providers, because the consent form's
    /// response may be a 303 to their authorization endpoints.
    pub form_sources: Vec<String>,
    /// Whether any provider can be chosen, so that allowing makes sense.
    pub can_allow: bool,
}

/// Builds the provider choice of a consent page, or `None` for a flow that is not a push flow.
pub async fn provider_choice(state: &AppState, authorization: &Authorization, lang: Lang) -> Result<Option<ProviderChoice>, EarlyResponse> {
    let onboarding =
        state.store.find_push_onboarding(&authorization.id).await.map_err(|error| server_error(lang, error))?;
    let Some(onboarding) = onboarding else { return Ok(None) };
    let providers = offered_providers(state, &onboarding, lang).await?;
    let form_sources = providers
        .iter()
        .filter_map(|provider| match &provider.auth {
            ProviderAuth::OAuth { authorize_endpoint, .. } => form_action_source(authorize_endpoint),
            _ => None,
        })
        .collect();
    let markup = html! {
        @if providers.is_empty() {
            p role="alert" { (lang.no_provider_matches()) }
        } @else {
            fieldset.providers {
                legend { (lang.provider_legend()) }
                @for (index, provider) in providers.iter().enumerate() {
                    @let id = format!("provider-{}", provider.id);
                    div {
                        input type="radio" id=(id) name="provider" value=(provider.id) checked[index == 0] required;
                        label for=(id) {
                            (provider.name)
                            @if !provider.data_services.is_empty() {
                                " (" (provider.data_services.join(", ")) ")"
                            }
                        }
                    }
                }
            }
            p { (lang.provider_redirect_notice()) }
        }
    };
    Ok(Some(ProviderChoice { markup, form_sources, can_allow: !providers.is_empty() }))
}

fn provider_unavailable(lang: Lang) -> Response {
    let page = pages::message_page(lang, lang.provider_unavailable_title(), lang.provider_unavailable_body());
    HtmlPage::new(StatusCode::BAD_REQUEST, page).into_response()
}

/// Handles `decision=allow` of a push flow: checks the chosen provider, then either sends the
/// browser to the provider's authorization endpoint or creates the account and completes
/// consent. Returns `None` for a flow that is not a push flow.
pub async fn allow_push(
    state: &AppState,
    authorization: &Authorization,
    library: &Library,
    chosen: Option<&str>,
    lang: Lang,
) -> Result<Option<Response>, EarlyResponse> {
    let onboarding =
        state.store.find_push_onboarding(&authorization.id).await.map_err(|error| server_error(lang, error))?;
    let Some(onboarding) = onboarding else { return Ok(None) };
    let Some(provider_id) = chosen.and_then(|chosen| chosen.trim().parse::<i64>().ok()) else {
        tracing::warn!(authorization = %authorization.id, "push consent allowed without a provider");
        return Err(provider_unavailable(lang).into());
    };
    let provider = state.store.find_provider(provider_id).await.map_err(|error| server_error(lang, error))?;
    let Some(provider) = provider.filter(|provider| offered_for_onboarding(provider, onboarding.service, &scope_of(&onboarding)))
    else {
        tracing::warn!(authorization = %authorization.id, provider = provider_id, "push consent named a provider that is not offered");
        return Err(provider_unavailable(lang).into());
    };

    if let ProviderAuth::OAuth { .. } = provider.auth {
        let redirect_uri = state.onboard_url(CALLBACK_PATH);
        let location = provider_oauth::begin(
            state.store.as_ref(),
            &state.master,
            authorization,
            &library.id,
            &provider,
            &redirect_uri,
            lang.tag(),
        )
        .await
        .map_err(|error| server_error(lang, error))?;
        tracing::info!(authorization = %authorization.id, provider = provider.id, "sent the browser to the provider to authorize");
        return Ok(Some(see_other(location.as_str(), &[])));
    }
    let account = provider_oauth::create_account(
        state.store.as_ref(),
        &state.master,
        &library.id,
        provider.id,
        Some(&authorization.id),
        None,
    )
    .await
    .map_err(|error| server_error(lang, error))?;
    complete_allow(state, authorization, library, Some(&account.reference), lang).await.map(Some)
}

/// Query of the provider's redirect back: `code` and `state`, or `error` and `state`
/// (RFC 6749 section 4.1.2).
#[derive(Deserialize)]
pub struct ProviderCallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Ends a push flow whose provider step failed: the consent is denied and the app's callback
/// gets `USER_CANCEL` when the person declined at the provider, `ONBOARD_ERROR` otherwise.
async fn fail_flow(state: &AppState, authorization: &Authorization, outcome: Outcome<'_>, lang: Lang) -> Result<Response, EarlyResponse> {
    let denied = state.store.deny_authorization(&authorization.id).await.map_err(|error| server_error(lang, error))?;
    if !denied {
        return Ok(redirect_to_callback(authorization, &Outcome::InvalidCode, lang));
    }
    Ok(redirect_to_callback(authorization, &outcome, lang))
}

/// `GET /apps/saas/provider/callback`: the provider's redirect after the person authorized
/// (or declined) there. The `state` must name a waiting flow whose library this browser is
/// signed in to, or to which the flow is linked. Each `state` works once.
pub async fn provider_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ProviderCallbackQuery>,
) -> Result<Response, EarlyResponse> {
    let mut lang = Lang::choose(None, &headers);
    let Some(oauth_state) = query.state.filter(|value| !value.is_empty()) else {
        tracing::warn!("provider callback without state");
        return Err(invalid_link(lang).into());
    };
    let pending = state
        .store
        .take_provider_authorization(&secret_hash(&oauth_state), time::now_ms())
        .await
        .map_err(|error| server_error(lang, error))?;
    let Some(pending) = pending else {
        tracing::warn!("provider callback with an unknown, used or expired state");
        return Err(invalid_link(lang).into());
    };
    lang = Lang::parse(&pending.lang).unwrap_or(lang);

    let authorization =
        state.store.find_authorization(&pending.code_hash).await.map_err(|error| server_error(lang, error))?;
    let Some(authorization) = authorization else { return Err(invalid_link(lang).into()) };
    if authorization.status != AuthorizationStatus::Pending || authorization.expires_ms <= time::now_ms() {
        return Ok(redirect_to_callback(&authorization, &Outcome::InvalidCode, lang));
    }
    let signer = flow::signer(&state, &headers, &authorization, lang).await?;
    let Some(signer) = signer.filter(|signer| signer.library().id == pending.library_id) else {
        tracing::warn!(authorization = %authorization.id, "provider callback from a browser not signed in to the flow's library");
        return Err(invalid_link(lang).into());
    };

    if let Some(error) = query.error {
        tracing::info!(authorization = %authorization.id, provider = pending.provider_id, %error, "the provider did not authorize");
        let outcome = if error == "access_denied" { Outcome::Denied } else { Outcome::OnboardError };
        return fail_flow(&state, &authorization, outcome, lang).await;
    }
    let Some(code) = query.code.filter(|code| !code.is_empty()) else {
        tracing::warn!(authorization = %authorization.id, "provider callback without code or error");
        return fail_flow(&state, &authorization, Outcome::OnboardError, lang).await;
    };
    let provider = state.store.find_provider(pending.provider_id).await.map_err(|error| server_error(lang, error))?;
    let Some(provider) = provider else {
        tracing::warn!(authorization = %authorization.id, provider = pending.provider_id, "the chosen provider was removed during the flow");
        return fail_flow(&state, &authorization, Outcome::OnboardError, lang).await;
    };
    let verifier = provider_oauth::open_verifier(&state.master, &pending).map_err(|error| server_error(lang, error))?;
    let redirect_uri = state.onboard_url(CALLBACK_PATH);
    let tokens = match provider_oauth::exchange_code(&state.master, &provider, &code, &verifier, &redirect_uri).await {
        Ok(tokens) => tokens,
        Err(error) => {
            tracing::warn!(authorization = %authorization.id, provider = provider.id, %error, "exchanging the provider's code failed");
            return fail_flow(&state, &authorization, Outcome::OnboardError, lang).await;
        }
    };
    let library = signer.library();
    let account = provider_oauth::create_account(
        state.store.as_ref(),
        &state.master,
        &library.id,
        provider.id,
        Some(&authorization.id),
        Some(&tokens),
    )
    .await
    .map_err(|error| server_error(lang, error))?;
    complete_allow(&state, &authorization, library, Some(&account.reference), lang).await
}
