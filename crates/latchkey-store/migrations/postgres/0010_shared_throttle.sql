-- Failed-login counters and per-address event windows, in the database so that every instance on it
-- counts the same attempts (issue 15). Keys are SHA-256 hashes of a kind and a value ("account"/name,
-- "address"/IP), so a row names no one and has one size whatever a client typed. Rows whose failures
-- and locks have expired are pruned.
CREATE TABLE login_throttle (
    key             BYTEA PRIMARY KEY NOT NULL,
    failures        BIGINT NOT NULL,
    last_failure    BIGINT NOT NULL,
    locked_until    BIGINT,
    in_flight       BIGINT NOT NULL,
    in_flight_until BIGINT NOT NULL
);
CREATE INDEX login_throttle_last_failure ON login_throttle (last_failure);

-- Fixed windows of counted events per key (registrations per address and minute).
CREATE TABLE rate_windows (
    key          BYTEA PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    events       BIGINT NOT NULL
);
CREATE INDEX rate_windows_window_start ON rate_windows (window_start);
