-- Bumped with every revocation, so running servers may remember which token ids were not revoked and
-- still learn of a revocation made elsewhere within their refresh interval.
INSERT INTO change_counters (name, version) VALUES ('revocations', 0);

CREATE TRIGGER revoked_tokens_inserted AFTER INSERT ON revoked_tokens
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'revocations'; END;
