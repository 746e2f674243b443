-- Clients described by Client ID Metadata Documents are marked, so they are kept apart from the
-- clients the operator or registration created: ignored when the feature is off, never overwriting an
-- operator's client, pruned when no grant or consent refers to them, and not counted as registry
-- changes (each instance caches them by the document's own cache lifetime instead). For them
-- `created_at` is when the document was last fetched.
ALTER TABLE clients ADD COLUMN document SMALLINT NOT NULL DEFAULT 0;

-- Row triggers, so a document client's row can be told apart; a WHEN clause may name NEW only on
-- insert and OLD only on delete, hence three.
DROP TRIGGER clients_changed ON clients;
CREATE TRIGGER clients_inserted AFTER INSERT ON clients
    FOR EACH ROW WHEN (NEW.document = 0) EXECUTE FUNCTION latchkey_registry_changed();
CREATE TRIGGER clients_updated AFTER UPDATE ON clients
    FOR EACH ROW WHEN (NEW.document = 0 OR OLD.document = 0) EXECUTE FUNCTION latchkey_registry_changed();
CREATE TRIGGER clients_deleted AFTER DELETE ON clients
    FOR EACH ROW WHEN (OLD.document = 0) EXECUTE FUNCTION latchkey_registry_changed();
