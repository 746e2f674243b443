//! The benchmark's write ceiling: what one SQLite writer can store of the opaque `client_credentials`
//! scenario's rows when nothing else runs, the physical limit group commit is measured against (as the
//! static ceiling is for reads). Each row is what issuing an opaque access token stores: a fresh random
//! token hashed with SHA-256 (the same functions Latchkey uses), its claims as JSON, in Latchkey's own
//! `opaque_tokens` table (the database is made by `latchkey migrate`, so the indexes are the same), in
//! WAL mode with the `synchronous` setting given. BATCH rows go into one multi-row `INSERT`, one
//! transaction and one commit; the next batch starts when the commit returns.
//!
//! Usage: write_ceiling DATABASE_FILE SECONDS BATCH normal|full
//! Prints one `WRK_JSON` line as flow_bench does: rows stored, and the p50/p99 time of one batch.
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use latchkey_core::secret::{ClientSecret, random_id};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

/// The claims of a `client_credentials` token for the bench client, as Latchkey stores them.
fn claims(jti: &str, now: i64) -> (String, i64) {
    let exp = now + 600;
    let json = serde_json::json!({
        "iss": "http://127.0.0.1:8080",
        "sub": "lk_client_0123456789abcdef",
        "aud": "https://opaque.example/",
        "client_id": "lk_client_0123456789abcdef",
        "scope": "api:read",
        "iat": now,
        "exp": exp,
        "jti": jti,
    });
    (json.to_string(), exp)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), sqlx::Error> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: write_ceiling DATABASE_FILE SECONDS BATCH normal|full";
    if a.len() != 4 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let (seconds, batch): (u64, usize) = match (a[1].parse(), a[2].parse()) {
        (Ok(s), Ok(b)) if b > 0 => (s, b),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let synchronous = match a[3].as_str() {
        "normal" => SqliteSynchronous::Normal,
        "full" => SqliteSynchronous::Full,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let mut db = SqliteConnectOptions::from_str(&format!("sqlite://{}", a[0]))?
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(synchronous)
        .foreign_keys(true)
        .connect()
        .await?;
    let mut insert = String::from(
        "INSERT INTO opaque_tokens (token_hash, jti, claims, expires_at, client_id, sub) VALUES ",
    );
    for i in 0..batch {
        if i > 0 {
            insert.push(',');
        }
        insert.push_str("(?, ?, ?, ?, ?, ?)");
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let (mut rows, mut latencies) = (0u64, Vec::new());
    while Instant::now() < deadline {
        let t = Instant::now();
        // A stand-alone program, not the server: its claims' times come from the wall clock.
        #[allow(clippy::disallowed_methods)]
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        // The per-token work of issuing: a random token, its hash, a token id, the claims' JSON.
        let tokens: Vec<_> = (0..batch)
            .map(|_| {
                let token = ClientSecret::generate();
                let jti = random_id();
                let (json, exp) = claims(&jti, now);
                (token.hash(), jti, json, exp)
            })
            .collect();
        // Only placeholders were added to the statement's text.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(insert.clone()));
        for (hash, jti, json, exp) in &tokens {
            query = query
                .bind(hash.as_bytes())
                .bind(jti)
                .bind(json)
                .bind(exp)
                .bind("lk_client_0123456789abcdef")
                .bind("lk_client_0123456789abcdef");
        }
        let mut transaction = db.begin().await?;
        query.execute(&mut *transaction).await?;
        transaction.commit().await?;
        rows += batch as u64;
        latencies.push(t.elapsed().as_micros() as u64);
    }
    let elapsed = started.elapsed().as_micros() as u64;
    db.close().await?;
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "WRK_JSON {{\"requests\":{rows},\"duration_us\":{elapsed},\"p50_us\":{},\"p99_us\":{},\"socket_errors\":0,\"non_2xx\":0}}",
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
