//! SQL of the SQLite backend, one function per store operation. Each runs on a connection
//! the caller has already placed inside a transaction or savepoint where it writes.

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};

use super::database_error;
use crate::store::*;

type Result<T> = std::result::Result<T, StoreError>;

fn is_constraint(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(failure, _) if failure.code == ErrorCode::ConstraintViolation)
}

fn insert_error(what: String) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |error| if is_constraint(&error) { StoreError::Conflict(what) } else { database_error(error) }
}

fn expect_changed(changed: usize, what: String) -> Result<()> {
    if changed == 0 {
        return Err(StoreError::NotFound(what));
    }
    Ok(())
}

pub fn create_application(c: &Connection, application: &Application) -> Result<()> {
    c.execute(
        "INSERT INTO applications (id, name, created_ms) VALUES (?1, ?2, ?3)",
        params![application.id, application.name, application.created_ms],
    )
    .map_err(insert_error(format!("application {}", application.id)))?;
    Ok(())
}

fn application_from_row(row: &Row) -> rusqlite::Result<Application> {
    Ok(Application { id: row.get(0)?, name: row.get(1)?, created_ms: row.get(2)? })
}

pub fn list_applications(c: &Connection) -> Result<Vec<Application>> {
    let mut statement = c.prepare_cached("SELECT id, name, created_ms FROM applications ORDER BY id").map_err(database_error)?;
    let rows = statement.query_map([], application_from_row).map_err(database_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(database_error)
}

pub fn find_application(c: &Connection, id: &str) -> Result<Option<Application>> {
    c.query_row("SELECT id, name, created_ms FROM applications WHERE id = ?1", [id], application_from_row)
        .optional()
        .map_err(database_error)
}

pub fn delete_application(c: &Connection, id: &str) -> Result<Vec<String>> {
    // Files carry no foreign key to the application, so they are removed here: an id that is
    // registered again later must not inherit the old application's files.
    let mut statement =
        c.prepare("SELECT blob_key FROM files WHERE app_id = ?1 AND blob_key IS NOT NULL").map_err(database_error)?;
    let blob_keys = statement
        .query_map([id], |row| row.get::<_, String>(0))
        .map_err(database_error)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(database_error)?;
    c.execute("DELETE FROM files WHERE app_id = ?1", [id]).map_err(database_error)?;
    c.execute("DELETE FROM read_sessions WHERE app_id = ?1", [id]).map_err(database_error)?;
    let changed = c.execute("DELETE FROM applications WHERE id = ?1", [id]).map_err(database_error)?;
    expect_changed(changed, format!("application {id}"))?;
    Ok(blob_keys)
}

pub fn create_contract(c: &Connection, contract: &Contract) -> Result<()> {
    let callbacks = serde_json::to_string(&contract.callbacks).expect("strings serialize");
    c.execute(
        "INSERT INTO contracts (app_id, id, kind, public_key_pem, callbacks_json, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![contract.app_id, contract.id, contract.kind.as_str(), contract.public_key_pem, callbacks, contract.created_ms],
    )
    .map_err(|error| {
        if is_constraint(&error) {
            StoreError::Conflict(format!("contract {} of application {}", contract.id, contract.app_id))
        } else {
            database_error(error)
        }
    })?;
    Ok(())
}

const CONTRACT_COLUMNS: &str = "app_id, id, kind, public_key_pem, callbacks_json, created_ms";

fn contract_from_row(row: &Row) -> rusqlite::Result<Contract> {
    let kind: String = row.get(2)?;
    let callbacks: String = row.get(4)?;
    Ok(Contract {
        app_id: row.get(0)?,
        id: row.get(1)?,
        kind: ContractKind::parse(&kind).unwrap_or(ContractKind::Read),
        public_key_pem: row.get(3)?,
        callbacks: serde_json::from_str(&callbacks).unwrap_or_default(),
        created_ms: row.get(5)?,
    })
}

pub fn find_contract(c: &Connection, app_id: &str, contract_id: &str) -> Result<Option<Contract>> {
    let sql = format!("SELECT {CONTRACT_COLUMNS} FROM contracts WHERE app_id = ?1 AND id = ?2");
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    statement.query_row([app_id, contract_id], contract_from_row).optional().map_err(database_error)
}

pub fn list_contracts(c: &Connection, app_id: Option<&str>) -> Result<Vec<Contract>> {
    let sql = format!("SELECT {CONTRACT_COLUMNS} FROM contracts WHERE ?1 IS NULL OR app_id = ?1 ORDER BY app_id, id");
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    let rows = statement.query_map([app_id], contract_from_row).map_err(database_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(database_error)
}

pub fn delete_contract(c: &Connection, app_id: &str, contract_id: &str) -> Result<()> {
    let changed =
        c.execute("DELETE FROM contracts WHERE app_id = ?1 AND id = ?2", [app_id, contract_id]).map_err(database_error)?;
    expect_changed(changed, format!("contract {contract_id} of application {app_id}"))
}

pub fn update_callbacks(c: &Connection, app_id: &str, contract_id: &str, callbacks: &[String]) -> Result<()> {
    let callbacks = serde_json::to_string(callbacks).expect("strings serialize");
    let changed = c
        .execute("UPDATE contracts SET callbacks_json = ?3 WHERE app_id = ?1 AND id = ?2", params![app_id, contract_id, callbacks])
        .map_err(database_error)?;
    expect_changed(changed, format!("contract {contract_id} of application {app_id}"))
}

pub fn list_signing_keys(c: &Connection) -> Result<Vec<SigningKeyRecord>> {
    let mut statement = c
        .prepare_cached("SELECT kid, sealed_private, public_pem, created_ms, retired_ms FROM signing_keys ORDER BY created_ms DESC, kid DESC")
        .map_err(database_error)?;
    let rows = statement
        .query_map([], |row| {
            Ok(SigningKeyRecord {
                kid: row.get(0)?,
                sealed_private: row.get(1)?,
                public_pem: row.get(2)?,
                created_ms: row.get(3)?,
                retired_ms: row.get(4)?,
            })
        })
        .map_err(database_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(database_error)
}

pub fn rotate_signing_key(c: &Connection, key: &SigningKeyRecord, now_ms: i64) -> Result<()> {
    c.execute("UPDATE signing_keys SET retired_ms = ?1 WHERE retired_ms IS NULL", [now_ms]).map_err(database_error)?;
    c.execute(
        "INSERT INTO signing_keys (kid, sealed_private, public_pem, created_ms, retired_ms) VALUES (?1, ?2, ?3, ?4, NULL)",
        params![key.kid, key.sealed_private, key.public_pem, key.created_ms],
    )
    .map_err(insert_error(format!("signing key {}", key.kid)))?;
    Ok(())
}

pub fn insert_nonce(c: &Connection, nonce: &NonceRecord) -> Result<NonceOutcome> {
    let mut statement = c
        .prepare_cached("INSERT INTO nonces (client_id, nonce, expires_ms) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")
        .map_err(database_error)?;
    let inserted = statement.execute(params![nonce.client_id, nonce.nonce, nonce.expires_ms]).map_err(database_error)?;
    Ok(if inserted == 1 { NonceOutcome::Fresh } else { NonceOutcome::Replayed })
}

pub fn create_library(c: &Connection, library: &Library) -> Result<()> {
    c.execute(
        "INSERT INTO libraries (id, username, password_hash, created_ms) VALUES (?1, ?2, ?3, ?4)",
        params![library.id, library.username, library.password_hash, library.created_ms],
    )
    .map_err(insert_error(format!("library {}", library.username)))?;
    Ok(())
}

pub fn find_library(c: &Connection, column: &str, value: &str) -> Result<Option<Library>> {
    let column = if column == "username" { "username" } else { "id" };
    let sql = format!("SELECT id, username, password_hash, created_ms FROM libraries WHERE {column} = ?1");
    c.query_row(&sql, [value], |row| {
        Ok(Library { id: row.get(0)?, username: row.get(1)?, password_hash: row.get(2)?, created_ms: row.get(3)? })
    })
    .optional()
    .map_err(database_error)
}

pub fn delete_library(c: &Connection, id: &str) -> Result<Vec<String>> {
    let mut statement = c
        .prepare("SELECT blob_key FROM files WHERE library_id = ?1 AND blob_key IS NOT NULL")
        .map_err(database_error)?;
    let blob_keys = statement
        .query_map([id], |row| row.get::<_, String>(0))
        .map_err(database_error)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(database_error)?;
    c.execute("DELETE FROM authorizations WHERE linked_library = ?1", [id]).map_err(database_error)?;
    let changed = c.execute("DELETE FROM libraries WHERE id = ?1", [id]).map_err(database_error)?;
    expect_changed(changed, format!("library {id}"))?;
    Ok(blob_keys)
}

pub fn delete_application_data(c: &Connection, library_id: &str, app_id: &str) -> Result<(Vec<String>, bool)> {
    let mut statement = c
        .prepare("SELECT blob_key FROM files WHERE library_id = ?1 AND app_id = ?2 AND blob_key IS NOT NULL")
        .map_err(database_error)?;
    let mut blob_keys = statement
        .query_map([library_id, app_id], |row| row.get::<_, String>(0))
        .map_err(database_error)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(database_error)?;
    for sql in [
        "DELETE FROM files WHERE library_id = ?1 AND app_id = ?2",
        "DELETE FROM read_sessions WHERE library_id = ?1 AND app_id = ?2",
        "DELETE FROM authorizations WHERE linked_library = ?1 AND app_id = ?2",
        // Cascades to authorization codes, token families and their tokens.
        "DELETE FROM consents WHERE library_id = ?1 AND app_id = ?2",
    ] {
        c.execute(sql, [library_id, app_id]).map_err(database_error)?;
    }
    let remaining: i64 = c
        .query_row(
            "SELECT (SELECT COUNT(*) FROM consents WHERE library_id = ?1) + (SELECT COUNT(*) FROM files WHERE library_id = ?1)",
            [library_id],
            |row| row.get(0),
        )
        .map_err(database_error)?;
    if remaining > 0 {
        return Ok((blob_keys, false));
    }
    blob_keys.extend(delete_library(c, library_id)?);
    Ok((blob_keys, true))
}

pub fn create_web_session(c: &Connection, session: &WebSession) -> Result<()> {
    c.execute(
        "INSERT INTO web_sessions (id_hash, library_id, expires_ms) VALUES (?1, ?2, ?3)",
        params![session.id_hash, session.library_id, session.expires_ms],
    )
    .map_err(insert_error("web session".into()))?;
    Ok(())
}

pub fn find_web_session(c: &Connection, id_hash: &str, now_ms: i64) -> Result<Option<WebSession>> {
    c.query_row(
        "SELECT id_hash, library_id, expires_ms FROM web_sessions WHERE id_hash = ?1 AND expires_ms > ?2",
        params![id_hash, now_ms],
        |row| Ok(WebSession { id_hash: row.get(0)?, library_id: row.get(1)?, expires_ms: row.get(2)? }),
    )
    .optional()
    .map_err(database_error)
}

pub fn create_authorization(c: &Connection, a: &Authorization) -> Result<()> {
    c.execute(
        "INSERT INTO authorizations (id, code_hash, app_id, contract_id, redirect_uri, state, code_challenge, actions_json,
                                     linked_library, session_key, status, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', ?11, ?12)",
        params![
            a.id, a.code_hash, a.app_id, a.contract_id, a.redirect_uri, a.state, a.code_challenge, a.actions_json,
            a.linked_library, a.session_key, a.created_ms, a.expires_ms
        ],
    )
    .map_err(insert_error("authorization".into()))?;
    Ok(())
}

pub fn find_authorization(c: &Connection, code_hash: &str) -> Result<Option<Authorization>> {
    c.query_row(
        "SELECT id, code_hash, app_id, contract_id, redirect_uri, state, code_challenge, actions_json, linked_library,
                session_key, status, created_ms, expires_ms
         FROM authorizations WHERE code_hash = ?1",
        [code_hash],
        |row| {
            let status: String = row.get(10)?;
            Ok(Authorization {
                id: row.get(0)?,
                code_hash: row.get(1)?,
                app_id: row.get(2)?,
                contract_id: row.get(3)?,
                redirect_uri: row.get(4)?,
                state: row.get(5)?,
                code_challenge: row.get(6)?,
                actions_json: row.get(7)?,
                linked_library: row.get(8)?,
                session_key: row.get(9)?,
                status: match status.as_str() {
                    "allowed" => AuthorizationStatus::Allowed,
                    "denied" => AuthorizationStatus::Denied,
                    _ => AuthorizationStatus::Pending,
                },
                created_ms: row.get(11)?,
                expires_ms: row.get(12)?,
            })
        },
    )
    .optional()
    .map_err(database_error)
}

pub fn allow_authorization(c: &Connection, authorization_id: &str, consent: &Consent, code: &AuthCode) -> Result<bool> {
    let changed = c
        .execute("UPDATE authorizations SET status = 'allowed' WHERE id = ?1 AND status = 'pending'", [authorization_id])
        .map_err(database_error)?;
    if changed == 0 {
        return Ok(false);
    }
    c.execute(
        "INSERT INTO consents (id, library_id, app_id, contract_id, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![consent.id, consent.library_id, consent.app_id, consent.contract_id, consent.created_ms],
    )
    .map_err(database_error)?;
    c.execute(
        "INSERT INTO auth_codes (code_hash, consent_id, code_challenge, expires_ms) VALUES (?1, ?2, ?3, ?4)",
        params![code.code_hash, code.consent_id, code.code_challenge, code.expires_ms],
    )
    .map_err(database_error)?;
    c.execute(
        "UPDATE read_sessions SET library_id = ?2 WHERE authorization_id = ?1",
        params![authorization_id, consent.library_id],
    )
    .map_err(database_error)?;
    Ok(true)
}

pub fn deny_authorization(c: &Connection, authorization_id: &str) -> Result<bool> {
    let changed = c
        .execute("UPDATE authorizations SET status = 'denied' WHERE id = ?1 AND status = 'pending'", [authorization_id])
        .map_err(database_error)?;
    Ok(changed == 1)
}

fn consent_by_id(c: &Connection, id: &str) -> Result<Option<Consent>> {
    c.query_row(
        "SELECT id, library_id, app_id, contract_id, created_ms FROM consents WHERE id = ?1 AND revoked_ms IS NULL",
        [id],
        |row| {
            Ok(Consent {
                id: row.get(0)?,
                library_id: row.get(1)?,
                app_id: row.get(2)?,
                contract_id: row.get(3)?,
                created_ms: row.get(4)?,
            })
        },
    )
    .optional()
    .map_err(database_error)
}

pub fn take_auth_code(c: &Connection, code_hash: &str, now_ms: i64) -> Result<Option<(AuthCode, Consent)>> {
    let code = c
        .query_row(
            "UPDATE auth_codes SET used_ms = ?2 WHERE code_hash = ?1 AND used_ms IS NULL AND expires_ms > ?2
             RETURNING code_hash, consent_id, code_challenge, expires_ms",
            params![code_hash, now_ms],
            |row| Ok(AuthCode { code_hash: row.get(0)?, consent_id: row.get(1)?, code_challenge: row.get(2)?, expires_ms: row.get(3)? }),
        )
        .optional()
        .map_err(database_error)?;
    let Some(code) = code else {
        // A second use of a code that was already exchanged revokes every token issued from
        // it (RFC 6749 section 4.1.2): the code has leaked to someone.
        c.execute(
            "UPDATE token_families SET revoked_ms = ?2
             WHERE revoked_ms IS NULL AND consent_id = (SELECT consent_id FROM auth_codes WHERE code_hash = ?1 AND used_ms IS NOT NULL)",
            params![code_hash, now_ms],
        )
        .map_err(database_error)?;
        return Ok(None);
    };
    Ok(consent_by_id(c, &code.consent_id)?.map(|consent| (code, consent)))
}

fn insert_pair(c: &Connection, family_id: &str, pair: &NewTokenPair) -> Result<()> {
    c.prepare_cached("INSERT INTO access_tokens (token_hash, family_id, expires_ms) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![pair.access_hash, family_id, pair.access_expires_ms]))
        .map_err(database_error)?;
    c.prepare_cached("INSERT INTO refresh_tokens (token_hash, family_id, expires_ms) VALUES (?1, ?2, ?3)")
        .and_then(|mut s| s.execute(params![pair.refresh_hash, family_id, pair.refresh_expires_ms]))
        .map_err(database_error)?;
    Ok(())
}

pub fn create_token_family(c: &Connection, family_id: &str, consent_id: &str, pair: &NewTokenPair) -> Result<()> {
    c.execute("INSERT INTO token_families (id, consent_id) VALUES (?1, ?2)", [family_id, consent_id])
        .map_err(database_error)?;
    insert_pair(c, family_id, pair)
}

const GRANT_JOIN: &str = "JOIN token_families f ON f.id = t.family_id AND f.revoked_ms IS NULL
                          JOIN consents k ON k.id = f.consent_id AND k.revoked_ms IS NULL";

fn grant_from_row(row: &Row, offset: usize) -> rusqlite::Result<Grant> {
    Ok(Grant {
        consent_id: row.get(offset)?,
        family_id: row.get(offset + 1)?,
        library_id: row.get(offset + 2)?,
        app_id: row.get(offset + 3)?,
        contract_id: row.get(offset + 4)?,
    })
}

pub fn find_access_token(c: &Connection, token_hash: &str) -> Result<Option<(Grant, i64)>> {
    let sql = format!(
        "SELECT t.expires_ms, k.id, f.id, k.library_id, k.app_id, k.contract_id FROM access_tokens t {GRANT_JOIN} WHERE t.token_hash = ?1"
    );
    let mut statement = c.prepare_cached(&sql).map_err(database_error)?;
    statement
        .query_row([token_hash], |row| Ok((grant_from_row(row, 1)?, row.get(0)?)))
        .optional()
        .map_err(database_error)
}

pub fn rotate_refresh_token(
    c: &Connection,
    token_hash: &str,
    contract: (&str, &str),
    pair: &NewTokenPair,
    successor_sealed: &[u8],
    now_ms: i64,
    grace_ms: i64,
) -> Result<RefreshOutcome> {
    let sql = format!(
        "SELECT t.expires_ms, t.rotated_ms, t.successor_sealed, k.id, f.id, k.library_id, k.app_id, k.contract_id
         FROM refresh_tokens t {GRANT_JOIN} WHERE t.token_hash = ?1 AND k.app_id = ?2 AND k.contract_id = ?3"
    );
    let found = c
        .query_row(&sql, [token_hash, contract.0, contract.1], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, Option<i64>>(1)?,
                row.get::<_, Option<Vec<u8>>>(2)?,
                grant_from_row(row, 3)?,
            ))
        })
        .optional()
        .map_err(database_error)?;
    let Some((expires_ms, rotated_ms, successor, grant)) = found else { return Ok(RefreshOutcome::Invalid) };
    if expires_ms <= now_ms {
        return Ok(RefreshOutcome::Invalid);
    }
    match (rotated_ms, successor) {
        (None, _) => {
            c.execute(
                "UPDATE refresh_tokens SET rotated_ms = ?2, successor_sealed = ?3 WHERE token_hash = ?1",
                params![token_hash, now_ms, successor_sealed],
            )
            .map_err(database_error)?;
            insert_pair(c, &grant.family_id, pair)?;
            Ok(RefreshOutcome::Rotated(grant))
        }
        (Some(rotated), Some(successor)) if now_ms - rotated <= grace_ms => Ok(RefreshOutcome::WithinGrace(grant, successor)),
        (Some(_), _) => {
            c.execute("UPDATE token_families SET revoked_ms = ?2 WHERE id = ?1", params![grant.family_id, now_ms])
                .map_err(database_error)?;
            Ok(RefreshOutcome::ReuseDetected)
        }
    }
}

pub fn create_read_session(c: &Connection, s: &ReadSession) -> Result<()> {
    c.execute(
        "INSERT INTO read_sessions (key, app_id, contract_id, library_id, authorization_id, options_json, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![s.key, s.app_id, s.contract_id, s.library_id, s.authorization_id, s.options_json, s.expires_ms],
    )
    .map_err(insert_error("read session".into()))?;
    Ok(())
}

pub fn find_read_session(c: &Connection, key: &str) -> Result<Option<ReadSession>> {
    let mut statement = c
        .prepare_cached(
            "SELECT key, app_id, contract_id, library_id, authorization_id, options_json, expires_ms FROM read_sessions WHERE key = ?1",
        )
        .map_err(database_error)?;
    statement
        .query_row([key], |row| {
            Ok(ReadSession {
                key: row.get(0)?,
                app_id: row.get(1)?,
                contract_id: row.get(2)?,
                library_id: row.get(3)?,
                authorization_id: row.get(4)?,
                options_json: row.get(5)?,
                expires_ms: row.get(6)?,
            })
        })
        .optional()
        .map_err(database_error)
}

pub fn create_file(c: &Connection, f: &FileRecord) -> Result<()> {
    let (inline, blob) = match &f.body {
        StoredBody::Inline(bytes) => (Some(bytes.as_slice()), None),
        StoredBody::Blob(key) => (None, Some(key.as_str())),
    };
    let mut statement = c
        .prepare_cached(
            "INSERT INTO files (name, library_id, app_id, contract_id, metadata_json, size, created_ms, updated_ms,
                                key_id, wrapped_key, inline_body, blob_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .map_err(database_error)?;
    statement
        .execute(params![
            f.header.name, f.library_id, f.app_id, f.contract_id, f.header.metadata_json, f.header.size as i64,
            f.header.created_ms, f.header.updated_ms, f.key_id, f.wrapped_key, inline, blob
        ])
        .map_err(insert_error(format!("file {}", f.header.name)))?;
    Ok(())
}

fn header_from_row(row: &Row) -> rusqlite::Result<FileHeader> {
    Ok(FileHeader {
        name: row.get(0)?,
        metadata_json: row.get(1)?,
        size: row.get::<_, i64>(2)? as u64,
        created_ms: row.get(3)?,
        updated_ms: row.get(4)?,
    })
}

pub fn list_files(c: &Connection, library_id: &str, app_id: &str) -> Result<Vec<FileHeader>> {
    let mut statement = c
        .prepare_cached(
            "SELECT name, metadata_json, size, created_ms, updated_ms FROM files
             WHERE library_id = ?1 AND app_id = ?2 ORDER BY created_ms, name",
        )
        .map_err(database_error)?;
    let rows = statement.query_map([library_id, app_id], header_from_row).map_err(database_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(database_error)
}

pub fn find_file(c: &Connection, library_id: &str, name: &str) -> Result<Option<FileRecord>> {
    let mut statement = c
        .prepare_cached(
            "SELECT name, metadata_json, size, created_ms, updated_ms, library_id, app_id, contract_id, key_id, wrapped_key,
                    inline_body, blob_key
             FROM files WHERE library_id = ?1 AND name = ?2",
        )
        .map_err(database_error)?;
    statement
        .query_row([library_id, name], |row| {
            let inline: Option<Vec<u8>> = row.get(10)?;
            let blob: Option<String> = row.get(11)?;
            Ok(FileRecord {
                header: header_from_row(row)?,
                library_id: row.get(5)?,
                app_id: row.get(6)?,
                contract_id: row.get(7)?,
                key_id: row.get(8)?,
                wrapped_key: row.get(9)?,
                body: match (inline, blob) {
                    (_, Some(key)) => StoredBody::Blob(key),
                    (Some(bytes), None) => StoredBody::Inline(bytes),
                    (None, None) => StoredBody::Inline(Vec::new()),
                },
            })
        })
        .optional()
        .map_err(database_error)
}

pub fn list_blob_keys(c: &Connection) -> Result<Vec<String>> {
    let mut statement = c.prepare("SELECT blob_key FROM files WHERE blob_key IS NOT NULL").map_err(database_error)?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0)).map_err(database_error)?;
    rows.collect::<rusqlite::Result<_>>().map_err(database_error)
}

pub fn purge_expired(c: &Connection, now_ms: i64) -> Result<u64> {
    let statements = [
        "DELETE FROM nonces WHERE expires_ms <= ?1",
        "DELETE FROM web_sessions WHERE expires_ms <= ?1",
        "DELETE FROM auth_codes WHERE expires_ms <= ?1",
        // Kept a day past expiry so that a late visit to the consent page can still be sent
        // back to the app with INVALID_CODE instead of a dead end.
        "DELETE FROM authorizations WHERE expires_ms <= ?1 - 86400000",
        "DELETE FROM read_sessions WHERE expires_ms <= ?1",
        // Expired access tokens stay 30 days, because linking accepts a genuine expired token.
        "DELETE FROM access_tokens WHERE expires_ms <= ?1 - 2592000000",
        "DELETE FROM refresh_tokens WHERE expires_ms <= ?1",
    ];
    let mut removed = 0u64;
    for sql in statements {
        removed += c.execute(sql, [now_ms]).map_err(database_error)? as u64;
    }
    // Successor pairs are kept only for the refresh grace window, which is at most an hour.
    removed += c
        .execute("UPDATE refresh_tokens SET successor_sealed = NULL WHERE successor_sealed IS NOT NULL AND rotated_ms <= ?1 - 3600000", [now_ms])
        .map_err(database_error)? as u64;
    removed += c
        .execute(
            "DELETE FROM token_families WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = token_families.id)
                                          AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.family_id = token_families.id)",
            [],
        )
        .map_err(database_error)? as u64;
    Ok(removed)
}
