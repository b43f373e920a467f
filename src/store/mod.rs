//! The one database every role shares: connection pools for `memory` (SQLite in memory),
//! SQLite files and PostgreSQL behind one `sqlx::AnyPool`, the per-backend migrations, and the
//! few dialect differences as small functions on [`Backend`]. Role stores build on [`Db`].
//!
//! Why `AnyPool`: one code path for both backends (portable SQL, `$1` placeholders work on
//! both), at the cost of the Any driver's narrow type set — timestamps are stored as integers
//! (Unix microseconds) and ids as text. See `docs/decisions/0001-storage-any-driver.md`.

pub mod batch;
pub mod secrets;
pub mod time;
mod warm;

pub use warm::{Conn, OnDb};

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Connection, Executor, Transaction};

use crate::config::Dsn;

/// What went wrong talking to the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the database {dsn}: {reason}")]
    Connect { dsn: String, reason: String },
    #[error("database migration failed: {0}")]
    Migrate(String),
    #[error("a row with this {0} already exists")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The two SQL dialects Quartet speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connected, migrated database shared by every role.
#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    warm: Arc<warm::WarmConnections>,
}

/// How long a pooled connection may sit idle before it is pinged on its way out of the pool.
const IDLE_PING_AFTER: Duration = Duration::from_secs(30);

static MIGRATIONS_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static MIGRATIONS_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Db {
    /// Opens the pool for `dsn`. `memory` gives each call its own fresh in-memory database,
    /// shared by every connection of this pool (so two in-process stacks never share state).
    pub async fn connect(dsn: &Dsn) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let (url, backend) = match dsn {
            Dsn::Memory => (
                format!(
                    "sqlite:file:quartet-mem-{}?mode=memory&cache=shared",
                    uuid::Uuid::new_v4().simple()
                ),
                Backend::Sqlite,
            ),
            Dsn::Sqlite(path) => (format!("sqlite://{path}?mode=rwc"), Backend::Sqlite),
            Dsn::Postgres(url) => (url.expose().clone(), Backend::Postgres),
        };
        let (url, sizing) = PoolSizing::take_from(&url).map_err(|reason| StoreError::Connect {
            dsn: dsn.redacted(),
            reason,
        })?;
        let fail = |reason: String| StoreError::Connect {
            dsn: dsn.redacted(),
            reason,
        };
        let options: AnyConnectOptions =
            url.parse().map_err(|e: sqlx::Error| fail(e.to_string()))?;
        // sqlx pings every connection it hands out by default: one extra round trip per query.
        // Ping only connections that sat idle long enough to have been dropped by a server or
        // a proxy in between; a connection broken sooner fails its query once and is replaced.
        let mut pool = AnyPoolOptions::new()
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > IDLE_PING_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            });
        pool = match dsn {
            // The in-memory database lives as long as one connection does: keep one forever.
            Dsn::Memory => pool
                .min_connections(1)
                .max_connections(8)
                .idle_timeout(None)
                .max_lifetime(None),
            Dsn::Sqlite(_) => pool.max_connections(8),
            Dsn::Postgres(_) => sizing.apply(pool.max_connections(16)),
        };
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool
            .connect_with(options)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let warm = Arc::new(warm::WarmConnections::new(
            pool.options().get_max_connections(),
        ));
        Ok(Db {
            pool,
            backend,
            warm,
        })
    }

    /// Applies pending migrations. On PostgreSQL the migrator holds an advisory lock, so
    /// several instances starting at once migrate exactly once.
    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &MIGRATIONS_SQLITE,
            Backend::Postgres => &MIGRATIONS_POSTGRES,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migrate(e.to_string()))
    }

    /// One round trip to the database, for `/health/ready`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Starts a transaction for writing. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes cannot wait for
    /// another writer — SQLite answers `database is locked` (or `SQLITE_BUSY_SNAPSHOT` in WAL
    /// mode) at once instead of after `busy_timeout` — so under concurrent writes it fails
    /// where it should have waited. On PostgreSQL a plain `BEGIN`.
    pub async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection; pending queries finish first. The pool waits for every
    /// connection to come back, so warm ones are handed back until it has closed (a statement
    /// finishing meanwhile could still have kept its connection warm).
    pub async fn close(&self) {
        let close = self.pool.close();
        tokio::pin!(close);
        loop {
            self.warm.drain();
            tokio::select! {
                _ = &mut close => break,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    }
}

/// The pool parameters Ory reads from a DSN's query string (`max_conns`, `max_idle_conns`,
/// `max_conn_lifetime`, `max_conn_idle_time`, as in `postgres://…?sslmode=disable&max_conns=20`).
/// They are taken out of the URL before the driver sees it; `max_idle_conns` is accepted and has
/// no counterpart in sqlx's pool (idle connections are bounded by `max_conns` and the idle time).
#[derive(Debug, Default, PartialEq)]
struct PoolSizing {
    max_conns: Option<u32>,
    max_conn_lifetime: Option<Duration>,
    max_conn_idle_time: Option<Duration>,
}

impl PoolSizing {
    /// The URL without Ory's pool parameters, and their values; a malformed value is an error
    /// naming the parameter.
    fn take_from(url: &str) -> std::result::Result<(String, PoolSizing), String> {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_string(), PoolSizing::default()));
        };
        let mut sizing = PoolSizing::default();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let duration = |v: &str| {
                crate::config::duration::GoDuration::parse(v)
                    .map(|d| Duration::from_nanos(u64::try_from(d.0).unwrap_or(u64::MAX)))
                    .map_err(|e| format!("DSN parameter {key}: {e}"))
            };
            match key {
                "max_conns" => {
                    let n: u32 = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        format!("DSN parameter max_conns: `{value}` is not a positive number")
                    })?;
                    sizing.max_conns = Some(n);
                }
                "max_idle_conns" => {}
                "max_conn_lifetime" => sizing.max_conn_lifetime = Some(duration(value)?),
                "max_conn_idle_time" => sizing.max_conn_idle_time = Some(duration(value)?),
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((url, sizing))
    }

    fn apply(&self, mut pool: AnyPoolOptions) -> AnyPoolOptions {
        if let Some(n) = self.max_conns {
            pool = pool.max_connections(n);
        }
        if let Some(d) = self.max_conn_lifetime {
            pool = pool.max_lifetime(d);
        }
        if let Some(d) = self.max_conn_idle_time {
            pool = pool.idle_timeout(d);
        }
        pool
    }
}

/// Maps a sqlx error once: a unique-constraint violation becomes [`StoreError::Conflict`]
/// naming the constraint, anything else stays a database error.
pub fn map_unique(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.is_unique_violation() {
            let what = db
                .constraint()
                .map(str::to_string)
                .unwrap_or_else(|| "key".into());
            return StoreError::Conflict(what);
        }
    }
    StoreError::Database(error)
}

/// Microseconds since the Unix epoch, the portable timestamp column type.
pub fn unix_micros(time: std::time::SystemTime) -> i64 {
    match time.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ory_pool_parameters_are_taken_out_of_the_dsn() {
        let (url, sizing) = PoolSizing::take_from(
            "postgres://u:p@db:5432/kratos?sslmode=disable&max_conns=20&max_idle_conns=4&max_conn_lifetime=1h&max_conn_idle_time=30s",
        )
        .unwrap();
        assert_eq!(url, "postgres://u:p@db:5432/kratos?sslmode=disable");
        assert_eq!(
            sizing,
            PoolSizing {
                max_conns: Some(20),
                max_conn_lifetime: Some(Duration::from_secs(3600)),
                max_conn_idle_time: Some(Duration::from_secs(30)),
            }
        );
        let (url, sizing) = PoolSizing::take_from("postgres://db/k?max_conns=3").unwrap();
        assert_eq!(
            (url.as_str(), sizing.max_conns),
            ("postgres://db/k", Some(3))
        );
        let (url, _) = PoolSizing::take_from("postgres://db/k").unwrap();
        assert_eq!(url, "postgres://db/k");
    }

    #[test]
    fn malformed_pool_parameters_name_the_parameter() {
        for bad in ["max_conns=0", "max_conns=many", "max_conn_lifetime=5d"] {
            let e = PoolSizing::take_from(&format!("postgres://db/k?{bad}")).unwrap_err();
            assert!(e.contains(bad.split('=').next().unwrap()), "{e}");
        }
    }
}
