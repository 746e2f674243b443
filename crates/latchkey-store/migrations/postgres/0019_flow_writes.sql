-- Nothing on PostgreSQL: the SQLite migration of this number lets each write of the authorization code
-- flow be one statement, since sqlx runs every SQLite statement on a thread of its own; a PostgreSQL
-- transaction is already one connection's round trips. Kept so both backends share version numbers.
SELECT 1;
