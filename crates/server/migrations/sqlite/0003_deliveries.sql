-- The outbox of provider pushes. A row is written, with its body sealed, before the first
-- attempt, so that an accepted push survives a crash and every retry reuses the same
-- idempotency identifier (the row id). A node claims a row by setting lease_owner and
-- lease_until_ms; another node takes it only once the lease has run out.
CREATE TABLE deliveries (
    id                 TEXT PRIMARY KEY,
    library_id         TEXT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    account_id         TEXT NOT NULL,
    app_id             TEXT NOT NULL,
    contract_id        TEXT NOT NULL,
    -- Resource type posted to [base]/[type], or empty for a Bundle posted to [base].
    resource_type      TEXT NOT NULL,
    -- If-None-Exist search sent with a single resource; NULL for a Bundle.
    if_none_exist      TEXT,
    state              TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL,
    last_error         TEXT,
    -- The prepared FHIR JSON sealed with the master key named by key_id. Cleared once
    -- delivered; kept on failure so that an operator can still recover it.
    key_id             TEXT NOT NULL,
    sealed_body        BLOB,
    provider_status    INTEGER,
    provider_location  TEXT,
    created_ms         INTEGER NOT NULL,
    updated_ms         INTEGER NOT NULL,
    next_attempt_ms    INTEGER NOT NULL,
    -- After this time a failed attempt marks the delivery failed instead of scheduling another.
    give_up_ms         INTEGER NOT NULL,
    lease_owner        TEXT,
    lease_until_ms     INTEGER
);
CREATE INDEX deliveries_due ON deliveries(state, next_attempt_ms);
CREATE INDEX deliveries_library ON deliveries(library_id);

-- What the built-in sandbox provider received, by resource type and id. This is test data
-- sent by the operator's own apps, so it is stored as plain JSON, not sealed.
CREATE TABLE sandbox_resources (
    resource_type  TEXT NOT NULL,
    id             TEXT NOT NULL,
    json           TEXT NOT NULL,
    created_ms     INTEGER NOT NULL,
    PRIMARY KEY (resource_type, id)
);
