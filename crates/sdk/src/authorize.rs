//! The authorization flow: `POST oauth/authorize`, the consent page URL, the code exchange and
//! the refresh grant.

use std::fmt;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use trove_protocol::claims::{new_nonce, AuthorizeClaims, ExchangeClaims, RefreshClaims};
use trove_protocol::wire::options::{AuthorizeActions, AuthorizeBody};
use trove_protocol::wire::{
    Agent, AuthorizeResponse, PreauthorizationPayload, PullSessionOptions, Session, TokenPair,
    TokenPayload, TokenResponse,
};
use trove_protocol::{pkce, time};

use crate::client::{Client, ContractDetails};
use crate::error::{Error, Result};
use crate::transport::{bearer, check_status, read_json, RequestExt};

/// The `agent` member of authorize and trigger bodies.
pub(crate) fn agent() -> Agent {
    Agent::trove(env!("CARGO_PKG_VERSION"))
}

/// Which sources the consent page offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SourceType {
    /// Sources the library pulls data from (the default).
    #[default]
    Pull,
    /// Only sources that accept pushed data (MedMij providers).
    Push,
}

impl SourceType {
    fn as_str(self) -> &'static str {
        match self {
            SourceType::Pull => "pull",
            SourceType::Push => "push",
        }
    }
}

/// Sample data to offer on the consent page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleData {
    /// Id of the sample data set; an empty id is not sent.
    pub data_set: String,
    /// Onboards the sample data without asking when `true`.
    pub auto_onboard: bool,
}

/// A filter of the consent page's source list (MedMij data services and organization types).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourcesScope {
    /// Data types such as `medication-information` or `laboratory-results`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<Vec<String>>,
    /// An organization type such as `general-practitioner` or `hospital`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_type: Option<String>,
}

/// Arguments of [`Client::get_authorize_url`].
///
/// Create one with [`AuthorizeOptions::new`] and set the optional fields directly, for example
/// `AuthorizeOptions { locale: Some("nl".into()), ..AuthorizeOptions::new(&contract, url, state) }`.
#[derive(Debug, Clone)]
pub struct AuthorizeOptions<'a> {
    /// The contract to authorize.
    pub contract: &'a ContractDetails,
    /// Where the consent page sends the browser afterwards; must be registered for the contract.
    pub callback: String,
    /// Opaque value returned unchanged on the callback.
    pub state: String,
    /// A token pair of another contract of this application. The new contract is then linked to
    /// that token's library instead of a new one.
    pub user_access_token: Option<TokenPair>,
    /// Options of the read session returned with the URL (`actions.pull`).
    pub session_options: Option<PullSessionOptions>,
    /// Which sources the consent page offers.
    pub source_type: SourceType,
    /// Preselects one service by id; `0` is not sent, as in the Node SDK.
    pub service_id: Option<u64>,
    /// Sample data to offer.
    pub sample_data: Option<SampleData>,
    /// Language of the consent page, for example `nl` or `en`; an empty value is not sent.
    pub locale: Option<String>,
    /// Whether the source list includes sources that only have sample data.
    pub include_sample_data_only_sources: Option<bool>,
    /// A cloud storage id. It is exchanged for a `storageRef` with `POST reference` first.
    pub storage_id: Option<String>,
    /// Whether the consent page starts a sync once the user agrees (the page's default is
    /// `true`).
    pub trigger_query: Option<bool>,
    /// A filter of the source list.
    pub sources_scope: Option<SourcesScope>,
}

impl<'a> AuthorizeOptions<'a> {
    /// Creates options with the required values and no optional ones.
    pub fn new(
        contract: &'a ContractDetails,
        callback: impl Into<String>,
        state: impl Into<String>,
    ) -> Self {
        Self {
            contract,
            callback: callback.into(),
            state: state.into(),
            user_access_token: None,
            session_options: None,
            source_type: SourceType::Pull,
            service_id: None,
            sample_data: None,
            locale: None,
            include_sample_data_only_sources: None,
            storage_id: None,
            trigger_query: None,
            sources_scope: None,
        }
    }
}

/// The result of [`Client::get_authorize_url`].
#[derive(Clone)]
pub struct AuthorizeUrl {
    /// The consent page URL to open in the user's browser.
    pub url: String,
    /// The PKCE verifier. Keep it until the callback arrives and pass it to
    /// [`Client::exchange_code_for_token`]; it is a secret.
    pub code_verifier: String,
    /// The read session that becomes usable once the user consents.
    pub session: Session,
}

impl fmt::Debug for AuthorizeUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("AuthorizeUrl")
            .field("url", &self.url)
            .field("code_verifier", &"<redacted>")
            .field("session", &self.session)
            .finish()
    }
}

/// The characters JavaScript's `encodeURIComponent` leaves as they are: letters, digits and
/// `-_.!~*'()`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Builds `ONBOARD + "authorize?..."` with the parameters in the order the Node SDK sends them,
/// form-encoded (spaces become `+`).
pub(crate) fn consent_url(
    onboard_url: &str,
    code: &str,
    options: &AuthorizeOptions<'_>,
    storage_ref: Option<&str>,
) -> Result<String> {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("code", code);
    query.append_pair("sourceType", options.source_type.as_str());
    if let Some(service_id) = options.service_id.filter(|id| *id != 0) {
        query.append_pair("service", &service_id.to_string());
    }
    if let Some(sample) = &options.sample_data {
        if !sample.data_set.is_empty() {
            query.append_pair("sampleDataSet", &sample.data_set);
        }
        if sample.auto_onboard {
            query.append_pair("sampleDataAutoOnboard", "true");
        }
    }
    if let Some(locale) = options
        .locale
        .as_deref()
        .filter(|locale| !locale.is_empty())
    {
        query.append_pair("lng", locale);
    }
    if let Some(include) = options.include_sample_data_only_sources {
        query.append_pair("includeSampleDataOnlySources", bool_text(include));
    }
    if let Some(storage_ref) = storage_ref {
        query.append_pair("storageRef", storage_ref);
    }
    if let Some(trigger) = options.trigger_query {
        query.append_pair("triggerQuery", bool_text(trigger));
    }
    if let Some(scope) = &options.sources_scope {
        let json = serde_json::to_string(scope).map_err(|error| {
            Error::InvalidArgument(format!("sources_scope cannot be serialized: {error}"))
        })?;
        // Node percent-encodes the JSON itself and the form encoding then encodes it again, so
        // the consent page decodes this parameter twice.
        let encoded = utf8_percent_encode(&json, URI_COMPONENT).to_string();
        query.append_pair("sourcesScope", &encoded);
    }
    Ok(format!("{onboard_url}authorize?{}", query.finish()))
}

fn bool_text(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

#[derive(Serialize)]
struct ReferenceBody<'a> {
    r#type: &'a str,
    value: &'a str,
}

#[derive(Deserialize)]
struct ReferenceResponse {
    id: String,
}

impl Client {
    /// Starts an authorization: registers a PKCE challenge with `POST oauth/authorize` and
    /// returns the consent page URL, the PKCE verifier and the read session.
    ///
    /// The user opens `url`, signs in to or creates a library, and consents. The browser then
    /// returns to `callback` with `success=true&code=..&state=..`; pass that `code` and the
    /// returned `code_verifier` to [`Client::exchange_code_for_token`].
    pub async fn get_authorize_url(&self, options: AuthorizeOptions<'_>) -> Result<AuthorizeUrl> {
        if options.callback.is_empty() {
            return Err(Error::InvalidArgument(
                "the authorize callback URL must not be empty".into(),
            ));
        }
        let storage_ref = match options.storage_id.as_deref() {
            Some(storage_id) => Some(
                self.create_reference(options.contract, "cloudId", storage_id)
                    .await?,
            ),
            None => None,
        };

        let code_verifier = pkce::create_verifier();
        let code_challenge = pkce::challenge(&code_verifier);
        let body = AuthorizeBody {
            agent: Some(agent()),
            actions: options
                .session_options
                .clone()
                .map(|pull| AuthorizeActions { pull: Some(pull) }),
        };
        let endpoint = "oauth/authorize";
        let url = self.url(endpoint);
        let response = self
            .execute(&Method::POST, endpoint, || {
                let claims = AuthorizeClaims {
                    access_token: options
                        .user_access_token
                        .as_ref()
                        .map(|token| token.access_token.clone()),
                    client_id: self.client_id(options.contract),
                    code_challenge: code_challenge.clone(),
                    code_challenge_method: "S256".into(),
                    nonce: new_nonce(),
                    redirect_uri: options.callback.clone(),
                    response_mode: "query".into(),
                    response_type: "code".into(),
                    state: Some(options.state.clone()),
                    timestamp: time::now_ms(),
                };
                self.request(Method::POST, &url, true)
                    .header(
                        reqwest::header::AUTHORIZATION,
                        bearer(&claims, options.contract)?,
                    )
                    .accept_json()
                    .json_body(&body)
            })
            .await?;
        let response: AuthorizeResponse =
            read_json(check_status(response).await?, endpoint).await?;
        let payload: PreauthorizationPayload =
            self.verify_server_token(&response.token, endpoint).await?;
        let url = consent_url(
            &self.shared.onboard_url,
            &payload.preauthorization_code,
            &options,
            storage_ref.as_deref(),
        )?;
        Ok(AuthorizeUrl {
            url,
            code_verifier,
            session: response.session,
        })
    }

    /// Exchanges an id for a short reference with `POST reference` (APP claims).
    async fn create_reference(
        &self,
        contract: &ContractDetails,
        kind: &str,
        value: &str,
    ) -> Result<String> {
        let endpoint = "reference";
        let url = self.url(endpoint);
        let body = ReferenceBody {
            r#type: kind,
            value,
        };
        let response = self
            .execute(&Method::POST, endpoint, || {
                self.request(Method::POST, &url, true)
                    .header(reqwest::header::AUTHORIZATION, self.app_bearer(contract)?)
                    .accept_json()
                    .json_body(&body)
            })
            .await?;
        let reference: ReferenceResponse =
            read_json(check_status(response).await?, endpoint).await?;
        Ok(reference.id)
    }

    /// Exchanges the authorization code from the consent callback for a token pair.
    ///
    /// `code_verifier` is the one [`Client::get_authorize_url`] returned for this flow.
    pub async fn exchange_code_for_token(
        &self,
        contract: &ContractDetails,
        code: &str,
        code_verifier: &str,
    ) -> Result<TokenPair> {
        let endpoint = "oauth/token";
        let url = self.url(endpoint);
        let response = self
            .execute(&Method::POST, endpoint, || {
                let claims = ExchangeClaims {
                    client_id: self.client_id(contract),
                    code: code.to_string(),
                    code_verifier: code_verifier.to_string(),
                    grant_type: "authorization_code".into(),
                    nonce: new_nonce(),
                    timestamp: time::now_ms(),
                };
                // The exchange sends no body and no content type.
                Ok(self
                    .request(Method::POST, &url, true)
                    .header(reqwest::header::AUTHORIZATION, bearer(&claims, contract)?)
                    .accept_json()
                    .no_body())
            })
            .await?;
        self.read_token_response(response, endpoint).await
    }

    /// Trades the refresh token of `token` for a new token pair.
    ///
    /// Calls made with a user token refresh by themselves on a 401; call this only to refresh
    /// ahead of time. An `InvalidToken` error means the refresh token is dead and the user has
    /// to authorize again.
    pub async fn refresh_token(
        &self,
        contract: &ContractDetails,
        token: &TokenPair,
    ) -> Result<TokenPair> {
        let endpoint = "oauth/token";
        let url = self.url(endpoint);
        let response = self
            .execute(&Method::POST, endpoint, || {
                let claims = RefreshClaims {
                    client_id: self.client_id(contract),
                    grant_type: "refresh_token".into(),
                    nonce: new_nonce(),
                    refresh_token: token.refresh_token.clone(),
                    timestamp: time::now_ms(),
                };
                // The refresh sends a JSON content type with an empty body.
                Ok(self
                    .request(Method::POST, &url, true)
                    .header(reqwest::header::AUTHORIZATION, bearer(&claims, contract)?)
                    .accept_json()
                    .empty_json_body())
            })
            .await?;
        self.read_token_response(response, endpoint).await
    }

    async fn read_token_response(
        &self,
        response: reqwest::Response,
        endpoint: &str,
    ) -> Result<TokenPair> {
        let response: TokenResponse = read_json(check_status(response).await?, endpoint).await?;
        let payload: TokenPayload = self.verify_server_token(&response.token, endpoint).await?;
        Ok(TokenPair::from(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::contract;

    fn query_pairs(url: &str) -> Vec<(String, String)> {
        let parsed = url::Url::parse(url).unwrap();
        parsed
            .query_pairs()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    }

    #[test]
    fn consent_url_minimal() {
        let contract = contract();
        let options = AuthorizeOptions::new(&contract, "http://127.0.0.1/cb", "s");
        let url = consent_url("http://127.0.0.1:8080/apps/saas/", "PRE", &options, None).unwrap();
        assert_eq!(
            url,
            "http://127.0.0.1:8080/apps/saas/authorize?code=PRE&sourceType=pull"
        );
    }

    #[test]
    fn consent_url_keeps_node_parameter_order() {
        let contract = contract();
        let options = AuthorizeOptions {
            source_type: SourceType::Push,
            service_id: Some(42),
            sample_data: Some(SampleData {
                data_set: "set 1".into(),
                auto_onboard: true,
            }),
            locale: Some("nl".into()),
            include_sample_data_only_sources: Some(false),
            trigger_query: Some(true),
            sources_scope: Some(SourcesScope {
                data_type: Some(vec!["gp-data".into()]),
                organization_type: Some("hospital".into()),
            }),
            ..AuthorizeOptions::new(&contract, "http://127.0.0.1/cb", "s")
        };
        let url = consent_url("http://h/apps/saas/", "PRE", &options, Some("REF")).unwrap();
        let names: Vec<String> = query_pairs(&url)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "code",
                "sourceType",
                "service",
                "sampleDataSet",
                "sampleDataAutoOnboard",
                "lng",
                "includeSampleDataOnlySources",
                "storageRef",
                "triggerQuery",
                "sourcesScope"
            ]
        );
        assert!(url.contains("sampleDataSet=set+1"), "{url}");
        assert!(url.contains("includeSampleDataOnlySources=false"), "{url}");
    }

    #[test]
    fn consent_url_skips_empty_values() {
        let contract = contract();
        let options = AuthorizeOptions {
            service_id: Some(0),
            sample_data: Some(SampleData {
                data_set: String::new(),
                auto_onboard: false,
            }),
            locale: Some(String::new()),
            ..AuthorizeOptions::new(&contract, "http://127.0.0.1/cb", "s")
        };
        let url = consent_url("http://h/apps/saas/", "PRE", &options, None).unwrap();
        assert_eq!(url, "http://h/apps/saas/authorize?code=PRE&sourceType=pull");
    }

    #[test]
    fn sources_scope_is_encoded_twice() {
        let contract = contract();
        let options = AuthorizeOptions {
            sources_scope: Some(SourcesScope {
                data_type: Some(vec!["gp-data".into()]),
                organization_type: None,
            }),
            ..AuthorizeOptions::new(&contract, "http://127.0.0.1/cb", "s")
        };
        let url = consent_url("http://h/apps/saas/", "PRE", &options, None).unwrap();
        // encodeURIComponent('{"dataType":["gp-data"]}'), then form-encoded again.
        assert!(
            url.ends_with(
                "&sourcesScope=%257B%2522dataType%2522%253A%255B%2522gp-data%2522%255D%257D"
            ),
            "{url}"
        );
        let (_, once) = query_pairs(&url).pop().unwrap();
        let twice = percent_encoding::percent_decode_str(&once)
            .decode_utf8()
            .unwrap();
        assert_eq!(twice, r#"{"dataType":["gp-data"]}"#);
    }

    #[test]
    fn uri_component_set_matches_javascript() {
        let encoded = utf8_percent_encode("a b!~*'()-_.;,/?:@&=+$#%é", URI_COMPONENT).to_string();
        assert_eq!(
            encoded,
            "a%20b!~*'()-_.%3B%2C%2F%3F%3A%40%26%3D%2B%24%23%25%C3%A9"
        );
    }

    #[test]
    fn authorize_url_debug_hides_verifier() {
        let value = AuthorizeUrl {
            url: "http://h/apps/saas/authorize?code=PRE".into(),
            code_verifier: "secret-verifier-value".into(),
            session: Session {
                key: "k".into(),
                expiry: 1,
            },
        };
        let text = format!("{value:?}");
        assert!(!text.contains("secret-verifier-value"), "{text}");
    }
}
