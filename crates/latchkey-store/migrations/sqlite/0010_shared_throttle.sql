-- Failed-login counters and per-address event windows, in the database so that every instance on it
-- counts the same attempts (issue 15). Keys are SHA-256 hashes of a kind and a value ("account"/name,
-- "address"/IP), so a row names no one and has one size whatever a client typed. Rows whose failures
-- and locks have expired are pruned.
CREATE TABLE login_throttle (
    key             BLOB PRIMARY KEY NOT NULL,
    failures        INTEGER NOT NULL,
    last_failure    INTEGER NOT NULL,
    locked_until    INTEGER,
    in_flight       INTEGER NOT NULL,
    in_flight_until INTEGER NOT NULL
);
CREATE INDEX login_throttle_last_failure ON login_throttle (last_failure);

-- Fixed windows of counted events per key (registrations per address and minute).
CREATE TABLE rate_windows (
    key          BLOB PRIMARY KEY NOT NULL,
    window_start INTEGER NOT NULL,
    events       INTEGER NOT NULL
);
CREATE INDEX rate_windows_window_start ON rate_windows (window_start);
