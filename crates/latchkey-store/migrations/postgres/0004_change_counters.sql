-- A counter that every change to clients or resources bumps, in the same transaction, so running
-- servers can cache both in memory and notice changes made by the CLI or by another instance.
CREATE TABLE change_counters (
    name    TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO change_counters (name, version) VALUES ('registry', 0);

CREATE FUNCTION latchkey_registry_changed() RETURNS trigger AS $$
BEGIN
    UPDATE change_counters SET version = version + 1 WHERE name = 'registry';
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_registry_changed();
CREATE TRIGGER resources_changed AFTER INSERT OR UPDATE OR DELETE ON resources
    FOR EACH STATEMENT EXECUTE FUNCTION latchkey_registry_changed();
