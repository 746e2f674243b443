-- Clients described by Client ID Metadata Documents are marked, so they are kept apart from the
-- clients the operator or registration created: ignored when the feature is off, never overwriting an
-- operator's client, pruned when no grant or consent refers to them, and not counted as registry
-- changes (each instance caches them by the document's own cache lifetime instead). For them
-- `created_at` is when the document was last fetched.
ALTER TABLE clients ADD COLUMN document INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER clients_inserted;
DROP TRIGGER clients_updated;
DROP TRIGGER clients_deleted;
CREATE TRIGGER clients_inserted AFTER INSERT ON clients WHEN NEW.document = 0
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER clients_updated AFTER UPDATE ON clients WHEN NEW.document = 0 OR OLD.document = 0
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
CREATE TRIGGER clients_deleted AFTER DELETE ON clients WHEN OLD.document = 0
BEGIN UPDATE change_counters SET version = version + 1 WHERE name = 'registry'; END;
