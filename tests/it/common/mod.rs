//! Shared helpers of the integration tests: the backends every stateful test runs on
//! ([`Backend`], `on_every_backend!`), a fresh PostgreSQL database per test (when
//! `TEST_DATABASE_URL` is set) and the CI marker that proves the PostgreSQL half ran.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

/// Where a test's stack keeps its data: SQLite in memory always, and PostgreSQL too when
/// `TEST_DATABASE_URL` is set (a fresh database per test, dropped at the end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set.
    pub fn all() -> Vec<Backend> {
        let mut all = vec![Backend::Sqlite];
        if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
            all.push(Backend::Postgres);
        }
        all
    }
}

/// Runs each named `async fn name(backend: Backend)` of the calling module as one test, on
/// every backend of [`Backend::all`] in turn.
#[allow(unused_macros)]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod every_backend {
            $(
                #[tokio::test]
                async fn $name() {
                    for backend in crate::common::Backend::all() {
                        super::$name(backend).await;
                    }
                }
            )*
        }
    };
}

use quartet::config::Dsn;

/// A PostgreSQL database created for one test and dropped by [`PgDatabase::drop_now`].
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub dsn: Dsn,
}

/// Creates a uniquely named database on the server of `TEST_DATABASE_URL`, or `None` when the
/// variable is unset (the SQLite half of every store test still runs). When
/// `QUARTET_PG_MARKER` names a file, it is created, so CI can prove the Postgres tests ran.
pub async fn pg_database() -> Option<PgDatabase> {
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    sqlx::any::install_default_drivers();
    let name = format!("quartet_t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
        .await
        .expect("TEST_DATABASE_URL must be reachable");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    if let Ok(marker) = std::env::var("QUARTET_PG_MARKER") {
        let _ = std::fs::write(marker, "postgres store tests ran\n");
    }
    Some(PgDatabase {
        admin_url,
        name,
        dsn: Dsn::parse(url.as_str()).expect("valid postgres DSN"),
    })
}

impl PgDatabase {
    pub async fn drop_now(self) {
        if let Ok(mut conn) =
            <sqlx::AnyConnection as sqlx::Connection>::connect(&self.admin_url).await
        {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}
