-- A counter that every change to clients or resources bumps, in the same transaction, so running
-- servers can cache both in memory and notice changes made by the CLI or by another instance.
CREATE TABLE change_counters (
    name    TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL
);
INSERT INTO change_counters (name, version) VALUES ('registry', 0);

CREATE TRIGGER clients_inserted AFTER INSERT ON clients
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER clients_updated AFTER UPDATE ON clients
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER clients_deleted AFTER DELETE ON clients
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER resources_inserted AFTER INSERT ON resources
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER resources_updated AFTER UPDATE ON resources
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER resources_deleted AFTER DELETE ON resources
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
