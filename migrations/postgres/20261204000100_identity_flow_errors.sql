-- Errors of failed browser flows (Kratos' errorx containers), read back by the error UI through
-- GET /self-service/errors?id=.
CREATE TABLE identity_flow_errors (
    id         TEXT PRIMARY KEY NOT NULL,
    error      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
