//! Sealing and opening the secrets of providers and PUSH accounts.
//!
//! Each secret is sealed with the active master key and bound to a context string naming its
//! row and field, so a sealed value copied into another row or column fails to open.

use secrecy::{ExposeSecret, SecretString};

use crate::service::envelope::{EnvelopeError, MasterKeys};
use crate::store::{AccountTokens, ProviderAccount, SealedSecret};

/// Field of a provider row that contains a secret.
#[derive(Debug, Clone, Copy)]
pub enum ProviderSecret {
    /// The OAuth client secret.
    ClientSecret,
    /// The static bearer token.
    BearerToken,
}

impl ProviderSecret {
    fn context(self, provider_id: i64) -> String {
        let field = match self {
            ProviderSecret::ClientSecret => "client_secret",
            ProviderSecret::BearerToken => "bearer_token",
        };
        format!("provider/{provider_id}/{field}")
    }
}

fn seal(master: &MasterKeys, value: &str, context: &str) -> SealedSecret {
    let (key_id, sealed) = master.seal(value.as_bytes(), context);
    SealedSecret { key_id, sealed }
}

fn open(master: &MasterKeys, secret: &SealedSecret, context: &str) -> Result<SecretString, EnvelopeError> {
    let plain = master.open(&secret.key_id, &secret.sealed, context)?;
    let text = String::from_utf8(plain.to_vec()).map_err(|_| EnvelopeError::Tampered)?;
    Ok(SecretString::from(text))
}

/// Seals a provider secret for the provider with id `provider_id`.
pub fn seal_provider_secret(master: &MasterKeys, provider_id: i64, field: ProviderSecret, value: &SecretString) -> SealedSecret {
    seal(master, value.expose_secret(), &field.context(provider_id))
}

/// Opens a provider secret sealed by [`seal_provider_secret`].
pub fn open_provider_secret(
    master: &MasterKeys,
    provider_id: i64,
    field: ProviderSecret,
    secret: &SealedSecret,
) -> Result<SecretString, EnvelopeError> {
    open(master, secret, &field.context(provider_id))
}

/// Provider tokens of an account in plain text, only in memory.
pub struct PlainAccountTokens {
    /// Provider access token.
    pub access_token: Option<SecretString>,
    /// Provider refresh token.
    pub refresh_token: Option<SecretString>,
    /// Access token expiry, Unix ms.
    pub expires_ms: Option<i64>,
}

impl std::fmt::Debug for PlainAccountTokens {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PlainAccountTokens")
            .field("access_token", &self.access_token.as_ref().map(|_| "[redacted]"))
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

fn account_context(account_id: &str, field: &str) -> String {
    format!("account/{account_id}/{field}")
}

/// Seals provider tokens for the account `account_id`, ready for
/// [`crate::store::Store::update_account_tokens`] or a new account row.
pub fn seal_account_tokens(master: &MasterKeys, account_id: &str, tokens: &PlainAccountTokens) -> AccountTokens {
    AccountTokens {
        access_token: tokens
            .access_token
            .as_ref()
            .map(|token| seal(master, token.expose_secret(), &account_context(account_id, "access_token"))),
        refresh_token: tokens
            .refresh_token
            .as_ref()
            .map(|token| seal(master, token.expose_secret(), &account_context(account_id, "refresh_token"))),
        expires_ms: tokens.expires_ms,
    }
}

/// Opens the provider tokens of an account.
pub fn open_account_tokens(master: &MasterKeys, account: &ProviderAccount) -> Result<PlainAccountTokens, EnvelopeError> {
    let access_token = match &account.tokens.access_token {
        Some(secret) => Some(open(master, secret, &account_context(&account.id, "access_token"))?),
        None => None,
    };
    let refresh_token = match &account.tokens.refresh_token {
        Some(secret) => Some(open(master, secret, &account_context(&account.id, "refresh_token"))?),
        None => None,
    };
    Ok(PlainAccountTokens { access_token, refresh_token, expires_ms: account.tokens.expires_ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> (tempfile::TempDir, MasterKeys) {
        let dir = tempfile::tempdir().unwrap();
        let keys = MasterKeys::load(dir.path()).unwrap();
        (dir, keys)
    }

    #[test]
    fn account_tokens_round_trip() {
        let (_dir, master) = master();
        let plain = PlainAccountTokens {
            access_token: Some(SecretString::from("access-123")),
            refresh_token: Some(SecretString::from("refresh-456")),
            expires_ms: Some(42),
        };
        let sealed = seal_account_tokens(&master, "acc1", &plain);
        assert!(!sealed.access_token.as_ref().unwrap().sealed.windows(10).any(|w| w == b"access-123"));
        let account = ProviderAccount {
            id: "acc1".into(),
            reference: "ref".into(),
            library_id: "lib".into(),
            provider_id: 1,
            authorization_id: None,
            created_ms: 0,
            updated_ms: 0,
            tokens: sealed,
        };
        let opened = open_account_tokens(&master, &account).unwrap();
        assert_eq!(opened.access_token.unwrap().expose_secret(), "access-123");
        assert_eq!(opened.refresh_token.unwrap().expose_secret(), "refresh-456");
        assert_eq!(opened.expires_ms, Some(42));
    }

    #[test]
    fn sealed_token_bound_to_account() {
        let (_dir, master) = master();
        let plain = PlainAccountTokens { access_token: Some(SecretString::from("a")), refresh_token: None, expires_ms: None };
        let tokens = seal_account_tokens(&master, "acc1", &plain);
        let moved = ProviderAccount {
            id: "acc2".into(),
            reference: "ref".into(),
            library_id: "lib".into(),
            provider_id: 1,
            authorization_id: None,
            created_ms: 0,
            updated_ms: 0,
            tokens,
        };
        assert!(open_account_tokens(&master, &moved).is_err());
    }

    #[test]
    fn debug_redacts_tokens() {
        let plain = PlainAccountTokens { access_token: Some(SecretString::from("s3cr3t-value")), refresh_token: None, expires_ms: None };
        let shown = format!("{plain:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
    }

    #[test]
    fn provider_secret_round_trip() {
        let (_dir, master) = master();
        let sealed = seal_provider_secret(&master, 7, ProviderSecret::ClientSecret, &SecretString::from("cs"));
        let opened = open_provider_secret(&master, 7, ProviderSecret::ClientSecret, &sealed).unwrap();
        assert_eq!(opened.expose_secret(), "cs");
        assert!(open_provider_secret(&master, 8, ProviderSecret::ClientSecret, &sealed).is_err());
        assert!(open_provider_secret(&master, 7, ProviderSecret::BearerToken, &sealed).is_err());
    }
}
