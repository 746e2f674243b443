-- OpenID Connect standard claims (Core §5.1) beyond name and e-mail, as one JSON object, and when any
-- of a user's claims last changed (the `updated_at` claim).
ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';
ALTER TABLE users ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
UPDATE users SET updated_at = created_at;
