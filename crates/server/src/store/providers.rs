//! Rows of the provider directory and of the PUSH accounts that link a library to a provider.
//!
//! Secrets in these rows are [`SealedSecret`]s: the service layer seals them with
//! [`crate::service::envelope::MasterKeys::seal`] (see [`crate::service::providers`]) before
//! they reach the store.

/// A secret sealed with a master key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// Master key id that sealed it.
    pub key_id: String,
    /// `nonce || ciphertext || tag`.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "SealedSecret({}, {} bytes)", self.key_id, self.sealed.len())
    }
}

/// How Trove obtains the right to push to a provider on a person's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderAuth {
    /// OAuth 2.0 authorization code flow with PKCE at the provider; the resulting provider
    /// tokens are stored on the account.
    OAuth {
        /// Trove's client id at the provider.
        client_id: String,
        /// Trove's client secret, absent for public clients.
        client_secret: Option<SealedSecret>,
        /// Authorization endpoint URL.
        authorize_endpoint: String,
        /// Token endpoint URL.
        token_endpoint: String,
        /// Requested scope, space-separated; ZAL imports use the data-service ids.
        scope: Option<String>,
    },
    /// One bearer token for every account, configured by the operator.
    Static {
        /// The bearer token.
        bearer_token: SealedSecret,
    },
    /// Trove's built-in sandbox endpoint; no authorization hop.
    Sandbox,
}

impl ProviderAuth {
    /// The stored name: `oauth`, `static` or `sandbox`.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderAuth::OAuth { .. } => "oauth",
            ProviderAuth::Static { .. } => "static",
            ProviderAuth::Sandbox => "sandbox",
        }
    }
}

/// Discovery `publishedStatus` values.
pub const PUBLISHED_STATUSES: &[&str] = &["approved", "pending", "deprecated", "blocked", "sampledataonly"];

/// A healthcare provider that accepts pushed FHIR STU3 resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Discovery id and the accounts' `sourceId`.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// MedMij organization type such as `general-practitioner`; `None` when unknown.
    pub organization_type: Option<String>,
    /// Names of the data services it accepts, such as `documents`.
    pub data_services: Vec<String>,
    /// FHIR STU3 base URL that pushed resources go to.
    pub fhir_base_url: String,
    /// How Trove is authorized to push.
    pub auth: ProviderAuth,
    /// One of [`PUBLISHED_STATUSES`]; only `approved` providers are offered on consent pages.
    pub published_status: String,
    /// ZAL provider name (`name@medmij`) of imported providers.
    pub zal_identity: Option<String>,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Last change, Unix ms.
    pub updated_ms: i64,
}

/// The result of importing a ZAL publication, written in one transaction.
#[derive(Debug, Clone)]
pub struct ZalImport {
    /// The list's `Volgnummer`; must exceed every imported one.
    pub volgnummer: i64,
    /// The list's `Tijdstempel`, as written.
    pub tijdstempel: String,
    /// Providers to insert or replace by id.
    pub upserts: Vec<Provider>,
    /// Ids of previously imported providers absent from this list, to mark `deprecated`.
    pub deprecated: Vec<i64>,
    /// Import time, Unix ms.
    pub now_ms: i64,
}

/// Sealed provider tokens of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountTokens {
    /// Provider access token.
    pub access_token: Option<SealedSecret>,
    /// Provider refresh token.
    pub refresh_token: Option<SealedSecret>,
    /// Access token expiry, Unix ms.
    pub expires_ms: Option<i64>,
}

/// A library account of type PUSH: the library's link to one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    /// Account id, the `accountId` header of provider pushes.
    pub id: String,
    /// Reference returned to the app as `accountReference`.
    pub reference: String,
    /// Owning library.
    pub library_id: String,
    /// Provider pushed to.
    pub provider_id: i64,
    /// Consent flow (authorization id) that created it.
    pub authorization_id: Option<String>,
    /// Creation time, Unix ms.
    pub created_ms: i64,
    /// Last change, Unix ms.
    pub updated_ms: i64,
    /// Provider tokens (none for `static` and `sandbox` providers).
    pub tokens: AccountTokens,
}

/// A one-time link to the revoke page.
#[derive(Debug, Clone)]
pub struct AccountRevocation {
    /// SHA-256 of the code in the link.
    pub code_hash: String,
    /// Library of the account.
    pub library_id: String,
    /// Account to remove.
    pub account_id: String,
    /// Where the page sends the browser afterwards.
    pub redirect_uri: String,
    /// Expiry, Unix ms.
    pub expires_ms: i64,
}

/// A consent flow waiting for a provider's OAuth callback.
#[derive(Debug, Clone)]
pub struct ProviderAuthorization {
    /// SHA-256 of the `state` sent to the provider.
    pub state_hash: String,
    /// The Trove consent flow (authorization id) to continue afterwards.
    pub authorization_id: String,
    /// SHA-256 of the consent flow's preauthorization code, to find it with
    /// [`crate::store::Store::find_authorization`].
    pub code_hash: String,
    /// Language tag of the consent pages the person was on.
    pub lang: String,
    /// Signed-in library.
    pub library_id: String,
    /// Chosen provider.
    pub provider_id: i64,
    /// Sealed PKCE verifier.
    pub verifier: SealedSecret,
    /// Expiry, Unix ms.
    pub expires_ms: i64,
}

/// The push-onboarding request of a consent flow: which providers its page may offer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushOnboarding {
    /// The consent flow (authorization id).
    pub authorization_id: String,
    /// Provider preselected by the app's `service` parameter.
    pub service: Option<i64>,
    /// `sourcesScope.dataType`: data services of which a provider must accept one.
    pub data_types: Vec<String>,
    /// `sourcesScope.organizationType`.
    pub organization_type: Option<String>,
}
