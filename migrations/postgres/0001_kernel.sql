-- Kernel tables shared by every role. Timestamps are Unix microseconds (BIGINT).
-- kernel_secrets: secrets Quartet generated itself (never ones from the config), shared by
-- every instance on this database so that they agree on keys without coordination.
CREATE TABLE kernel_secrets (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
