-- oauth2 role: trusted issuers of RFC 7523 jwt-bearer assertions. The public key lives in
-- oauth2_jwks under the set named after the issuer (as Hydra); scope is a JSON array.
CREATE TABLE oauth2_trust_grants (
    id                TEXT PRIMARY KEY NOT NULL,
    issuer            TEXT NOT NULL,
    subject           TEXT NOT NULL,
    allow_any_subject BIGINT NOT NULL,
    scope             TEXT NOT NULL,
    key_set           TEXT NOT NULL,
    key_id            TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX oauth2_trust_grants_issuer_subject_key ON oauth2_trust_grants (issuer, subject, key_id);
CREATE INDEX oauth2_trust_grants_order ON oauth2_trust_grants (created_at, id);
