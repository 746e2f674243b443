-- Whose an opaque access token is, so deleting a user or a client can deny-list its outstanding opaque
-- tokens before the rows go (tokens issued before this migration have neither and are reached through
-- their grant, if any).
ALTER TABLE opaque_tokens ADD COLUMN client_id TEXT;
ALTER TABLE opaque_tokens ADD COLUMN sub TEXT;
CREATE INDEX opaque_tokens_client_id ON opaque_tokens (client_id);
CREATE INDEX opaque_tokens_sub ON opaque_tokens (sub);
