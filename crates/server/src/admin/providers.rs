//! Administration of the provider directory: add, list and remove providers, and import the
//! MedMij provider list (ZAL).

use anyhow::{bail, Context};
use secrecy::SecretString;
use trove_protocol::time;

use super::Admin;
use crate::service::directory::{DATA_TYPES, ORGANIZATION_TYPES};
use crate::service::providers::{seal_provider_secret, ProviderSecret};
use crate::service::zal::{self, check_uri, data_service_name, EndpointGroup};
use crate::store::{Provider, ProviderAuth, Store, StoreError, ZalImport, PUBLISHED_STATUSES};

/// Longest accepted provider name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// Authorization method of a new provider, with secrets still in plain text.
pub enum NewProviderAuth {
    /// OAuth 2.0 authorization code flow with PKCE.
    OAuth {
        /// Trove's client id at the provider.
        client_id: String,
        /// Trove's client secret; `None` for a public client.
        client_secret: Option<SecretString>,
        /// Authorization endpoint URL.
        authorize_endpoint: String,
        /// Token endpoint URL.
        token_endpoint: String,
        /// Scope to request, space-separated.
        scope: Option<String>,
    },
    /// One bearer token for every push.
    Static {
        /// The token.
        bearer_token: SecretString,
    },
    /// Trove's built-in sandbox provider.
    Sandbox,
}

/// A provider to add with `trove admin provider add`.
pub struct NewProvider {
    /// Id to use; `None` picks the next free one.
    pub id: Option<i64>,
    /// Display name.
    pub name: String,
    /// One of [`ORGANIZATION_TYPES`].
    pub organization_type: String,
    /// Accepted data services, each one of [`DATA_TYPES`].
    pub data_services: Vec<String>,
    /// FHIR STU3 base URL; optional for sandbox providers, which Trove serves itself.
    pub fhir_base_url: Option<String>,
    /// Authorization.
    pub auth: NewProviderAuth,
    /// One of [`PUBLISHED_STATUSES`].
    pub published_status: String,
    /// Accept `http` URLs on loopback hosts, for tests against local stand-ins.
    pub allow_loopback: bool,
}

/// Settings of a ZAL import that the list itself does not carry.
pub struct ZalImportOptions {
    /// Accept `http` URIs on loopback hosts.
    pub allow_loopback: bool,
    /// Trove's OAuth client id at every listed provider. MedMij identifies a personal health
    /// environment by one client id across all providers.
    pub client_id: String,
    /// Trove's client secret at every listed provider, if the providers issue one.
    pub client_secret: Option<SecretString>,
}

/// Counts of what an import changed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ZalImportSummary {
    /// The imported list's `Volgnummer`.
    pub volgnummer: i64,
    /// Providers written (new or updated).
    pub providers: usize,
    /// Of those, new ones.
    pub added: usize,
    /// Previously imported providers now marked `deprecated`.
    pub deprecated: usize,
}

fn check_name(name: &str) -> anyhow::Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        bail!("invalid provider name {name:?}: use 1 to {MAX_NAME_CHARS} characters");
    }
    Ok(name.to_string())
}

fn check_url(what: &str, url: &str, allow_loopback: bool) -> anyhow::Result<String> {
    check_uri(url, allow_loopback).with_context(|| format!("invalid {what}"))?;
    Ok(url.to_string())
}

fn next_id(existing: &[Provider]) -> i64 {
    existing.iter().map(|provider| provider.id).max().unwrap_or(0) + 1
}

impl Admin {
    /// Adds a provider after checking its vocabulary and URLs; secrets are sealed before they
    /// are stored.
    pub async fn add_provider(&self, new: NewProvider) -> anyhow::Result<Provider> {
        let name = check_name(&new.name)?;
        if !ORGANIZATION_TYPES.contains(&new.organization_type.as_str()) {
            bail!(
                "invalid organization type {:?}; use one of: {}",
                new.organization_type,
                ORGANIZATION_TYPES.join(", ")
            );
        }
        if new.data_services.is_empty() {
            bail!("a provider needs at least one data service; use one or more of: {}", DATA_TYPES.join(", "));
        }
        for service in &new.data_services {
            if !DATA_TYPES.contains(&service.as_str()) {
                bail!("invalid data service {service:?}; use one of: {}", DATA_TYPES.join(", "));
            }
        }
        if !PUBLISHED_STATUSES.contains(&new.published_status.as_str()) {
            bail!("invalid published status {:?}; use one of: {}", new.published_status, PUBLISHED_STATUSES.join(", "));
        }
        let fhir_base_url = match (&new.fhir_base_url, &new.auth) {
            (Some(url), _) => check_url("FHIR base URL", url, new.allow_loopback)?,
            // NOTE: a sandbox provider's pushes go to Trove's built-in sandbox endpoint, so no
            // URL is needed; the empty string marks "use the built-in one".
            (None, NewProviderAuth::Sandbox) => String::new(),
            (None, _) => bail!("a FHIR base URL is required unless the provider is a sandbox provider"),
        };

        let existing = self.store.list_providers().await?;
        let id = match new.id {
            Some(id) if id <= 0 => bail!("invalid provider id {id}: use a positive integer"),
            Some(id) => id,
            None => next_id(&existing),
        };
        let auth = match new.auth {
            NewProviderAuth::OAuth { client_id, client_secret, authorize_endpoint, token_endpoint, scope } => {
                if client_id.trim().is_empty() {
                    bail!("an OAuth provider needs a client id");
                }
                ProviderAuth::OAuth {
                    client_id: client_id.trim().to_string(),
                    client_secret: client_secret
                        .map(|secret| seal_provider_secret(&self.master, id, ProviderSecret::ClientSecret, &secret)),
                    authorize_endpoint: check_url("authorize endpoint", &authorize_endpoint, new.allow_loopback)?,
                    token_endpoint: check_url("token endpoint", &token_endpoint, new.allow_loopback)?,
                    scope: scope.map(|scope| scope.trim().to_string()).filter(|scope| !scope.is_empty()),
                }
            }
            NewProviderAuth::Static { bearer_token } => ProviderAuth::Static {
                bearer_token: seal_provider_secret(&self.master, id, ProviderSecret::BearerToken, &bearer_token),
            },
            NewProviderAuth::Sandbox => ProviderAuth::Sandbox,
        };
        let now = time::now_ms();
        let provider = Provider {
            id,
            name,
            organization_type: Some(new.organization_type),
            data_services: new.data_services,
            fhir_base_url,
            auth,
            published_status: new.published_status,
            zal_identity: None,
            created_ms: now,
            updated_ms: now,
        };
        self.store.create_provider(provider.clone()).await.map_err(|error| match error {
            StoreError::Conflict(_) => anyhow::anyhow!("provider id {id} is taken; choose another --id or leave it out"),
            other => other.into(),
        })?;
        Ok(provider)
    }

    /// Changes a provider's name, organization type or published status, for example to
    /// give an imported provider the organization type that the ZAL does not carry.
    pub async fn set_provider(
        &self,
        id: i64,
        name: Option<&str>,
        organization_type: Option<&str>,
        published_status: Option<&str>,
    ) -> anyhow::Result<Provider> {
        let mut provider = self.store.find_provider(id).await?.with_context(|| format!("provider {id} not found"))?;
        if let Some(name) = name {
            provider.name = check_name(name)?;
        }
        if let Some(organization_type) = organization_type {
            if !ORGANIZATION_TYPES.contains(&organization_type) {
                bail!("invalid organization type {organization_type:?}; use one of: {}", ORGANIZATION_TYPES.join(", "));
            }
            provider.organization_type = Some(organization_type.to_string());
        }
        if let Some(status) = published_status {
            if !PUBLISHED_STATUSES.contains(&status) {
                bail!("invalid published status {status:?}; use one of: {}", PUBLISHED_STATUSES.join(", "));
            }
            provider.published_status = status.to_string();
        }
        provider.updated_ms = time::now_ms();
        self.store.update_provider(provider.clone()).await?;
        Ok(provider)
    }

    /// Lists providers by id.
    pub async fn list_providers(&self) -> anyhow::Result<Vec<Provider>> {
        Ok(self.store.list_providers().await?)
    }

    /// Removes a provider. Without `with_accounts` a provider that libraries still push to is
    /// kept; returns how many accounts were removed.
    pub async fn remove_provider(&self, id: i64, with_accounts: bool) -> anyhow::Result<u64> {
        self.store.delete_provider(id, with_accounts).await.map_err(|error| match error {
            StoreError::Conflict(what) => anyhow::anyhow!(
                "provider {id} still has {what}; remove them too with --with-accounts, which ends those libraries' pushes"
            ),
            StoreError::NotFound(_) => anyhow::anyhow!("provider {id} not found"),
            other => other.into(),
        })
    }

    /// Imports a ZAL release 2 list: each group of a provider's data services with the same
    /// endpoints becomes one provider (see [`zal::endpoint_groups`]). Groups seen in earlier
    /// imports keep their id, organization type and a `blocked` status. Groups no longer
    /// listed are marked `deprecated` rather than removed, so their accounts stay readable.
    pub async fn import_zal(&self, input: &[u8], options: ZalImportOptions) -> anyhow::Result<ZalImportSummary> {
        let list = zal::parse(input, options.allow_loopback)?;
        if options.client_id.trim().is_empty() {
            bail!("a ZAL import needs Trove's OAuth client id at the providers (--client-id)");
        }
        if let Some(last) = self.store.last_zal_volgnummer().await? {
            if list.volgnummer <= last {
                bail!(
                    "the ZAL has Volgnummer {}, but Volgnummer {last} is already imported; only a newer list can be imported",
                    list.volgnummer
                );
            }
        }

        let existing = self.store.list_providers().await?;
        let mut next = next_id(&existing);
        let now = time::now_ms();
        let mut upserts = Vec::new();
        let mut added = 0;
        for group in zal::endpoint_groups(&list) {
            let previous = existing.iter().find(|provider| is_same_group(provider, &group));
            let id = match previous {
                Some(provider) => provider.id,
                None => {
                    added += 1;
                    let id = next;
                    next += 1;
                    id
                }
            };
            for service_id in &group.data_service_ids {
                if !zal::DATA_SERVICE_NAMES.iter().any(|(known, _)| known == service_id) {
                    tracing::warn!(provider = %group.zal_identity, data_service = %service_id, "unknown GegevensdienstId; stored as gegevensdienst-<id>");
                }
            }
            let published_status = match previous {
                Some(provider) if provider.published_status == "blocked" => "blocked".to_string(),
                _ => "approved".to_string(),
            };
            upserts.push(Provider {
                id,
                name: group.zal_identity.clone(),
                organization_type: previous.and_then(|provider| provider.organization_type.clone()),
                data_services: group.data_service_ids.iter().map(|id| data_service_name(id)).collect(),
                fhir_base_url: group.fhir_base_url.clone(),
                auth: ProviderAuth::OAuth {
                    client_id: options.client_id.trim().to_string(),
                    client_secret: options
                        .client_secret
                        .as_ref()
                        .map(|secret| seal_provider_secret(&self.master, id, ProviderSecret::ClientSecret, secret)),
                    authorize_endpoint: group.authorize_endpoint.clone(),
                    token_endpoint: group.token_endpoint.clone(),
                    scope: Some(group.scope()),
                },
                published_status,
                zal_identity: Some(group.zal_identity.clone()),
                created_ms: previous.map_or(now, |provider| provider.created_ms),
                updated_ms: now,
            });
        }
        let kept: Vec<i64> = upserts.iter().map(|provider| provider.id).collect();
        let deprecated: Vec<i64> = existing
            .iter()
            .filter(|provider| provider.zal_identity.is_some() && !kept.contains(&provider.id))
            .filter(|provider| provider.published_status != "deprecated")
            .map(|provider| provider.id)
            .collect();
        let summary =
            ZalImportSummary { volgnummer: list.volgnummer, providers: upserts.len(), added, deprecated: deprecated.len() };
        let import = ZalImport { volgnummer: list.volgnummer, tijdstempel: list.tijdstempel, upserts, deprecated, now_ms: now };
        self.store.import_zal(import).await.map_err(|error| match error {
            StoreError::Conflict(_) => anyhow::anyhow!(
                "another import with a Volgnummer of at least {} finished meanwhile; only a newer list can be imported",
                summary.volgnummer
            ),
            other => other.into(),
        })?;
        tracing::info!(volgnummer = summary.volgnummer, providers = summary.providers, added, "imported the ZAL");
        Ok(summary)
    }
}

/// Returns whether a stored provider came from the same ZAL provider and data-service group.
fn is_same_group(provider: &Provider, group: &EndpointGroup) -> bool {
    let same_scope = matches!(&provider.auth, ProviderAuth::OAuth { scope: Some(scope), .. } if *scope == group.scope());
    provider.zal_identity.as_deref() == Some(group.zal_identity.as_str()) && same_scope
}
