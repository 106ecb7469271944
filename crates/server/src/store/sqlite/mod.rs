//! The embedded default backend: SQLite in WAL mode with `synchronous=FULL`, one group-commit
//! writer thread and a pool of read connections.

mod providers;
mod deliveries;
mod queries;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use self::writer::Writer;
use crate::store::*;

/// Migrations in order; the index plus one is the schema version they bring.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("../../../migrations/sqlite/0001_initial.sql")),
    ("0002_providers", include_str!("../../../migrations/sqlite/0002_providers.sql")),
    ("0003_deliveries", include_str!("../../../migrations/sqlite/0003_deliveries.sql")),
    ("0004_refresh_successor", include_str!("../../../migrations/sqlite/0004_refresh_successor.sql")),
    ("0005_account_app", include_str!("../../../migrations/sqlite/0005_account_app.sql")),
];

/// Most idle read connections kept open.
const MAX_IDLE_READERS: usize = 16;

pub(crate) fn database_error(error: rusqlite::Error) -> StoreError {
    StoreError::Database(error.to_string())
}

/// SQLite storage in one database file.
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Mutex<Vec<Connection>>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut connection = open_connection(path, true)?;
        migrate(&mut connection)?;
        Ok(Self { path: path.to_path_buf(), writer: Writer::start(connection), readers: Arc::default() })
    }

    async fn read<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().expect("reader pool lock").pop();
            let connection = match pooled {
                Some(connection) => connection,
                None => open_connection(&path, false)?,
            };
            let result = operation(&connection);
            let mut pool = readers.lock().expect("reader pool lock");
            if pool.len() < MAX_IDLE_READERS {
                pool.push(connection);
            }
            result
        })
        .await
        .map_err(|error| StoreError::Database(format!("read task failed: {error}")))?
    }

    async fn write<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(operation).await
    }
}

fn open_connection(path: &Path, create: bool) -> Result<Connection, StoreError> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let connection = Connection::open_with_flags(path, flags).map_err(database_error)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 10000;",
        )
        .map_err(database_error)?;
    Ok(connection)
}

/// Applies pending migrations, one transaction each, after checking that the ones already
/// applied are the same text this binary carries: an edited migration would leave the schema
/// different from what the code expects, so the server refuses to start instead.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    connection
        .execute_batch("CREATE TABLE IF NOT EXISTS trove_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL)")
        .map_err(database_error)?;
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(database_error)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Database(format!(
            "the database schema is version {version}, newer than this binary's {known}; upgrade Trove"
        )));
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().take(version as usize) {
        let recorded: Option<String> = connection
            .query_row("SELECT sha256 FROM trove_migrations WHERE version = ?1", [index as i64 + 1], |row| row.get(0))
            .optional()
            .map_err(database_error)?;
        if recorded.is_some_and(|recorded| recorded != crate::service::hashing::secret_hash(sql)) {
            return Err(StoreError::Database(format!(
                "migration {name} was changed after it was applied to this database; restore it and add a new migration instead"
            )));
        }
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let transaction = connection.transaction().map_err(database_error)?;
        transaction.execute_batch(sql).map_err(database_error)?;
        transaction.pragma_update(None, "user_version", index as i64 + 1).map_err(database_error)?;
        transaction
            .execute(
                "INSERT OR REPLACE INTO trove_migrations (version, name, sha256) VALUES (?1, ?2, ?3)",
                rusqlite::params![index as i64 + 1, name, crate::service::hashing::secret_hash(sql)],
            )
            .map_err(database_error)?;
        transaction.commit().map_err(database_error)?;
        tracing::info!(migration = name, "applied database migration");
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_application(&self, application: Application) -> Result<(), StoreError> {
        self.write(move |c| queries::create_application(c, &application)).await
    }
    async fn list_applications(&self) -> Result<Vec<Application>, StoreError> {
        self.read(queries::list_applications).await
    }
    async fn find_application(&self, id: &str) -> Result<Option<Application>, StoreError> {
        let id = id.to_string();
        self.read(move |c| queries::find_application(c, &id)).await
    }
    async fn delete_application(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let id = id.to_string();
        self.write(move |c| queries::delete_application(c, &id)).await
    }
    async fn create_contract(&self, contract: Contract) -> Result<(), StoreError> {
        self.write(move |c| queries::create_contract(c, &contract)).await
    }
    async fn find_contract(&self, app_id: &str, contract_id: &str) -> Result<Option<Contract>, StoreError> {
        let (app_id, contract_id) = (app_id.to_string(), contract_id.to_string());
        self.read(move |c| queries::find_contract(c, &app_id, &contract_id)).await
    }
    async fn list_contracts(&self, app_id: Option<&str>) -> Result<Vec<Contract>, StoreError> {
        let app_id = app_id.map(str::to_string);
        self.read(move |c| queries::list_contracts(c, app_id.as_deref())).await
    }
    async fn delete_contract(&self, app_id: &str, contract_id: &str) -> Result<(), StoreError> {
        let (app_id, contract_id) = (app_id.to_string(), contract_id.to_string());
        self.write(move |c| queries::delete_contract(c, &app_id, &contract_id)).await
    }
    async fn update_callbacks(&self, app_id: &str, contract_id: &str, callbacks: Vec<String>) -> Result<(), StoreError> {
        let (app_id, contract_id) = (app_id.to_string(), contract_id.to_string());
        self.write(move |c| queries::update_callbacks(c, &app_id, &contract_id, &callbacks)).await
    }
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.read(queries::list_signing_keys).await
    }
    async fn rotate_signing_key(&self, key: SigningKeyRecord, now_ms: i64) -> Result<(), StoreError> {
        self.write(move |c| queries::rotate_signing_key(c, &key, now_ms)).await
    }
    async fn consume_nonce(&self, client_id: &str, nonce: &str, expires_ms: i64) -> Result<NonceOutcome, StoreError> {
        let record = NonceRecord { client_id: client_id.into(), nonce: nonce.into(), expires_ms };
        self.write(move |c| queries::insert_nonce(c, &record)).await
    }
    async fn create_library(&self, library: Library) -> Result<(), StoreError> {
        self.write(move |c| queries::create_library(c, &library)).await
    }
    async fn find_library_by_username(&self, username: &str) -> Result<Option<Library>, StoreError> {
        let username = username.to_string();
        self.read(move |c| queries::find_library(c, "username", &username)).await
    }
    async fn find_library(&self, id: &str) -> Result<Option<Library>, StoreError> {
        let id = id.to_string();
        self.read(move |c| queries::find_library(c, "id", &id)).await
    }
    async fn delete_application_data(&self, library_id: &str, app_id: &str) -> Result<(Vec<String>, bool), StoreError> {
        let (library_id, app_id) = (library_id.to_string(), app_id.to_string());
        self.write(move |c| queries::delete_application_data(c, &library_id, &app_id)).await
    }
    async fn delete_library(&self, id: &str) -> Result<Vec<String>, StoreError> {
        let id = id.to_string();
        self.write(move |c| queries::delete_library(c, &id)).await
    }
    async fn create_web_session(&self, session: WebSession) -> Result<(), StoreError> {
        self.write(move |c| queries::create_web_session(c, &session)).await
    }
    async fn find_web_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<WebSession>, StoreError> {
        let id_hash = id_hash.to_string();
        self.read(move |c| queries::find_web_session(c, &id_hash, now_ms)).await
    }
    async fn create_authorization(&self, authorization: Authorization, session: ReadSession) -> Result<(), StoreError> {
        self.write(move |c| {
            queries::create_authorization(c, &authorization)?;
            queries::create_read_session(c, &session)
        })
        .await
    }
    async fn find_authorization(&self, code_hash: &str) -> Result<Option<Authorization>, StoreError> {
        let code_hash = code_hash.to_string();
        self.read(move |c| queries::find_authorization(c, &code_hash)).await
    }
    async fn allow_authorization(&self, authorization_id: &str, consent: Consent, code: AuthCode) -> Result<bool, StoreError> {
        let authorization_id = authorization_id.to_string();
        self.write(move |c| queries::allow_authorization(c, &authorization_id, &consent, &code)).await
    }
    async fn deny_authorization(&self, authorization_id: &str) -> Result<bool, StoreError> {
        let authorization_id = authorization_id.to_string();
        self.write(move |c| queries::deny_authorization(c, &authorization_id)).await
    }
    async fn take_auth_code(&self, code_hash: &str, now_ms: i64) -> Result<Option<(AuthCode, Consent)>, StoreError> {
        let code_hash = code_hash.to_string();
        self.write(move |c| queries::take_auth_code(c, &code_hash, now_ms)).await
    }
    async fn create_token_family(&self, family_id: &str, consent_id: &str, pair: NewTokenPair) -> Result<(), StoreError> {
        let (family_id, consent_id) = (family_id.to_string(), consent_id.to_string());
        self.write(move |c| queries::create_token_family(c, &family_id, &consent_id, &pair)).await
    }
    async fn find_access_token(&self, token_hash: &str) -> Result<Option<(Grant, i64)>, StoreError> {
        let token_hash = token_hash.to_string();
        self.read(move |c| queries::find_access_token(c, &token_hash)).await
    }
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        contract: (&str, &str),
        pair: NewTokenPair,
        successor_sealed: Vec<u8>,
        now_ms: i64,
        grace_ms: i64,
    ) -> Result<RefreshOutcome, StoreError> {
        let token_hash = token_hash.to_string();
        let (app_id, contract_id) = (contract.0.to_string(), contract.1.to_string());
        self.write(move |c| {
            queries::rotate_refresh_token(c, &token_hash, (&app_id, &contract_id), &pair, &successor_sealed, now_ms, grace_ms)
        })
        .await
    }
    async fn create_read_session(&self, session: ReadSession) -> Result<(), StoreError> {
        self.write(move |c| queries::create_read_session(c, &session)).await
    }
    async fn find_read_session(&self, key: &str) -> Result<Option<ReadSession>, StoreError> {
        let key = key.to_string();
        self.read(move |c| queries::find_read_session(c, &key)).await
    }
    async fn create_file(&self, file: FileRecord, nonce: NonceRecord) -> Result<NonceOutcome, StoreError> {
        self.write(move |c| {
            if queries::insert_nonce(c, &nonce)? == NonceOutcome::Replayed {
                return Ok(NonceOutcome::Replayed);
            }
            queries::create_file(c, &file)?;
            Ok(NonceOutcome::Fresh)
        })
        .await
    }
    async fn list_files(&self, library_id: &str, app_id: &str) -> Result<Vec<FileHeader>, StoreError> {
        let (library_id, app_id) = (library_id.to_string(), app_id.to_string());
        self.read(move |c| queries::list_files(c, &library_id, &app_id)).await
    }
    async fn find_file(&self, library_id: &str, name: &str) -> Result<Option<FileRecord>, StoreError> {
        let (library_id, name) = (library_id.to_string(), name.to_string());
        self.read(move |c| queries::find_file(c, &library_id, &name)).await
    }
    async fn list_blob_keys(&self) -> Result<Vec<String>, StoreError> {
        self.read(queries::list_blob_keys).await
    }
    async fn purge_expired(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.write(move |c| Ok(queries::purge_expired(c, now_ms)? + providers::purge_expired(c, now_ms)?)).await
    }

    async fn create_provider(&self, provider: Provider) -> Result<(), StoreError> {
        self.write(move |c| providers::create_provider(c, &provider)).await
    }
    async fn list_providers(&self) -> Result<Vec<Provider>, StoreError> {
        self.read(providers::list_providers).await
    }
    async fn find_provider(&self, id: i64) -> Result<Option<Provider>, StoreError> {
        self.read(move |c| providers::find_provider(c, id)).await
    }
    async fn update_provider(&self, provider: Provider) -> Result<(), StoreError> {
        self.write(move |c| providers::update_provider(c, &provider)).await
    }
    async fn delete_provider(&self, id: i64, with_accounts: bool) -> Result<u64, StoreError> {
        self.write(move |c| providers::delete_provider(c, id, with_accounts)).await
    }
    async fn last_zal_volgnummer(&self) -> Result<Option<i64>, StoreError> {
        self.read(providers::last_zal_volgnummer).await
    }
    async fn import_zal(&self, import: ZalImport) -> Result<(), StoreError> {
        self.write(move |c| providers::import_zal(c, &import)).await
    }
    async fn create_account(&self, account: ProviderAccount) -> Result<(), StoreError> {
        self.write(move |c| providers::create_account(c, &account)).await
    }
    async fn list_accounts(&self, library_id: &str) -> Result<Vec<ProviderAccount>, StoreError> {
        let library_id = library_id.to_string();
        self.read(move |c| providers::list_accounts(c, &library_id)).await
    }
    async fn find_account(&self, library_id: &str, account_id: &str) -> Result<Option<ProviderAccount>, StoreError> {
        let (library_id, account_id) = (library_id.to_string(), account_id.to_string());
        self.read(move |c| providers::find_account(c, &library_id, &account_id)).await
    }
    async fn account_app(&self, account_id: &str) -> Result<Option<String>, StoreError> {
        let account_id = account_id.to_string();
        self.read(move |c| providers::account_app(c, &account_id)).await
    }
    async fn find_account_by_authorization(&self, authorization_id: &str) -> Result<Option<ProviderAccount>, StoreError> {
        let authorization_id = authorization_id.to_string();
        self.read(move |c| providers::find_account_by_authorization(c, &authorization_id)).await
    }
    async fn update_account_tokens(&self, account_id: &str, tokens: AccountTokens, now_ms: i64) -> Result<(), StoreError> {
        let account_id = account_id.to_string();
        self.write(move |c| providers::update_account_tokens(c, &account_id, &tokens, now_ms)).await
    }
    async fn delete_account(&self, library_id: &str, account_id: &str) -> Result<bool, StoreError> {
        let (library_id, account_id) = (library_id.to_string(), account_id.to_string());
        self.write(move |c| providers::delete_account(c, &library_id, &account_id)).await
    }
    async fn create_account_revocation(&self, revocation: AccountRevocation) -> Result<(), StoreError> {
        self.write(move |c| providers::create_account_revocation(c, &revocation)).await
    }
    async fn find_account_revocation(&self, code_hash: &str, now_ms: i64) -> Result<Option<AccountRevocation>, StoreError> {
        let code_hash = code_hash.to_string();
        self.read(move |c| providers::find_account_revocation(c, &code_hash, now_ms)).await
    }
    async fn take_account_revocation(
        &self,
        code_hash: &str,
        now_ms: i64,
        remove_account: bool,
    ) -> Result<Option<AccountRevocation>, StoreError> {
        let code_hash = code_hash.to_string();
        self.write(move |c| providers::take_account_revocation(c, &code_hash, now_ms, remove_account)).await
    }
    async fn create_provider_authorization(&self, pending: ProviderAuthorization) -> Result<(), StoreError> {
        self.write(move |c| providers::create_provider_authorization(c, &pending)).await
    }
    async fn take_provider_authorization(&self, state_hash: &str, now_ms: i64) -> Result<Option<ProviderAuthorization>, StoreError> {
        let state_hash = state_hash.to_string();
        self.write(move |c| providers::take_provider_authorization(c, &state_hash, now_ms)).await
    }
    async fn save_push_onboarding(&self, onboarding: PushOnboarding) -> Result<(), StoreError> {
        self.write(move |c| providers::save_push_onboarding(c, &onboarding)).await
    }
    async fn find_push_onboarding(&self, authorization_id: &str) -> Result<Option<PushOnboarding>, StoreError> {
        let authorization_id = authorization_id.to_string();
        self.read(move |c| providers::find_push_onboarding(c, &authorization_id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trove.db");
        {
            let mut first = open_connection(&path, true).unwrap();
            migrate(&mut first).unwrap();
        }
        let mut connection = open_connection(&path, false).unwrap();
        migrate(&mut connection).unwrap();
        let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn edited_migration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut connection = open_connection(&dir.path().join("trove.db"), true).unwrap();
        migrate(&mut connection).unwrap();
        connection.execute("UPDATE trove_migrations SET sha256 = 'other' WHERE version = 1", []).unwrap();
        let error = migrate(&mut connection).unwrap_err();
        assert!(error.to_string().contains("0001_initial was changed"), "{error}");
    }
}
