//! The schema: this build's migrations, embedded from `migrations/{sqlite,postgres}/`, and how a
//! database stands against them (`connect`, `open`, `migrate`, `schema`, `check_schema`).
//!
//! Both folders hold the same versions under the same names, and `MIGRATIONS` lists them once for
//! both; a test compares that list, and every embedded text, with the files. `migrations/README.md`
//! says why 0011–0014 are missing and why a migration that reached main is never edited.
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::{ConnectOptions, PgStore, SqliteStore, Store, StoreError};

/// One migration of this build, from both folders.
struct Embedded {
    /// `NNNN_description`: the file name without `.sql`, the same in both folders.
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Embeds the migrations named from both folders.
macro_rules! embed_migrations {
    ($($name:literal,)*) => {
        &[$(Embedded {
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $name, ".sql")),
        },)*]
    };
}

/// Every migration of this build, oldest first.
const MIGRATIONS: &[Embedded] = embed_migrations![
    "0001_init",
    "0002_authorization_code",
    "0003_token_services",
    "0004_change_counters",
    "0005_revocation_counter",
    "0006_registration",
    "0007_document_clients",
    "0008_opaque_token_owners",
    "0009_prune_indexes",
    "0010_shared_throttle",
    "0015_user_attributes",
    "0016_openid",
    "0017_signing_keys_per_alg",
    "0018_audit",
    "0019_flow_writes",
];

/// Which folder of migrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Embedded {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// A backend's migrations as sqlx runs them; the version and description come from the name, as
/// `sqlx::migrate!` would read them from the file name.
fn migrator(backend: Backend) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|migration| {
                let (version, description) = split_name(migration.name);
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    migration.sql(backend).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// `0019_flow_writes` → `(19, "flow_writes")`.
fn split_name(name: &'static str) -> (i64, &'static str) {
    let (version, description) = name
        .split_once('_')
        .expect("a migration is named NNNN_description");
    let version = version
        .parse()
        .expect("a migration's name starts with its version");
    (version, description)
}

const SQLITE_HAS_MIGRATIONS: &str =
    "SELECT 1 AS one FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";
const POSTGRES_HAS_MIGRATIONS: &str = "SELECT 1 AS one FROM pg_catalog.pg_tables \
    WHERE tablename = '_sqlx_migrations' AND schemaname = current_schema()";
const APPLIED_MIGRATIONS: &str =
    "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version";

/// The `(version, checksum)` of every successfully applied migration on `$pool`; none when sqlx's table
/// is missing. A macro: one body for two pool types, without sqlx's generic executor bounds.
macro_rules! applied_migrations {
    ($pool:expr, $has_table:expr) => {{
        use sqlx::Row as _;
        let pool = $pool;
        if sqlx::query($has_table)
            .fetch_optional(pool)
            .await?
            .is_none()
        {
            Vec::new()
        } else {
            sqlx::query(APPLIED_MIGRATIONS)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| Ok((row.try_get("version")?, row.try_get("checksum")?)))
                .collect::<Result<Vec<(i64, Vec<u8>)>, StoreError>>()?
        }
    }};
}

/// Where a database's schema stands against this build's migrations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Migrations this build has and the database lacks, as `NNNN_name`.
    pub pending: Vec<String>,
    /// Versions applied to the database that this build does not have.
    pub unknown: Vec<i64>,
    /// Versions applied with different contents than this build's.
    pub modified: Vec<i64>,
}

fn join_versions(versions: &[i64]) -> String {
    versions
        .iter()
        .map(|v| format!("{v:04}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Opens the database named by `url` with default pool settings and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let store = Store::open(url, &ConnectOptions::default()).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database named by `url` without touching its schema.
    ///
    /// `postgres://` and `postgresql://` URLs select PostgreSQL; `sqlite:` URLs and plain file paths select
    /// SQLite (the file is created if missing).
    pub async fn open(url: &str, options: &ConnectOptions) -> Result<Store, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(PgStore::open(url, options).await?))
        } else if url.starts_with("sqlite:") || !url.contains("://") {
            Ok(Store::Sqlite(SqliteStore::open(url, options).await?))
        } else {
            Err(StoreError::UnsupportedUrl(format!(
                "unsupported database URL scheme in `{}` (expected sqlite:PATH or postgres://...)",
                url.split("://").next().unwrap_or(url)
            )))
        }
    }

    /// Applies the migrations the database lacks (on PostgreSQL under an advisory lock, so instances
    /// starting together migrate once); returns how many were pending when it looked.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let pending = self.schema().await?.pending.len();
        match self {
            Store::Sqlite(s) => migrator(Backend::Sqlite).run(s.write_pool()).await?,
            Store::Postgres(p) => migrator(Backend::Postgres).run(p.pool()).await?,
        }
        Ok(pending)
    }

    /// Where the database's schema stands against this build's migrations.
    pub async fn schema(&self) -> Result<SchemaStatus, StoreError> {
        let (migrator, applied) = match self {
            Store::Sqlite(s) => (
                migrator(Backend::Sqlite),
                applied_migrations!(s.write_pool(), SQLITE_HAS_MIGRATIONS),
            ),
            Store::Postgres(p) => (
                migrator(Backend::Postgres),
                applied_migrations!(p.pool(), POSTGRES_HAS_MIGRATIONS),
            ),
        };
        let mut status = SchemaStatus::default();
        for migration in migrator.iter() {
            match applied.iter().find(|(v, _)| *v == migration.version) {
                None => status.pending.push(format!(
                    "{:04}_{}",
                    migration.version, migration.description
                )),
                Some((_, checksum)) if *checksum != *migration.checksum => {
                    status.modified.push(migration.version);
                }
                Some(_) => {}
            }
        }
        status.unknown = applied
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| !migrator.version_exists(*v))
            .collect();
        Ok(status)
    }

    /// Refuses a database whose schema is not exactly this build's, with a message saying what to do.
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        let status = self.schema().await?;
        if !status.pending.is_empty() {
            return Err(StoreError::Schema(format!(
                "the database is behind this build: {} migration(s) not applied ({}); run `latchkey migrate` first",
                status.pending.len(),
                status.pending.join(", ")
            )));
        }
        if !status.unknown.is_empty() {
            return Err(StoreError::Schema(format!(
                "the database has migrations this build does not know ({}): it was migrated by a newer Latchkey",
                join_versions(&status.unknown)
            )));
        }
        if !status.modified.is_empty() {
            return Err(StoreError::Schema(format!(
                "migrations {} were changed after they were applied",
                join_versions(&status.modified)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::{Backend, MIGRATIONS, migrator};

    /// The first 8 bytes of each migration's checksum (SHA-384, as sqlx stores it), SQLite's then
    /// PostgreSQL's, as they reached main.
    const ON_MAIN: [(&str, &str, &str); 15] = [
        ("0001_init", "9cad4ea7c0fe7c02", "42e96ee93e1d59c0"),
        (
            "0002_authorization_code",
            "7d2e4185c23b2870",
            "fe732c3757dd07f5",
        ),
        (
            "0003_token_services",
            "4761ab5262d906ed",
            "f5667b8ce195f0d5",
        ),
        (
            "0004_change_counters",
            "af8bb531a98d8dde",
            "0a956fd4b35428af",
        ),
        (
            "0005_revocation_counter",
            "ffbd1f91b0514dcf",
            "534bbb71d32166c3",
        ),
        ("0006_registration", "f326f8c646059b46", "5e0f10f6ad6b2e79"),
        (
            "0007_document_clients",
            "04cee67148cb9c96",
            "8522e325f807e611",
        ),
        (
            "0008_opaque_token_owners",
            "c0fc394f3f83d1a8",
            "c0fc394f3f83d1a8",
        ),
        ("0009_prune_indexes", "e940765803dbe02d", "e940765803dbe02d"),
        (
            "0010_shared_throttle",
            "f2dd3c30781d2b7b",
            "cb84a1db0eb28dcf",
        ),
        (
            "0015_user_attributes",
            "29260c5e3cb960b7",
            "3e30e0d4ceaada0b",
        ),
        ("0016_openid", "6181493ee72f0ef7", "6181493ee72f0ef7"),
        (
            "0017_signing_keys_per_alg",
            "4655dda1a2446148",
            "4655dda1a2446148",
        ),
        ("0018_audit", "eb4fef2611e3452b", "a490e8006332aeb0"),
        ("0019_flow_writes", "0d367355bfa2d650", "4ee5aea4dbd5fb11"),
    ];

    /// The names of the `.sql` files in `migrations/<folder>/`, without `.sql`.
    fn files(folder: &str) -> BTreeSet<String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(folder);
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "sql"))
            .map(|path| path.file_stem().unwrap().to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_file_of_both_migration_folders_is_embedded_and_nothing_else() {
        let listed: BTreeSet<String> = MIGRATIONS.iter().map(|m| m.name.to_owned()).collect();
        assert_eq!(listed.len(), MIGRATIONS.len(), "a name listed twice");
        for folder in ["sqlite", "postgres"] {
            assert_eq!(
                files(folder),
                listed,
                "migrations/{folder}/ against MIGRATIONS"
            );
        }
    }

    #[test]
    fn versions_and_descriptions_are_read_from_the_file_names_in_increasing_order() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let read: Vec<String> = migrator(backend)
                .iter()
                .map(|m| format!("{:04}_{}", m.version, m.description))
                .collect();
            let names: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
            assert_eq!(read, names, "{backend:?}");
            let versions: Vec<i64> = migrator(backend).iter().map(|m| m.version).collect();
            assert!(versions.is_sorted_by(|a, b| a < b), "{versions:?}");
        }
    }

    /// `Store::check_schema` refuses a database whose applied migration changed, so editing one that
    /// reached main locks out every database migrated since: change the schema in a new migration.
    #[test]
    fn no_migration_that_reached_main_was_edited() {
        let short = |checksum: &[u8]| -> String {
            checksum[..8].iter().map(|b| format!("{b:02x}")).collect()
        };
        let sqlite = migrator(Backend::Sqlite);
        let postgres = migrator(Backend::Postgres);
        for (name, on_sqlite, on_postgres) in ON_MAIN {
            let version: i64 = name[..4].parse().unwrap();
            for (migrator, pinned) in [(&sqlite, on_sqlite), (&postgres, on_postgres)] {
                let migration = migrator
                    .iter()
                    .find(|m| m.version == version)
                    .unwrap_or_else(|| panic!("{name} was removed"));
                assert_eq!(short(&migration.checksum), pinned, "{name} was edited");
            }
        }
    }
}
