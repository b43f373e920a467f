//! Storage conformance: the same tests on SQLite (in memory and on disk) always, and on
//! PostgreSQL when `TEST_DATABASE_URL` is set (CI sets it).

use crate::common;

use quartet::config::Dsn;
use quartet::store::{secrets, Backend, Db};

async fn backends() -> (
    Vec<(Dsn, Backend)>,
    Option<common::PgDatabase>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quartet.sqlite");
    let mut dsns = vec![
        (Dsn::Memory, Backend::Sqlite),
        (Dsn::Sqlite(file.display().to_string()), Backend::Sqlite),
    ];
    let pg = common::pg_database().await;
    if let Some(pg) = &pg {
        dsns.push((pg.dsn.clone(), Backend::Postgres));
    }
    (dsns, pg, dir)
}

#[tokio::test]
async fn migrations_apply_once_and_are_idempotent() {
    let (dsns, pg, _dir) = backends().await;
    for (dsn, backend) in dsns {
        let db = Db::connect(&dsn).await.unwrap();
        assert_eq!(db.backend(), backend);
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        db.ping().await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM kernel_secrets")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, 0, "{dsn:?}");
        db.close().await;
    }
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

#[tokio::test]
async fn generated_secrets_are_shared_by_every_instance_even_under_races() {
    let (dsns, pg, _dir) = backends().await;
    for (dsn, _) in dsns {
        let first = Db::connect(&dsn).await.unwrap();
        first.migrate().await.unwrap();
        // A second pool on the same database stands for a second instance (for `memory`,
        // the same pool: each `memory` pool is its own database by design).
        let second = match dsn {
            Dsn::Memory => first.clone(),
            _ => Db::connect(&dsn).await.unwrap(),
        };
        let mut tasks = Vec::new();
        for i in 0..8 {
            let db = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tasks.push(tokio::spawn(async move {
                secrets::get_or_create(&db, "oauth2.system", || format!("candidate-{i}"))
                    .await
                    .unwrap()
            }));
        }
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        values.dedup();
        assert_eq!(
            values.len(),
            1,
            "{dsn:?}: every instance must see the same secret: {values:?}"
        );
        assert!(values[0].starts_with("candidate-"));
        first.close().await;
        second.close().await;
    }
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

/// Read-then-write transactions from many tasks and two instances at once (the pattern of
/// "next sequence number, then insert"): none may fail with `database is locked` — on SQLite
/// `Db::begin` takes the write lock up front so that they wait their turn — and no number is
/// handed out twice. (SQLite only: on PostgreSQL, under READ COMMITTED, two such transactions
/// may read the same maximum and the second insert fails on the key — a different hazard.)
#[tokio::test]
async fn concurrent_read_then_write_transactions_wait_instead_of_failing() {
    let (dsns, pg, _dir) = backends().await;
    for (dsn, backend) in dsns {
        if backend != Backend::Sqlite {
            continue;
        }
        let first = Db::connect(&dsn).await.unwrap();
        first.migrate().await.unwrap();
        sqlx::query("CREATE TABLE seq_test (seq BIGINT PRIMARY KEY, who TEXT NOT NULL)")
            .execute(first.pool())
            .await
            .unwrap();
        let second = match dsn {
            Dsn::Memory => first.clone(),
            _ => Db::connect(&dsn).await.unwrap(),
        };
        let mut tasks = Vec::new();
        for i in 0..32 {
            let db = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tasks.push(tokio::spawn(async move {
                let mut tx = db.begin().await?;
                let (next,): (i64,) =
                    sqlx::query_as("SELECT COALESCE(MAX(seq), 0) + 1 FROM seq_test")
                        .fetch_one(&mut *tx)
                        .await?;
                sqlx::query("INSERT INTO seq_test (seq, who) VALUES ($1, $2)")
                    .bind(next)
                    .bind(format!("task-{i}"))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap_or_else(|e| panic!("{dsn:?}: {e}"));
        }
        let (n, max): (i64, i64) = sqlx::query_as("SELECT COUNT(*), MAX(seq) FROM seq_test")
            .fetch_one(first.pool())
            .await
            .unwrap();
        assert_eq!((n, max), (32, 32), "{dsn:?}");
        first.close().await;
        second.close().await;
    }
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

#[tokio::test]
async fn several_instances_migrating_at_once_on_one_postgres_migrate_exactly_once() {
    let Some(pg) = common::pg_database().await else {
        return;
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let dsn = pg.dsn.clone();
        tasks.push(tokio::spawn(async move {
            let db = Db::connect(&dsn).await.unwrap();
            db.migrate().await.unwrap();
            db.close().await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let db = Db::connect(&pg.dsn).await.unwrap();
    let (applied,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE version = 1")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(applied, 1);
    db.close().await;
    pg.drop_now().await;
}

#[tokio::test]
async fn each_memory_database_is_private_to_its_pool() {
    let a = Db::connect(&Dsn::Memory).await.unwrap();
    let b = Db::connect(&Dsn::Memory).await.unwrap();
    a.migrate().await.unwrap();
    b.migrate().await.unwrap();
    secrets::get_or_create(&a, "x", || "from-a".into())
        .await
        .unwrap();
    assert_eq!(
        secrets::get_or_create(&b, "x", || "from-b".into())
            .await
            .unwrap(),
        "from-b"
    );
}

#[tokio::test]
async fn sqlite_files_use_wal_and_enforce_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let dsn = Dsn::Sqlite(dir.path().join("q.sqlite").display().to_string());
    let db = Db::connect(&dsn).await.unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(mode.to_lowercase(), "wal");
    let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let dsn = Dsn::parse("postgres://quartet:hunter2@127.0.0.1:1/quartet").unwrap();
    let error = Db::connect(&dsn).await.unwrap_err().to_string();
    assert!(
        error.starts_with(
            "cannot connect to the database postgres://quartet:xxxxx@127.0.0.1:1/quartet"
        ),
        "{error}"
    );
    assert!(!error.contains("hunter2"));
}
