-- Clients (RFC 6749 §2) and signing keys. Secrets are stored only as SHA-256 hashes; private keys
-- only sealed under the operator's master key.
CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    auth_method   TEXT NOT NULL,
    secret_hash   BYTEA,
    grant_types   TEXT NOT NULL,
    scope         TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- `active` is 1 for the one key that signs new tokens and NULL otherwise; the UNIQUE constraint makes a
-- second active key impossible, even when two instances start or rotate at the same moment.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY NOT NULL,
    alg            TEXT NOT NULL,
    sealed_private BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    retired_at     BIGINT,
    active         SMALLINT UNIQUE CHECK (active = 1)
);
