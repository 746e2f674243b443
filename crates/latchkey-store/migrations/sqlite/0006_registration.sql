-- Dynamic client registration (RFC 7591/7592): the hash of a client's registration access token, when it
-- first obtained a token (clients that never do expire), and initial access tokens for closed registration.
ALTER TABLE clients ADD COLUMN registration_token_hash BLOB;
ALTER TABLE clients ADD COLUMN activated_at INTEGER;

CREATE TABLE initial_access_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
