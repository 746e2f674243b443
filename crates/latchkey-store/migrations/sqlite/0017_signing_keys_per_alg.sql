-- One current key per algorithm: ID tokens are signed with the algorithm each client registered, and a
-- JWK names exactly one `alg`. `active` still marks the one key that signs access tokens.
CREATE UNIQUE INDEX signing_keys_current_alg ON signing_keys (alg) WHERE retired_at IS NULL;
