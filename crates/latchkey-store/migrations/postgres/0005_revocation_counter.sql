-- Bumped with every revocation, so running servers may remember which token ids were not revoked and
-- still learn of a revocation made elsewhere within their refresh interval.
INSERT INTO change_counters (name, version) VALUES ('revocations', 0);

CREATE FUNCTION latchkey_revocations_changed() RETURNS trigger AS $$
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = 'revocations';
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER revoked_tokens_changed AFTER INSERT ON revoked_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_revocations_changed();
