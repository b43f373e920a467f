-- A client's revision: a new random value on every write of the row, so that a token insert
-- can check that the client it was issued for is still the one it was read as (see
-- `oauth2::client_cache`). Existing rows start at 0; a recreated client gets a new value.
ALTER TABLE oauth2_clients ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
