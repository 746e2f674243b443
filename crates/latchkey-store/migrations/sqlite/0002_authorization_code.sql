-- The authorization code flow: users, their sessions and consents, and grants with the codes and
-- refresh tokens issued from them. Passwords are stored as Argon2id hashes; sessions, codes and refresh
-- tokens only as SHA-256 hashes.
CREATE TABLE users (
    user_id       TEXT PRIMARY KEY NOT NULL,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT,
    name          TEXT,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    session_hash BLOB PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    auth_time    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

-- One row per user, client and resource ('' for none): the union of the scopes the user approved.
CREATE TABLE consents (
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    resource   TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id, resource)
);

-- A grant ties a code to every token issued from it, so that reuse revokes them all.
CREATE TABLE grants (
    grant_id   TEXT PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    resource   TEXT,
    auth_time  INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE authorization_codes (
    code_hash         BLOB PRIMARY KEY NOT NULL,
    grant_id          TEXT NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id         TEXT NOT NULL,
    redirect_uri      TEXT NOT NULL,
    redirect_uri_sent INTEGER NOT NULL,
    code_challenge    TEXT NOT NULL,
    expires_at        INTEGER NOT NULL,
    used_at           INTEGER
);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    grant_id   TEXT NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

CREATE INDEX authorization_codes_grant ON authorization_codes (grant_id);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX grants_user ON grants (user_id);
CREATE INDEX grants_client ON grants (client_id);
