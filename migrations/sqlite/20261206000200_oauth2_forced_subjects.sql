-- Hydra's obfuscated authentication sessions: the `force_subject_identifier` a login accepted for
-- a client, kept per (client, subject) so that a later `id_token_hint` naming it matches the
-- login session. Deleted with the client.
CREATE TABLE oauth2_forced_subjects (
    client_id  TEXT NOT NULL,
    subject    TEXT NOT NULL,
    obfuscated TEXT NOT NULL,
    PRIMARY KEY (client_id, subject)
);
