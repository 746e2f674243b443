//! `latchkey store copy`: everything an SQLite database holds, copied into a PostgreSQL database in one
//! transaction, for a deployment that outgrows one machine.
//!
//! The tables and their column types are read from the target's catalog rather than listed here, so a
//! table a later migration adds is copied without a change to this file; both databases must be at this
//! build's schema, which makes their tables the same.
use std::collections::{BTreeMap, BTreeSet};

use sqlx::postgres::Postgres;
use sqlx::{AssertSqlSafe, QueryBuilder, Row as _};

use crate::{PgStore, SqliteStore, StoreError};

/// Maintained by triggers as rows change; copying rows bumps them on the target by itself.
const DERIVED_TABLES: [&str; 1] = ["change_counters"];
/// Rows per `INSERT`: well below PostgreSQL's 65535 bind parameters for any table here.
const ROWS_PER_INSERT: usize = 200;

/// How many rows each table received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Table name to rows copied, every copied table listed.
    pub tables: BTreeMap<String, u64>,
}

/// One column of the target, with the PostgreSQL type that decides how a value is read and bound.
struct Column {
    name: String,
    data_type: String,
}

/// A value read from SQLite, typed for the PostgreSQL column it goes to.
enum Value {
    Int(Option<i64>),
    Int4(Option<i32>),
    Int2(Option<i16>),
    Bool(Option<bool>),
    Float(Option<f64>),
    Text(Option<String>),
    Json(Option<String>),
    Bytes(Option<Vec<u8>>),
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn schema_error(message: String) -> StoreError {
    StoreError::Schema(message)
}

/// Copies every row of `from` into `to` in one transaction on `to`. `to` must be migrated and, unless
/// `force`, empty; with `force` its rows are deleted first, in the same transaction.
pub(crate) async fn copy(
    from: &SqliteStore,
    to: &PgStore,
    force: bool,
) -> Result<CopyReport, StoreError> {
    let target = to.pool();
    let tables = target_tables(to).await?;
    let source_tables: BTreeSet<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(from.write_pool())
    .await?
    .iter()
    .map(|row| row.try_get::<String, _>("name"))
    .collect::<Result<_, _>>()?;
    let target_names: BTreeSet<&str> = tables.iter().map(|(t, _)| t.as_str()).collect();
    if let Some(missing) = source_tables
        .iter()
        .find(|t| !target_names.contains(t.as_str()) && !DERIVED_TABLES.contains(&t.as_str()))
    {
        return Err(schema_error(format!(
            "the source has a table `{missing}` the target lacks; both must be at this build's schema"
        )));
    }

    let mut tx = target.begin().await?;
    let mut occupied = Vec::new();
    for (table, _) in &tables {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT count(*) AS n FROM {}",
            quote(table)
        )))
        .fetch_one(&mut *tx)
        .await?;
        let n: i64 = row.try_get("n")?;
        if n > 0 {
            occupied.push(format!("{table}: {n}"));
        }
    }
    if !occupied.is_empty() {
        if !force {
            return Err(StoreError::Conflict(format!(
                "the target database is not empty ({}); pass --force to replace its contents",
                occupied.join(", ")
            )));
        }
        // Children before parents, so no foreign key is ever left dangling mid-way.
        for (table, _) in tables.iter().rev() {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {}", quote(table))))
                .execute(&mut *tx)
                .await?;
        }
    }

    let mut report = CopyReport::default();
    for (table, columns) in &tables {
        let copied = if source_tables.contains(table) {
            copy_table(from, &mut tx, table, columns).await?
        } else {
            0
        };
        report.tables.insert(table.clone(), copied);
    }
    tx.commit().await?;
    Ok(report)
}

/// The target's tables, parents before children, each with its columns in order.
async fn target_tables(to: &PgStore) -> Result<Vec<(String, Vec<Column>)>, StoreError> {
    let pool = to.pool();
    let names: Vec<String> = sqlx::query(
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations' ORDER BY table_name",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| row.try_get("name"))
    .collect::<Result<_, _>>()?;
    let edges: Vec<(String, String)> = sqlx::query(
        "SELECT child.relname::text AS child, parent.relname::text AS parent \
         FROM pg_catalog.pg_constraint c \
         JOIN pg_catalog.pg_class child ON child.oid = c.conrelid \
         JOIN pg_catalog.pg_class parent ON parent.oid = c.confrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = child.relnamespace \
         WHERE c.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| Ok((row.try_get("child")?, row.try_get("parent")?)))
    .collect::<Result<_, StoreError>>()?;

    // Kahn's algorithm over the foreign keys; ties broken by name so the order is stable.
    let mut ordered = Vec::new();
    let mut remaining: BTreeSet<String> = names
        .into_iter()
        .filter(|n| !DERIVED_TABLES.contains(&n.as_str()))
        .collect();
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .find(|t| {
                !edges.iter().any(|(child, parent)| {
                    child == *t && parent != *t && remaining.contains(parent)
                })
            })
            .cloned()
            .ok_or_else(|| schema_error("the foreign keys between tables form a cycle".into()))?;
        remaining.remove(&ready);
        ordered.push(ready);
    }

    let mut tables = Vec::new();
    for table in ordered {
        let columns = sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS data_type \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&table)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Column {
                name: row.try_get("name")?,
                data_type: row.try_get("data_type")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        tables.push((table, columns));
    }
    Ok(tables)
}

async fn copy_table(
    from: &SqliteStore,
    tx: &mut sqlx::Transaction<'static, Postgres>,
    table: &str,
    columns: &[Column],
) -> Result<u64, StoreError> {
    let list = columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {list} FROM {}",
        quote(table)
    )))
    .fetch_all(from.write_pool())
    .await
    .map_err(|e| schema_error(format!("reading `{table}` from the source: {e}")))?;
    let mut copied = 0;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut values = Vec::with_capacity(chunk.len());
        for row in chunk {
            let mut typed = Vec::with_capacity(columns.len());
            for (i, column) in columns.iter().enumerate() {
                typed.push(read(row, i, column).map_err(|e| {
                    schema_error(format!("`{table}.{}` in the source: {e}", column.name))
                })?);
            }
            values.push(typed);
        }
        let mut insert: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("INSERT INTO {} ({list}) ", quote(table)));
        insert.push_values(values, |mut row, typed| {
            for value in typed {
                match value {
                    Value::Int(v) => row.push_bind(v),
                    Value::Int4(v) => row.push_bind(v),
                    Value::Int2(v) => row.push_bind(v),
                    Value::Bool(v) => row.push_bind(v),
                    Value::Float(v) => row.push_bind(v),
                    Value::Text(v) => row.push_bind(v),
                    Value::Json(v) => row.push_bind(v).push_unseparated("::jsonb"),
                    Value::Bytes(v) => row.push_bind(v),
                };
            }
        });
        let done = insert.build().execute(&mut **tx).await?;
        copied += done.rows_affected();
    }
    Ok(copied)
}

/// Reads column `i` of an SQLite row as the PostgreSQL column's type wants it.
fn read(row: &sqlx::sqlite::SqliteRow, i: usize, column: &Column) -> Result<Value, sqlx::Error> {
    Ok(match column.data_type.as_str() {
        "bigint" => Value::Int(row.try_get(i)?),
        "integer" => Value::Int4(row.try_get(i)?),
        "smallint" => Value::Int2(row.try_get(i)?),
        "boolean" => Value::Bool(row.try_get(i)?),
        "double precision" | "real" => Value::Float(row.try_get(i)?),
        "text" | "character varying" => Value::Text(row.try_get(i)?),
        "json" | "jsonb" => Value::Json(row.try_get(i)?),
        "bytea" => Value::Bytes(row.try_get(i)?),
        other => {
            return Err(sqlx::Error::Decode(
                format!("no copy rule for the column type `{other}`").into(),
            ));
        }
    })
}
