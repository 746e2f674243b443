-- The audit trail: security-relevant events (sign-ins, consents, client and key changes, revoked
-- grants, token exchanges). No foreign keys: a record outlives the client or user it names. Never a
-- secret or a token; `reason` is a sentence for people.
CREATE TABLE audit_events (
    event_id  TEXT PRIMARY KEY NOT NULL,
    at_ms     INTEGER NOT NULL,
    event     TEXT NOT NULL,
    actor     TEXT NOT NULL,
    client_id TEXT,
    subject   TEXT,
    address   TEXT,
    outcome   TEXT NOT NULL,
    reason    TEXT
);

CREATE INDEX audit_events_time ON audit_events (at_ms);
CREATE INDEX audit_events_client ON audit_events (client_id, at_ms);
CREATE INDEX audit_events_subject ON audit_events (subject, at_ms);
