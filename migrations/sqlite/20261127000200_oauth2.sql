-- oauth2 role (Hydra v2.2). Timestamps are Unix microseconds; JSON documents are TEXT.
CREATE TABLE oauth2_clients (
    id          TEXT PRIMARY KEY NOT NULL,
    client_name TEXT NOT NULL,
    owner       TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    registration_key TEXT NOT NULL,
    doc         TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX oauth2_clients_order ON oauth2_clients (created_at, id);

-- JSON Web Keys; private parts sealed with secrets.system. seq orders keys (newest signs).
CREATE TABLE oauth2_jwks (
    set_id     TEXT NOT NULL,
    kid        TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    sealed     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (set_id, kid)
);

-- Access, refresh tokens and authorization codes, keyed by a hash of their signature.
-- request_id groups every token of one grant (revocation of the chain).
CREATE TABLE oauth2_tokens (
    signature    TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    active       BIGINT NOT NULL,
    requested_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    session      TEXT NOT NULL
);
CREATE INDEX oauth2_tokens_request ON oauth2_tokens (request_id);
CREATE INDEX oauth2_tokens_client ON oauth2_tokens (client_id, kind);

-- Login, consent and logout challenges (the flow state machine's persisted state).
CREATE TABLE oauth2_flows (
    challenge    TEXT PRIMARY KEY NOT NULL,
    kind         TEXT NOT NULL,
    verifier     TEXT NOT NULL,
    state        TEXT NOT NULL,
    client_id    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    doc          TEXT NOT NULL
);
CREATE UNIQUE INDEX oauth2_flows_verifier ON oauth2_flows (verifier);

-- Remembered login sessions (cookie ory_hydra_session holds the id).
CREATE TABLE oauth2_login_sessions (
    id               TEXT PRIMARY KEY NOT NULL,
    subject          TEXT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    remember         BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    doc              TEXT NOT NULL
);
CREATE INDEX oauth2_login_sessions_subject ON oauth2_login_sessions (subject);

-- Granted consents (one per redeemed consent challenge).
CREATE TABLE oauth2_consents (
    challenge        TEXT PRIMARY KEY NOT NULL,
    subject          TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    login_session_id TEXT NOT NULL,
    remember         BIGINT NOT NULL,
    revoked          BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    handled_at       BIGINT NOT NULL,
    doc              TEXT NOT NULL
);
CREATE INDEX oauth2_consents_subject ON oauth2_consents (subject, client_id);

-- Seen JWT ids (private_key_jwt and jwt-bearer assertions), until they expire.
CREATE TABLE oauth2_jtis (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
