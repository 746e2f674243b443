-- Token services: client policies, configured resources (RFC 8707), opaque access tokens, the access
-- tokens issued from grants (so revoking a grant reaches them), and the deny-list of revoked token ids.
ALTER TABLE clients ADD COLUMN introspect_any INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN access_token_format TEXT;
ALTER TABLE clients ADD COLUMN allowed_resources TEXT NOT NULL DEFAULT '[]';

CREATE TABLE resources (
    uri              TEXT PRIMARY KEY NOT NULL,
    scopes           TEXT NOT NULL,
    token_format     TEXT,
    access_token_ttl INTEGER,
    created_at       INTEGER NOT NULL
);

CREATE TABLE issued_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    grant_id   TEXT NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
CREATE INDEX issued_tokens_grant ON issued_tokens (grant_id);

-- Opaque access tokens: only the hash of the token, and the claims it stands for (JSON).
CREATE TABLE opaque_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    jti        TEXT NOT NULL,
    claims     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Revoked access tokens by jti, kept until they would have expired anyway.
CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
