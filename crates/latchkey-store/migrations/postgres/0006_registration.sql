-- Dynamic client registration (RFC 7591/7592): the hash of a client's registration access token, when it
-- first obtained a token (clients that never do expire), and initial access tokens for closed registration.
ALTER TABLE clients ADD COLUMN registration_token_hash BYTEA;
ALTER TABLE clients ADD COLUMN activated_at BIGINT;

CREATE TABLE initial_access_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
