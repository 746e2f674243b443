-- Each write of the authorization code flow as one statement. sqlx runs every SQLite statement on the
-- connection's own thread, a round trip of two context switches each way, so a BEGIN, two INSERTs and a
-- COMMIT cost four. An INSERT into one of these views does both inserts in its INSTEAD OF trigger: one
-- round trip, and still atomic (a statement and the triggers it fires succeed or fail together).

-- A grant and its authorization code.
CREATE VIEW grant_codes AS
SELECT g.grant_id, g.client_id, g.user_id, g.scope, g.resource, g.auth_time, g.created_at,
       g.expires_at, g.sid, g.claims, c.code_hash, c.client_id AS code_client_id, c.redirect_uri,
       c.redirect_uri_sent, c.code_challenge, c.expires_at AS code_expires_at, c.nonce
FROM grants g JOIN authorization_codes c ON c.grant_id = g.grant_id;

CREATE TRIGGER grant_codes_insert INSTEAD OF INSERT ON grant_codes
BEGIN
    INSERT INTO grants (grant_id, client_id, user_id, scope, resource, auth_time, created_at,
                        expires_at, revoked_at, sid, claims)
    VALUES (NEW.grant_id, NEW.client_id, NEW.user_id, NEW.scope, NEW.resource, NEW.auth_time,
            NEW.created_at, NEW.expires_at, NULL, NEW.sid, NEW.claims);
    INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, redirect_uri_sent,
                                     code_challenge, expires_at, used_at, nonce)
    VALUES (NEW.code_hash, NEW.grant_id, NEW.code_client_id, NEW.redirect_uri, NEW.redirect_uri_sent,
            NEW.code_challenge, NEW.code_expires_at, NULL, NEW.nonce);
END;

-- An access token issued from a grant, and the refresh token issued with it (when there is one).
CREATE VIEW issued_refresh AS
SELECT t.jti, t.grant_id, t.expires_at, r.token_hash, r.grant_id AS refresh_grant_id,
       r.client_id AS refresh_client_id, r.created_at AS refresh_created_at,
       r.expires_at AS refresh_expires_at
FROM issued_tokens t LEFT JOIN refresh_tokens r ON r.grant_id = t.grant_id;

-- The access token is recorded only while its grant is live (L3): a grant revoked before this statement
-- aborts it, and no revocation can run during it (SQLite has one writer, and a statement and its
-- triggers are atomic).
CREATE TRIGGER issued_refresh_insert INSTEAD OF INSERT ON issued_refresh
BEGIN
    SELECT RAISE(ABORT, 'latchkey: grant not live')
    WHERE NOT EXISTS (SELECT 1 FROM grants WHERE grant_id = NEW.grant_id AND revoked_at IS NULL);
    INSERT INTO issued_tokens (jti, grant_id, expires_at)
    VALUES (NEW.jti, NEW.grant_id, NEW.expires_at);
    INSERT INTO refresh_tokens (token_hash, grant_id, client_id, created_at, expires_at, used_at)
    SELECT NEW.token_hash, NEW.refresh_grant_id, NEW.refresh_client_id, NEW.refresh_created_at,
           NEW.refresh_expires_at, NULL
    WHERE NEW.token_hash IS NOT NULL;
END;
