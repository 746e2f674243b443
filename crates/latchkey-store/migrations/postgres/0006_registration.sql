-- Dynamic client registration (RFC 7591/7592) and private_key_jwt (RFC 7523): the client's public keys,
-- the hash of its registration access token, when it
-- first obtained a token (clients that never do expire), and initial access tokens for closed registration.
ALTER TABLE clients ADD COLUMN registration_token_hash BYTEA;
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN activated_at BIGINT;

CREATE TABLE initial_access_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- RFC 7523 §3: an assertion's jti is never accepted twice; kept until the assertion expires.
CREATE TABLE used_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
