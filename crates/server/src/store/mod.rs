//! Persistent state behind one interface, so the SQLite default and a PostgreSQL backend can
//! serve the same service code.
//!
//! Secrets never reach the store in plain text: tokens and codes arrive as SHA-256 hashes,
//! passwords as argon2id hashes, and file bodies and signing keys already sealed.

pub mod blobs;
pub mod deliveries;
pub mod model;
pub mod providers;
pub mod sqlite;

use async_trait::async_trait;

pub use deliveries::{DeliveryStore, SandboxStore};
pub use model::*;
pub use providers::*;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same key exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// The row that an update or delete names does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
    /// A blob file operation failed.
    #[error("blob storage error: {0}")]
    Blob(#[from] std::io::Error),
}

/// Result of storing a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceOutcome {
    /// First use.
    Fresh,
    /// Seen before within its lifetime.
    Replayed,
}

/// Result of presenting a refresh token for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was current; the new pair was stored.
    Rotated(Grant),
    /// The token was rotated moments ago (within the grace window): nothing new was stored,
    /// and the sealed pair that rotation issued is returned so it can be answered again.
    WithinGrace(Grant, Vec<u8>),
    /// The token had been rotated before the grace window; its family is now revoked.
    ReuseDetected,
    /// Unknown, revoked or expired.
    Invalid,
}

/// Operations every storage backend provides.
#[async_trait]
pub trait Store: DeliveryStore + SandboxStore + Send + Sync + 'static {
    // Applications and contracts.
    /// Inserts an application.
    async fn create_application(&self, application: Application) -> Result<(), StoreError>;
    /// Lists all applications.
    async fn list_applications(&self) -> Result<Vec<Application>, StoreError>;
    /// Finds one application.
    async fn find_application(&self, id: &str) -> Result<Option<Application>, StoreError>;
    /// Deletes an application, its contracts, everything granted to them and every file it
    /// pushed; returns the blob keys to remove.
    async fn delete_application(&self, id: &str) -> Result<Vec<String>, StoreError>;
    /// Inserts a contract.
    async fn create_contract(&self, contract: Contract) -> Result<(), StoreError>;
    /// Finds a contract by application and contract id.
    async fn find_contract(&self, app_id: &str, contract_id: &str) -> Result<Option<Contract>, StoreError>;
    /// Lists contracts, optionally of one application.
    async fn list_contracts(&self, app_id: Option<&str>) -> Result<Vec<Contract>, StoreError>;
    /// Deletes a contract and everything granted to it.
    async fn delete_contract(&self, app_id: &str, contract_id: &str) -> Result<(), StoreError>;
    /// Replaces a contract's allowed callback URLs.
    async fn update_callbacks(&self, app_id: &str, contract_id: &str, callbacks: Vec<String>) -> Result<(), StoreError>;

    // Server signing keys.
    /// Lists signing keys, newest first, retired ones included.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Adds a signing key and retires every other active key at `now_ms`.
    async fn rotate_signing_key(&self, key: SigningKeyRecord, now_ms: i64) -> Result<(), StoreError>;

    // Request replay protection.
    /// Records a nonce; a second use within its lifetime is reported as replayed.
    async fn consume_nonce(&self, client_id: &str, nonce: &str, expires_ms: i64) -> Result<NonceOutcome, StoreError>;

    // Libraries and consent-page sessions.
    /// Creates a library; a taken username is a conflict.
    async fn create_library(&self, library: Library) -> Result<(), StoreError>;
    /// Finds a library by username.
    async fn find_library_by_username(&self, username: &str) -> Result<Option<Library>, StoreError>;
    /// Finds a library by id.
    async fn find_library(&self, id: &str) -> Result<Option<Library>, StoreError>;
    /// Deletes a library with everything in it and returns the blob keys to remove.
    async fn delete_library(&self, id: &str) -> Result<Vec<String>, StoreError>;
    /// Deletes what one application has in a library (its files, consents, tokens, sessions
    /// and pending authorizations), and the library itself once no application has anything
    /// left in it. Returns the blob keys to remove and whether the library was deleted.
    async fn delete_application_data(&self, library_id: &str, app_id: &str) -> Result<(Vec<String>, bool), StoreError>;
    /// Stores a signed-in browser session.
    async fn create_web_session(&self, session: WebSession) -> Result<(), StoreError>;
    /// Finds an unexpired browser session.
    async fn find_web_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<WebSession>, StoreError>;

    // Authorization flow.
    /// Stores a pending authorization with its read session.
    async fn create_authorization(&self, authorization: Authorization, session: ReadSession) -> Result<(), StoreError>;
    /// Finds an authorization by the hash of its preauthorization code, expired or not.
    async fn find_authorization(&self, code_hash: &str) -> Result<Option<Authorization>, StoreError>;
    /// Records consent: marks the pending authorization allowed, creates the consent and the
    /// authorization code, and binds the authorize session to the library. Returns false when
    /// the authorization was no longer pending.
    async fn allow_authorization(&self, authorization_id: &str, consent: Consent, code: AuthCode) -> Result<bool, StoreError>;
    /// Marks a pending authorization denied; false when it was no longer pending.
    async fn deny_authorization(&self, authorization_id: &str) -> Result<bool, StoreError>;
    /// Marks an authorization code used and returns it with its consent, if it was unused.
    async fn take_auth_code(&self, code_hash: &str, now_ms: i64) -> Result<Option<(AuthCode, Consent)>, StoreError>;

    // Tokens.
    /// Starts a token family for a consent with its first pair.
    async fn create_token_family(&self, family_id: &str, consent_id: &str, pair: NewTokenPair) -> Result<(), StoreError>;
    /// Finds the grant behind an access token hash, expired or not, unless revoked.
    async fn find_access_token(&self, token_hash: &str) -> Result<Option<(Grant, i64)>, StoreError>;
    /// Rotates a refresh token issued to `contract`, storing `pair` in the same family and
    /// `successor_sealed` (that pair, sealed) on the old token. Another contract's token counts
    /// as invalid and is left untouched.
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        contract: (&str, &str),
        pair: NewTokenPair,
        successor_sealed: Vec<u8>,
        now_ms: i64,
        grace_ms: i64,
    ) -> Result<RefreshOutcome, StoreError>;

    // Read sessions.
    /// Stores a read session.
    async fn create_read_session(&self, session: ReadSession) -> Result<(), StoreError>;
    /// Finds a read session by key.
    async fn find_read_session(&self, key: &str) -> Result<Option<ReadSession>, StoreError>;

    // Files.
    /// Stores a file record and consumes the request nonce in one transaction, so that an
    /// acknowledged push and its nonce are durable together.
    async fn create_file(&self, file: FileRecord, nonce: NonceRecord) -> Result<NonceOutcome, StoreError>;
    /// Lists file headers (no bodies) of one application in one library, oldest first.
    async fn list_files(&self, library_id: &str, app_id: &str) -> Result<Vec<FileHeader>, StoreError>;
    /// Finds one file with its body location.
    async fn find_file(&self, library_id: &str, name: &str) -> Result<Option<FileRecord>, StoreError>;
    /// Returns every blob key referenced by a file, for the orphan sweep.
    async fn list_blob_keys(&self) -> Result<Vec<String>, StoreError>;

    // Provider directory and PUSH accounts.
    /// Inserts a provider; a taken id is a conflict.
    async fn create_provider(&self, provider: Provider) -> Result<(), StoreError>;
    /// Lists every provider, by id.
    async fn list_providers(&self) -> Result<Vec<Provider>, StoreError>;
    /// Finds a provider.
    async fn find_provider(&self, id: i64) -> Result<Option<Provider>, StoreError>;
    /// Replaces the provider with the same id; a missing one is not found.
    async fn update_provider(&self, provider: Provider) -> Result<(), StoreError>;
    /// Deletes a provider and returns how many accounts went with it. Without `with_accounts`,
    /// a provider that still has accounts is a conflict.
    async fn delete_provider(&self, id: i64, with_accounts: bool) -> Result<u64, StoreError>;
    /// Returns the largest imported ZAL `Volgnummer`.
    async fn last_zal_volgnummer(&self) -> Result<Option<i64>, StoreError>;
    /// Applies a ZAL import in one transaction. A `volgnummer` not greater than the last
    /// imported one is a conflict and changes nothing.
    async fn import_zal(&self, import: ZalImport) -> Result<(), StoreError>;
    /// Inserts a PUSH account.
    async fn create_account(&self, account: ProviderAccount) -> Result<(), StoreError>;
    /// Lists a library's accounts, oldest first.
    async fn list_accounts(&self, library_id: &str) -> Result<Vec<ProviderAccount>, StoreError>;
    /// Finds an account of a library.
    async fn find_account(&self, library_id: &str, account_id: &str) -> Result<Option<ProviderAccount>, StoreError>;
    /// Finds the account that a consent flow (authorization id) created.
    async fn find_account_by_authorization(&self, authorization_id: &str) -> Result<Option<ProviderAccount>, StoreError>;
    /// Returns the application whose consent flow connected an account, or `None` for an
    /// account not tied to one.
    async fn account_app(&self, account_id: &str) -> Result<Option<String>, StoreError>;
    /// Replaces an account's sealed provider tokens and sets `updated_ms`.
    async fn update_account_tokens(&self, account_id: &str, tokens: AccountTokens, now_ms: i64) -> Result<(), StoreError>;
    /// Deletes an account of a library; false when it did not exist.
    async fn delete_account(&self, library_id: &str, account_id: &str) -> Result<bool, StoreError>;
    /// Stores a one-time revoke link.
    async fn create_account_revocation(&self, revocation: AccountRevocation) -> Result<(), StoreError>;
    /// Finds an unused, unexpired revoke link.
    async fn find_account_revocation(&self, code_hash: &str, now_ms: i64) -> Result<Option<AccountRevocation>, StoreError>;
    /// Marks an unused, unexpired revoke link used and, with `remove_account`, deletes its
    /// account in the same transaction. Returns `None` when the link was not usable.
    async fn take_account_revocation(
        &self,
        code_hash: &str,
        now_ms: i64,
        remove_account: bool,
    ) -> Result<Option<AccountRevocation>, StoreError>;
    /// Stores a consent flow that waits for a provider's OAuth callback.
    async fn create_provider_authorization(&self, pending: ProviderAuthorization) -> Result<(), StoreError>;
    /// Deletes and returns an unexpired waiting provider authorization by state hash.
    async fn take_provider_authorization(&self, state_hash: &str, now_ms: i64) -> Result<Option<ProviderAuthorization>, StoreError>;
    /// Stores, or replaces, the push-onboarding request of a consent flow.
    async fn save_push_onboarding(&self, onboarding: PushOnboarding) -> Result<(), StoreError>;
    /// Finds the push-onboarding request of a consent flow.
    async fn find_push_onboarding(&self, authorization_id: &str) -> Result<Option<PushOnboarding>, StoreError>;

    // Housekeeping.
    /// Deletes expired nonces, authorizations, codes, sessions and tokens; returns rows removed.
    async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError>;
}
