-- Healthcare providers that apps push FHIR resources to (MedMij "push to provider"), and the
-- library accounts of type PUSH that a person creates by choosing and authorizing one.

-- The provider directory. The id is the discovery `id` and the accounts' `sourceId`.
-- Secrets (OAuth client secret, static bearer token) are sealed with the master key named by
-- the matching *_key_id column; the store never sees them in plain text.
CREATE TABLE providers (
    id                      INTEGER PRIMARY KEY,
    name                    TEXT NOT NULL,
    -- One of the MedMij organizationType values, or NULL when unknown (ZAL imports).
    organization_type       TEXT,
    -- JSON array of data-service names the provider accepts, such as "documents".
    data_services_json      TEXT NOT NULL,
    fhir_base_url           TEXT NOT NULL,
    auth_kind               TEXT NOT NULL CHECK (auth_kind IN ('oauth', 'static', 'sandbox')),
    client_id               TEXT,
    client_secret_key_id    TEXT,
    client_secret_sealed    BLOB,
    authorize_endpoint      TEXT,
    token_endpoint          TEXT,
    scope                   TEXT,
    bearer_token_key_id     TEXT,
    bearer_token_sealed     BLOB,
    published_status        TEXT NOT NULL
        CHECK (published_status IN ('approved', 'pending', 'deprecated', 'blocked', 'sampledataonly')),
    -- The ZAL provider name (`name@medmij`) of imported providers.
    zal_identity            TEXT,
    created_ms              INTEGER NOT NULL,
    updated_ms              INTEGER NOT NULL,
    CHECK (auth_kind <> 'oauth' OR (client_id IS NOT NULL AND authorize_endpoint IS NOT NULL AND token_endpoint IS NOT NULL)),
    CHECK (auth_kind <> 'static' OR bearer_token_sealed IS NOT NULL)
);
CREATE INDEX providers_zal_identity ON providers(zal_identity);

-- Every imported ZAL publication. A list is imported only when its Volgnummer is greater than
-- the largest one here.
CREATE TABLE zal_imports (
    volgnummer   INTEGER PRIMARY KEY,
    tijdstempel  TEXT NOT NULL,
    imported_ms  INTEGER NOT NULL,
    providers    INTEGER NOT NULL
);

-- Library accounts of type PUSH: a library's authorization to push to one provider. Provider
-- tokens are sealed like provider secrets.
CREATE TABLE accounts (
    id                       TEXT PRIMARY KEY,
    reference                TEXT NOT NULL UNIQUE,
    library_id               TEXT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    provider_id              INTEGER NOT NULL REFERENCES providers(id),
    -- The consent flow (authorizations.id) that created the account; NULL once it is purged.
    authorization_id         TEXT,
    created_ms               INTEGER NOT NULL,
    updated_ms               INTEGER NOT NULL,
    access_token_key_id      TEXT,
    access_token_sealed      BLOB,
    refresh_token_key_id     TEXT,
    refresh_token_sealed     BLOB,
    token_expires_ms         INTEGER
);
CREATE INDEX accounts_library ON accounts(library_id, created_ms);
CREATE INDEX accounts_provider ON accounts(provider_id);
CREATE INDEX accounts_authorization ON accounts(authorization_id);

-- One-time revoke links handed out by `permission-access/revoke/h:accountId`, by SHA-256 of
-- the code in the link.
CREATE TABLE account_revocations (
    code_hash     TEXT PRIMARY KEY,
    library_id    TEXT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    redirect_uri  TEXT NOT NULL,
    expires_ms    INTEGER NOT NULL,
    used_ms       INTEGER
);

-- A consent flow waiting for a provider's OAuth callback, by SHA-256 of the `state` sent to
-- the provider. code_hash is the consent flow's authorizations.code_hash, to find it again;
-- the PKCE verifier is sealed.
CREATE TABLE provider_authorizations (
    state_hash         TEXT PRIMARY KEY,
    authorization_id   TEXT NOT NULL,
    code_hash          TEXT NOT NULL,
    lang               TEXT NOT NULL,
    library_id         TEXT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    provider_id        INTEGER NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
    verifier_key_id    TEXT NOT NULL,
    verifier_sealed    BLOB NOT NULL,
    expires_ms         INTEGER NOT NULL
);

-- The push-onboarding parameters of a consent flow (`sourceType=push` with its optional
-- `service` and `sourcesScope`), kept from the first visit of the authorize page so that they
-- survive the sign-in forms. A flow without a row onboards no provider.
CREATE TABLE push_onboardings (
    authorization_id    TEXT PRIMARY KEY REFERENCES authorizations(id) ON DELETE CASCADE,
    service             INTEGER,
    data_types_json     TEXT NOT NULL,
    organization_type   TEXT
);
