//! SQL of the provider directory, ZAL imports, PUSH accounts, revoke links and provider OAuth
//! flows. Like `queries`, each function runs on a connection that the caller has placed in a
//! transaction or savepoint where it writes.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::database_error;
use crate::store::*;

type Result<T> = std::result::Result<T, StoreError>;

fn is_constraint(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(failure, _) if failure.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn sealed_parts(secret: Option<&SealedSecret>) -> (Option<&str>, Option<&[u8]>) {
    match secret {
        Some(secret) => (Some(secret.key_id.as_str()), Some(secret.sealed.as_slice())),
        None => (None, None),
    }
}

fn sealed_from(key_id: Option<String>, sealed: Option<Vec<u8>>) -> Option<SealedSecret> {
    match (key_id, sealed) {
        (Some(key_id), Some(sealed)) => Some(SealedSecret { key_id, sealed }),
        _ => None,
    }
}

const PROVIDER_COLUMNS: &str = "id, name, organization_type, data_services_json, fhir_base_url, auth_kind, client_id,
    client_secret_key_id, client_secret_sealed, authorize_endpoint, token_endpoint, scope, bearer_token_key_id,
    bearer_token_sealed, published_status, zal_identity, created_ms, updated_ms";

fn provider_from_row(row: &Row) -> rusqlite::Result<Provider> {
    let data_services: String = row.get(3)?;
    let kind: String = row.get(5)?;
    let auth = match kind.as_str() {
        "oauth" => ProviderAuth::OAuth {
            client_id: row.get::<_, Option<String>>(6)?.unwrap_or_default(),
            client_secret: sealed_from(row.get(7)?, row.get(8)?),
            authorize_endpoint: row.get::<_, Option<String>>(9)?.unwrap_or_default(),
            token_endpoint: row.get::<_, Option<String>>(10)?.unwrap_or_default(),
            scope: row.get(11)?,
        },
        "static" => ProviderAuth::Static {
            bearer_token: sealed_from(row.get(12)?, row.get(13)?)
                .unwrap_or(SealedSecret { key_id: String::new(), sealed: Vec::new() }),
        },
        _ => ProviderAuth::Sandbox,
    };
    Ok(Provider {
        id: row.get(0)?,
        name: row.get(1)?,
        organization_type: row.get(2)?,
        data_services: serde_json::from_str(&data_services).unwrap_or_default(),
        fhir_base_url: row.get(4)?,
        auth,
        published_status: row.get(14)?,
        zal_identity: row.get(15)?,
        created_ms: row.get(16)?,
        updated_ms: row.get(17)?,
    })
}

/// Inserts `provider`, or with `replace` overwrites the row with the same id.
fn write_provider(c: &Connection, provider: &Provider, replace: bool) -> Result<()> {
    let (client_id, client_secret, authorize, token, scope, bearer) = match &provider.auth {
        ProviderAuth::OAuth { client_id, client_secret, authorize_endpoint, token_endpoint, scope } => (
            Some(client_id.as_str()),
            client_secret.as_ref(),
            Some(authorize_endpoint.as_str()),
            Some(token_endpoint.as_str()),
            scope.as_deref(),
            None,
        ),
        ProviderAuth::Static { bearer_token } => (None, None, None, None, None, Some(bearer_token)),
        ProviderAuth::Sandbox => (None, None, None, None, None, None),
    };
    let (secret_key_id, secret_sealed) = sealed_parts(client_secret);
    let (bearer_key_id, bearer_sealed) = sealed_parts(bearer);
    let data_services = serde_json::to_string(&provider.data_services).expect("strings serialize");
    let verb = if replace { "INSERT OR REPLACE" } else { "INSERT" };
    let sql = format!("{verb} INTO providers ({PROVIDER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)");
    c.execute(
        &sql,
        params![
            provider.id,
            provider.name,
            provider.organization_type,
            data_services,
            provider.fhir_base_url,
            provider.auth.kind(),
            client_id,
            secret_key_id,
            secret_sealed,
            authorize,
            token,
            scope,
            bearer_key_id,
            bearer_sealed,
            provider.published_status,
            provider.zal_identity,
            provider.created_ms,
            provider.updated_ms,
        ],
    )
    .map_err(|error| {
        if is_constraint(&error) {
            StoreError::Conflict(format!("provider {}", provider.id))
        } else {
            database_error(error)
        }
    })?;
    Ok(())
}

pub fn create_provider(c: &Connection, provider: &Provider) -> Result<()> {
    write_provider(c, provider, false)
}

pub fn update_provider(c: &Connection, provider: &Provider) -> Result<()> {
    if find_provider(c, provider.id)?.is_none() {
        return Err(StoreError::NotFound(format!("provider {}", provider.id)));
    }
    write_provider(c, provider, true)
}

pub fn list_providers(c: &Connection) -> Result<Vec<Provider>> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY id");
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    let rows = statement.query_map([], provider_from_row).map_err(database_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(database_error)
}

pub fn find_provider(c: &Connection, id: i64) -> Result<Option<Provider>> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = ?1");
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    statement.query_row([id], provider_from_row).optional().map_err(database_error)
}

pub fn delete_provider(c: &Connection, id: i64, with_accounts: bool) -> Result<u64> {
    let accounts: i64 =
        c.query_row("SELECT COUNT(*) FROM accounts WHERE provider_id = ?1", [id], |row| row.get(0)).map_err(database_error)?;
    if accounts > 0 && !with_accounts {
        return Err(StoreError::Conflict(format!("{accounts} account(s) of provider {id}")));
    }
    c.execute("DELETE FROM accounts WHERE provider_id = ?1", [id]).map_err(database_error)?;
    let changed = c.execute("DELETE FROM providers WHERE id = ?1", [id]).map_err(database_error)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("provider {id}")));
    }
    Ok(accounts as u64)
}

pub fn last_zal_volgnummer(c: &Connection) -> Result<Option<i64>> {
    c.query_row("SELECT MAX(volgnummer) FROM zal_imports", [], |row| row.get(0)).map_err(database_error)
}

pub fn import_zal(c: &Connection, import: &ZalImport) -> Result<()> {
    if let Some(last) = last_zal_volgnummer(c)? {
        if import.volgnummer <= last {
            return Err(StoreError::Conflict(format!(
                "an imported ZAL with Volgnummer {last} (the new list has {})",
                import.volgnummer
            )));
        }
    }
    for provider in &import.upserts {
        write_provider(c, provider, true)?;
    }
    for id in &import.deprecated {
        c.execute(
            "UPDATE providers SET published_status = 'deprecated', updated_ms = ?2 WHERE id = ?1",
            params![id, import.now_ms],
        )
        .map_err(database_error)?;
    }
    c.execute(
        "INSERT INTO zal_imports (volgnummer, tijdstempel, imported_ms, providers) VALUES (?1, ?2, ?3, ?4)",
        params![import.volgnummer, import.tijdstempel, import.now_ms, import.upserts.len() as i64],
    )
    .map_err(database_error)?;
    Ok(())
}

const ACCOUNT_COLUMNS: &str = "id, reference, library_id, provider_id, authorization_id, created_ms, updated_ms,
    access_token_key_id, access_token_sealed, refresh_token_key_id, refresh_token_sealed, token_expires_ms";

fn account_from_row(row: &Row) -> rusqlite::Result<ProviderAccount> {
    Ok(ProviderAccount {
        id: row.get(0)?,
        reference: row.get(1)?,
        library_id: row.get(2)?,
        provider_id: row.get(3)?,
        authorization_id: row.get(4)?,
        created_ms: row.get(5)?,
        updated_ms: row.get(6)?,
        tokens: AccountTokens {
            access_token: sealed_from(row.get(7)?, row.get(8)?),
            refresh_token: sealed_from(row.get(9)?, row.get(10)?),
            expires_ms: row.get(11)?,
        },
    })
}

pub fn create_account(c: &Connection, a: &ProviderAccount) -> Result<()> {
    let (access_key_id, access_sealed) = sealed_parts(a.tokens.access_token.as_ref());
    let (refresh_key_id, refresh_sealed) = sealed_parts(a.tokens.refresh_token.as_ref());
    let sql = format!("INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    c.execute(
        &sql,
        params![
            a.id,
            a.reference,
            a.library_id,
            a.provider_id,
            a.authorization_id,
            a.created_ms,
            a.updated_ms,
            access_key_id,
            access_sealed,
            refresh_key_id,
            refresh_sealed,
            a.tokens.expires_ms,
        ],
    )
    .map_err(|error| {
        if is_constraint(&error) {
            StoreError::Conflict(format!("account {} (or its library or provider does not exist)", a.id))
        } else {
            database_error(error)
        }
    })?;
    c.execute(
        "UPDATE accounts SET app_id = (SELECT app_id FROM authorizations WHERE id = ?2) WHERE id = ?1",
        params![a.id, a.authorization_id],
    )
    .map_err(database_error)?;
    Ok(())
}

pub fn account_app(c: &Connection, account_id: &str) -> Result<Option<String>> {
    c.query_row("SELECT app_id FROM accounts WHERE id = ?1", [account_id], |row| row.get::<_, Option<String>>(0))
        .optional()
        .map(Option::flatten)
        .map_err(database_error)
}

pub fn list_accounts(c: &Connection, library_id: &str) -> Result<Vec<ProviderAccount>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE library_id = ?1 ORDER BY created_ms, id");
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    let rows = statement.query_map([library_id], account_from_row).map_err(database_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(database_error)
}

pub fn find_account(c: &Connection, library_id: &str, account_id: &str) -> Result<Option<ProviderAccount>> {
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE library_id = ?1 AND id = ?2");
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    statement.query_row([library_id, account_id], account_from_row).optional().map_err(database_error)
}

pub fn find_account_by_authorization(c: &Connection, authorization_id: &str) -> Result<Option<ProviderAccount>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE authorization_id = ?1 ORDER BY created_ms DESC, id LIMIT 1"
    );
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    statement.query_row([authorization_id], account_from_row).optional().map_err(database_error)
}

pub fn update_account_tokens(c: &Connection, account_id: &str, tokens: &AccountTokens, now_ms: i64) -> Result<()> {
    let (access_key_id, access_sealed) = sealed_parts(tokens.access_token.as_ref());
    let (refresh_key_id, refresh_sealed) = sealed_parts(tokens.refresh_token.as_ref());
    let changed = c
        .execute(
            "UPDATE accounts SET access_token_key_id = ?2, access_token_sealed = ?3, refresh_token_key_id = ?4,
                                 refresh_token_sealed = ?5, token_expires_ms = ?6, updated_ms = ?7
             WHERE id = ?1",
            params![account_id, access_key_id, access_sealed, refresh_key_id, refresh_sealed, tokens.expires_ms, now_ms],
        )
        .map_err(database_error)?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("account {account_id}")));
    }
    Ok(())
}

pub fn delete_account(c: &Connection, library_id: &str, account_id: &str) -> Result<bool> {
    let changed = c
        .execute("DELETE FROM accounts WHERE library_id = ?1 AND id = ?2", [library_id, account_id])
        .map_err(database_error)?;
    Ok(changed == 1)
}

pub fn create_account_revocation(c: &Connection, r: &AccountRevocation) -> Result<()> {
    c.execute(
        "INSERT INTO account_revocations (code_hash, library_id, account_id, redirect_uri, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![r.code_hash, r.library_id, r.account_id, r.redirect_uri, r.expires_ms],
    )
    .map_err(|error| {
        if is_constraint(&error) {
            StoreError::Conflict(format!("revoke link for account {}", r.account_id))
        } else {
            database_error(error)
        }
    })?;
    Ok(())
}

fn revocation_from_row(row: &Row) -> rusqlite::Result<AccountRevocation> {
    Ok(AccountRevocation {
        code_hash: row.get(0)?,
        library_id: row.get(1)?,
        account_id: row.get(2)?,
        redirect_uri: row.get(3)?,
        expires_ms: row.get(4)?,
    })
}

pub fn find_account_revocation(c: &Connection, code_hash: &str, now_ms: i64) -> Result<Option<AccountRevocation>> {
    c.query_row(
        "SELECT code_hash, library_id, account_id, redirect_uri, expires_ms FROM account_revocations
         WHERE code_hash = ?1 AND used_ms IS NULL AND expires_ms > ?2",
        params![code_hash, now_ms],
        revocation_from_row,
    )
    .optional()
    .map_err(database_error)
}

pub fn take_account_revocation(c: &Connection, code_hash: &str, now_ms: i64, remove_account: bool) -> Result<Option<AccountRevocation>> {
    let taken = c
        .query_row(
            "UPDATE account_revocations SET used_ms = ?2 WHERE code_hash = ?1 AND used_ms IS NULL AND expires_ms > ?2
             RETURNING code_hash, library_id, account_id, redirect_uri, expires_ms",
            params![code_hash, now_ms],
            revocation_from_row,
        )
        .optional()
        .map_err(database_error)?;
    if let (Some(revocation), true) = (&taken, remove_account) {
        delete_account(c, &revocation.library_id, &revocation.account_id)?;
    }
    Ok(taken)
}

pub fn create_provider_authorization(c: &Connection, p: &ProviderAuthorization) -> Result<()> {
    c.execute(
        "INSERT INTO provider_authorizations (state_hash, authorization_id, code_hash, lang, library_id, provider_id,
                                              verifier_key_id, verifier_sealed, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            p.state_hash,
            p.authorization_id,
            p.code_hash,
            p.lang,
            p.library_id,
            p.provider_id,
            p.verifier.key_id,
            p.verifier.sealed,
            p.expires_ms
        ],
    )
    .map_err(|error| {
        if is_constraint(&error) {
            StoreError::Conflict("provider authorization".into())
        } else {
            database_error(error)
        }
    })?;
    Ok(())
}

pub fn take_provider_authorization(c: &Connection, state_hash: &str, now_ms: i64) -> Result<Option<ProviderAuthorization>> {
    c.query_row(
        "DELETE FROM provider_authorizations WHERE state_hash = ?1 AND expires_ms > ?2
         RETURNING state_hash, authorization_id, code_hash, lang, library_id, provider_id, verifier_key_id, verifier_sealed,
                   expires_ms",
        params![state_hash, now_ms],
        |row| {
            Ok(ProviderAuthorization {
                state_hash: row.get(0)?,
                authorization_id: row.get(1)?,
                code_hash: row.get(2)?,
                lang: row.get(3)?,
                library_id: row.get(4)?,
                provider_id: row.get(5)?,
                verifier: SealedSecret { key_id: row.get(6)?, sealed: row.get(7)? },
                expires_ms: row.get(8)?,
            })
        },
    )
    .optional()
    .map_err(database_error)
}

pub fn save_push_onboarding(c: &Connection, onboarding: &PushOnboarding) -> Result<()> {
    let data_types = serde_json::to_string(&onboarding.data_types).expect("strings serialize");
    c.execute(
        "INSERT OR REPLACE INTO push_onboardings (authorization_id, service, data_types_json, organization_type)
         VALUES (?1, ?2, ?3, ?4)",
        params![onboarding.authorization_id, onboarding.service, data_types, onboarding.organization_type],
    )
    .map_err(|error| {
        if is_constraint(&error) {
            StoreError::NotFound(format!("authorization {}", onboarding.authorization_id))
        } else {
            database_error(error)
        }
    })?;
    Ok(())
}

pub fn find_push_onboarding(c: &Connection, authorization_id: &str) -> Result<Option<PushOnboarding>> {
    c.query_row(
        "SELECT authorization_id, service, data_types_json, organization_type FROM push_onboardings WHERE authorization_id = ?1",
        [authorization_id],
        |row| {
            let data_types: String = row.get(2)?;
            Ok(PushOnboarding {
                authorization_id: row.get(0)?,
                service: row.get(1)?,
                data_types: serde_json::from_str(&data_types).unwrap_or_default(),
                organization_type: row.get(3)?,
            })
        },
    )
    .optional()
    .map_err(database_error)
}

/// Deletes expired revoke links and provider OAuth flows; returns rows removed.
pub fn purge_expired(c: &Connection, now_ms: i64) -> Result<u64> {
    let mut removed = 0u64;
    for sql in [
        "DELETE FROM account_revocations WHERE expires_ms <= ?1",
        "DELETE FROM provider_authorizations WHERE expires_ms <= ?1",
    ] {
        removed += c.execute(sql, [now_ms]).map_err(database_error)? as u64;
    }
    Ok(removed)
}
