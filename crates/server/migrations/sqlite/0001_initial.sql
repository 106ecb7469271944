-- Applications and their contracts. A contract is addressed on the wire as
-- client_id = '<app_id>_<contract_id>'.
CREATE TABLE applications (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);

CREATE TABLE contracts (
    app_id          TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('write', 'read', 'read-raw')),
    public_key_pem  TEXT NOT NULL,
    callbacks_json  TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (app_id, id)
);

-- Server token signing keys. The private key is sealed with the master key.
CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    sealed_private  BLOB NOT NULL,
    public_pem      TEXT NOT NULL,
    created_ms      INTEGER NOT NULL,
    retired_ms      INTEGER
);

-- Request nonces, kept until the timestamp window has passed.
CREATE TABLE nonces (
    client_id   TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL,
    PRIMARY KEY (client_id, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces(expires_ms);

-- A person's library: the account they sign in to on the consent page.
CREATE TABLE libraries (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    created_ms      INTEGER NOT NULL
);

-- Signed-in browser sessions of the consent pages, by SHA-256 of the cookie value.
CREATE TABLE web_sessions (
    id_hash     TEXT PRIMARY KEY,
    library_id  TEXT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    expires_ms  INTEGER NOT NULL
);

-- Pending consent flows, by SHA-256 of the preauthorization code.
CREATE TABLE authorizations (
    id              TEXT PRIMARY KEY,
    code_hash       TEXT NOT NULL UNIQUE,
    app_id          TEXT NOT NULL,
    contract_id     TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    state           TEXT,
    code_challenge  TEXT NOT NULL,
    actions_json    TEXT,
    linked_library  TEXT REFERENCES libraries(id) ON DELETE CASCADE,
    session_key     TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'allowed', 'denied')),
    created_ms      INTEGER NOT NULL,
    expires_ms      INTEGER NOT NULL,
    FOREIGN KEY (app_id, contract_id) REFERENCES contracts(app_id, id) ON DELETE CASCADE
);
CREATE INDEX authorizations_expiry ON authorizations(expires_ms);

CREATE TABLE consents (
    id           TEXT PRIMARY KEY,
    library_id   TEXT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    app_id       TEXT NOT NULL,
    contract_id  TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    revoked_ms   INTEGER,
    FOREIGN KEY (app_id, contract_id) REFERENCES contracts(app_id, id) ON DELETE CASCADE
);

-- Authorization codes, by SHA-256; single use.
CREATE TABLE auth_codes (
    code_hash       TEXT PRIMARY KEY,
    consent_id      TEXT NOT NULL REFERENCES consents(id) ON DELETE CASCADE,
    code_challenge  TEXT NOT NULL,
    expires_ms      INTEGER NOT NULL,
    used_ms         INTEGER
);

-- A refresh-token family: every pair issued from one code exchange by rotation.
CREATE TABLE token_families (
    id          TEXT PRIMARY KEY,
    consent_id  TEXT NOT NULL REFERENCES consents(id) ON DELETE CASCADE,
    revoked_ms  INTEGER
);

CREATE TABLE access_tokens (
    token_hash  TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    expires_ms  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    expires_ms  INTEGER NOT NULL,
    rotated_ms  INTEGER
) WITHOUT ROWID;

-- Read sessions. A session made by authorize is bound to its authorization until consent
-- gives it a library; one made by trigger has its library from the start.
CREATE TABLE read_sessions (
    key               TEXT PRIMARY KEY,
    app_id            TEXT NOT NULL,
    contract_id       TEXT NOT NULL,
    library_id        TEXT REFERENCES libraries(id) ON DELETE CASCADE,
    authorization_id  TEXT,
    options_json      TEXT,
    expires_ms        INTEGER NOT NULL
);

-- Pushed files. Small bodies are kept inline so that one group commit makes them durable;
-- larger ones live in the blob directory under blob_key. Both are sealed with a per-file
-- key, wrapped by the master key named by key_id.
CREATE TABLE files (
    name          TEXT PRIMARY KEY,
    library_id    TEXT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    app_id        TEXT NOT NULL,
    contract_id   TEXT NOT NULL,
    metadata_json TEXT NOT NULL,
    size          INTEGER NOT NULL,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    key_id        TEXT NOT NULL,
    wrapped_key   BLOB NOT NULL,
    inline_body   BLOB,
    blob_key      TEXT
);
CREATE INDEX files_library_app ON files(library_id, app_id, created_ms);
