-- Expired grants (with their codes and refresh tokens, by cascade), expired refresh tokens and expired
-- initial access tokens are pruned in bounded batches; these indexes find a batch without a scan.
CREATE INDEX grants_expires_at ON grants (expires_at);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX initial_access_tokens_expires_at ON initial_access_tokens (expires_at);
