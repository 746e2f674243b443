-- OpenID Connect: a client's OpenID metadata (JSON; NULL for the defaults), the public id of a browser
-- session (the ID token's `sid`, for RP-initiated logout), the session and the `claims` request a
-- grant was made with, and the `nonce` a code's ID token echoes.
ALTER TABLE clients ADD COLUMN openid TEXT;
ALTER TABLE sessions ADD COLUMN sid TEXT;
CREATE UNIQUE INDEX sessions_sid ON sessions (sid);
ALTER TABLE grants ADD COLUMN sid TEXT;
ALTER TABLE grants ADD COLUMN claims TEXT;
CREATE INDEX grants_sid ON grants (sid);
ALTER TABLE authorization_codes ADD COLUMN nonce TEXT;
