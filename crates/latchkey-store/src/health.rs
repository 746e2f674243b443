//! `HealthStore` on both backends: a trivial query, and the change counters caches watch.

pub(crate) const PING: &str = "SELECT 1";
pub(crate) const SELECT_VERSIONS: &str = "SELECT name, version FROM change_counters";

/// Implements `HealthStore` for a backend struct (see `exec.rs`).
macro_rules! impl_health_traits {
    ($store:ty, $db:ty) => {
        use sqlx::Row as _;

        use crate::error::Result;
        use crate::health as q;
        use crate::{HealthStore, Versions};

        impl HealthStore for $store {
            async fn ping(&self) -> Result<()> {
                sqlx::query(q::PING).execute(&self.pool).await?;
                Ok(())
            }

            async fn versions(&self) -> Result<Versions> {
                let rows = sqlx::query(q::SELECT_VERSIONS)
                    .fetch_all(&self.pool)
                    .await?;
                let mut versions = Versions::default();
                for row in rows {
                    let name: String = row.try_get("name")?;
                    let version: i64 = row.try_get("version")?;
                    match name.as_str() {
                        "registry" => versions.registry = version,
                        "revocations" => versions.revocations = version,
                        _ => {}
                    }
                }
                Ok(versions)
            }
        }
    };
}

pub(crate) use impl_health_traits;
