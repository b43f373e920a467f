-- Identity role (Kratos). Timestamps are Unix microseconds; ids are UUID text; booleans 0/1.
-- identity_identities also keeps the identity's addresses as JSON (denormalized, written in the
-- same transaction as identity_*_addresses) so that whoami is one indexed lookup.
CREATE TABLE identity_identities (
    id                   TEXT PRIMARY KEY NOT NULL,
    schema_id            TEXT NOT NULL,
    state                TEXT NOT NULL,
    state_changed_at     BIGINT,
    traits               TEXT NOT NULL,
    metadata_public      TEXT,
    metadata_admin       TEXT,
    verifiable_addresses TEXT NOT NULL,
    recovery_addresses   TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

CREATE TABLE identity_credentials (
    id          TEXT PRIMARY KEY NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identity_identities(id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    config      TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT identity_credentials_type_uq UNIQUE (identity_id, type)
);

-- One row per login identifier; the primary key makes identifiers unique per credential type.
CREATE TABLE identity_credential_identifiers (
    type          TEXT NOT NULL,
    identifier    TEXT NOT NULL,
    identity_id   TEXT NOT NULL REFERENCES identity_identities(id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL REFERENCES identity_credentials(id) ON DELETE CASCADE,
    PRIMARY KEY (type, identifier)
);
CREATE INDEX identity_credential_identifiers_identity_idx ON identity_credential_identifiers (identity_id);

CREATE TABLE identity_verifiable_addresses (
    id          TEXT PRIMARY KEY NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identity_identities(id) ON DELETE CASCADE,
    via         TEXT NOT NULL,
    value       TEXT NOT NULL,
    CONSTRAINT identity_verifiable_addresses_uq UNIQUE (via, value)
);
CREATE INDEX identity_verifiable_addresses_identity_idx ON identity_verifiable_addresses (identity_id);

CREATE TABLE identity_recovery_addresses (
    id          TEXT PRIMARY KEY NOT NULL,
    identity_id TEXT NOT NULL REFERENCES identity_identities(id) ON DELETE CASCADE,
    via         TEXT NOT NULL,
    value       TEXT NOT NULL,
    CONSTRAINT identity_recovery_addresses_uq UNIQUE (via, value)
);
CREATE INDEX identity_recovery_addresses_identity_idx ON identity_recovery_addresses (identity_id);

-- Sessions: token_hash = hex(sha256(session token)); the token itself is never stored.
CREATE TABLE identity_sessions (
    id               TEXT PRIMARY KEY NOT NULL,
    identity_id      TEXT NOT NULL REFERENCES identity_identities(id) ON DELETE CASCADE,
    token_hash       TEXT NOT NULL UNIQUE,
    logout_token     TEXT NOT NULL UNIQUE,
    active           BIGINT NOT NULL,
    aal              TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    issued_at        BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    methods          TEXT NOT NULL,
    devices          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX identity_sessions_identity_idx ON identity_sessions (identity_id, created_at);

-- Self-service flows of every kind (login, registration, settings, ...): one table, `kind` column.
CREATE TABLE identity_flows (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    type          TEXT NOT NULL,
    state         TEXT NOT NULL,
    csrf_token    TEXT NOT NULL,
    return_to     TEXT,
    request_url   TEXT NOT NULL,
    ui            TEXT NOT NULL,
    identity_id   TEXT,
    session_id    TEXT,
    refresh       BIGINT NOT NULL,
    requested_aal TEXT NOT NULL,
    active        TEXT,
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Failed-login counters for brute-force protection (key = "id:<identifier>" or "ip:<address>").
CREATE TABLE identity_login_throttle (
    key          TEXT PRIMARY KEY NOT NULL,
    failures     BIGINT NOT NULL,
    last_failure BIGINT NOT NULL
);
