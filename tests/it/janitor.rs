//! The janitor on every backend (SQLite in memory and on disk always, PostgreSQL when
//! `TEST_DATABASE_URL` is set): it deletes exactly the rows that have expired and are older
//! than `keep_if_younger`, and keeps live sessions, unexpired flows and tokens, used codes and
//! rotated refresh tokens until they expire, remembered consents, and everything younger.

use crate::common;

use std::time::Duration;

use quartet::app::janitor::{run_at, Options};
use quartet::config::{Config, Dsn, Role};
use quartet::store::Db;

const NOW: i64 = 1_800_000_000_000_000;
const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

async fn backends() -> (Vec<Dsn>, Option<common::PgDatabase>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut dsns = vec![
        Dsn::Memory,
        Dsn::Sqlite(dir.path().join("quartet.sqlite").display().to_string()),
    ];
    let pg = common::pg_database().await;
    if let Some(pg) = &pg {
        dsns.push(pg.dsn.clone());
    }
    (dsns, pg, dir)
}

/// Every table, keep_if_younger 1h, the default lifespans (login/consent requests 30m,
/// failed-login window 1h).
fn options() -> Options {
    let mut o = Options::from_config(&Config::ephemeral(), &Role::ALL);
    o.keep_if_younger = Duration::from_secs(3600);
    o
}

async fn exec(db: &Db, sql: &str, text: &[&str], ints: &[i64]) {
    let mut q = sqlx::query(sql);
    for t in text {
        q = q.bind(*t);
    }
    for i in ints {
        q = q.bind(*i);
    }
    q.execute(db.pool()).await.unwrap();
}

async fn keys(db: &Db, sql: &str) -> Vec<String> {
    let mut keys: Vec<String> = sqlx::query_as::<_, (String,)>(sql)
        .fetch_all(db.pool())
        .await
        .unwrap()
        .into_iter()
        .map(|(k,)| k)
        .collect();
    keys.sort();
    keys
}

async fn session(db: &Db, id: &str, created_at: i64, expires_at: i64) {
    exec(db, "INSERT INTO identity_sessions (id, identity_id, token_hash, logout_token, active, aal, authenticated_at, issued_at, expires_at, methods, devices, created_at, updated_at) VALUES ($1, 'i1', $2, $3, 1, 'aal1', $4, $5, $6, '[]', '[]', $7, $8)",
        &[id, &format!("th-{id}"), &format!("lt-{id}")], &[created_at, created_at, expires_at, created_at, created_at]).await;
}

async fn flow(db: &Db, id: &str, created_at: i64, expires_at: i64) {
    exec(db, "INSERT INTO identity_flows (id, kind, type, state, csrf_token, request_url, ui, refresh, requested_aal, issued_at, expires_at, created_at, updated_at) VALUES ($1, 'login', 'api', 'choose_method', 'csrf', 'http://x/', '{}', 0, 'aal1', $2, $3, $4, $5)",
        &[id], &[created_at, expires_at, created_at, created_at]).await;
}

async fn token(db: &Db, sig: &str, kind: &str, active: i64, requested_at: i64, expires_at: i64) {
    exec(db, "INSERT INTO oauth2_tokens (signature, kind, request_id, client_id, subject, active, requested_at, expires_at, session) VALUES ($1, $2, 'r', 'c', 's', $3, $4, $5, '{}')",
        &[sig, kind], &[active, requested_at, expires_at]).await;
}

async fn seed(db: &Db) {
    exec(db, "INSERT INTO identity_identities (id, schema_id, state, traits, verifiable_addresses, recovery_addresses, created_at, updated_at) VALUES ('i1', 'default', 'active', '{}', '[]', '[]', $1, $2)", &[], &[NOW - 100 * HOUR, NOW - 100 * HOUR]).await;
    session(db, "s-expired-old", NOW - 3 * HOUR, NOW - 2 * HOUR).await;
    session(db, "s-expired-young", NOW - 30 * MINUTE, NOW - SECOND).await;
    session(db, "s-live", NOW - 10 * HOUR, NOW + HOUR).await;
    flow(db, "f-expired-old", NOW - 3 * HOUR, NOW - 2 * HOUR).await;
    flow(db, "f-expired-young", NOW - 30 * MINUTE, NOW - SECOND).await;
    flow(db, "f-live", NOW - 2 * HOUR, NOW + SECOND).await;
    for (id, at) in [("e-old", NOW - 3 * HOUR), ("e-young", NOW - 30 * MINUTE)] {
        exec(db, "INSERT INTO identity_flow_errors (id, error, created_at, updated_at) VALUES ($1, '{}', $2, $3)", &[id], &[at, at]).await;
    }
    for (key, at) in [("t-stale", NOW - 2 * HOUR), ("t-recent", NOW - 30 * MINUTE)] {
        exec(
            db,
            "INSERT INTO identity_login_throttle (key, failures, last_failure) VALUES ($1, 3, $2)",
            &[key],
            &[at],
        )
        .await;
    }
    token(
        db,
        "at-expired",
        "access_token",
        1,
        NOW - 3 * HOUR,
        NOW - 2 * HOUR,
    )
    .await;
    token(db, "at-live", "access_token", 1, NOW - 3 * HOUR, NOW + HOUR).await;
    token(
        db,
        "rt-expired",
        "refresh_token",
        1,
        NOW - 3 * HOUR,
        NOW - 2 * HOUR,
    )
    .await;
    token(
        db,
        "rt-rotated-live",
        "refresh_token",
        0,
        NOW - 10 * HOUR,
        NOW + HOUR,
    )
    .await;
    token(
        db,
        "rt-never-expires",
        "refresh_token",
        1,
        NOW - 100 * HOUR,
        0,
    )
    .await;
    token(
        db,
        "ac-used-expired",
        "authorize_code",
        0,
        NOW - 3 * HOUR,
        NOW - 2 * HOUR,
    )
    .await;
    token(
        db,
        "ac-expired-young",
        "authorize_code",
        1,
        NOW - 10 * MINUTE,
        NOW - SECOND,
    )
    .await;
    for (jti, exp) in [("j-expired", NOW - 2 * HOUR), ("j-live", NOW + HOUR)] {
        exec(
            db,
            "INSERT INTO oauth2_jtis (jti, expires_at) VALUES ($1, $2)",
            &[jti],
            &[exp],
        )
        .await;
    }
    for (challenge, at) in [
        ("o-old", NOW - 3 * HOUR),
        ("o-young", NOW - 40 * MINUTE),
        ("o-open", NOW - 5 * MINUTE),
    ] {
        exec(db, "INSERT INTO oauth2_flows (challenge, kind, verifier, state, client_id, subject, requested_at, doc) VALUES ($1, 'login', $2, 'pending', 'c', '', $3, '{}')", &[challenge, &format!("v-{challenge}")], &[at]).await;
    }
    for (id, exp) in [
        ("ls-expired", NOW - 2 * HOUR),
        ("ls-forever", 0),
        ("ls-live", NOW + HOUR),
    ] {
        exec(db, "INSERT INTO oauth2_login_sessions (id, subject, authenticated_at, remember, expires_at, doc) VALUES ($1, 's', $2, 1, $3, '{}')", &[id], &[NOW - 100 * HOUR, exp]).await;
    }
    for (challenge, revoked, handled) in [
        ("c-revoked", 1, NOW - 3 * HOUR),
        ("c-remembered", 0, NOW - 100 * HOUR),
        ("c-revoked-young", 1, NOW - 10 * MINUTE),
    ] {
        exec(db, "INSERT INTO oauth2_consents (challenge, subject, client_id, login_session_id, remember, revoked, expires_at, handled_at, doc) VALUES ($1, 's', 'c', 'ls', 1, $2, 0, $3, '{}')", &[challenge], &[revoked, handled]).await;
    }
    for (id, exp) in [("g-expired", NOW - 2 * HOUR), ("g-live", NOW + HOUR)] {
        exec(db, "INSERT INTO oauth2_trust_grants (id, issuer, subject, allow_any_subject, scope, key_set, key_id, created_at, expires_at) VALUES ($1, $2, 's', 0, '[]', 'set', $3, $4, $5)", &[id, &format!("iss-{id}"), &format!("kid-{id}")], &[NOW - 100 * HOUR, exp]).await;
    }
}

#[tokio::test]
async fn the_janitor_deletes_exactly_the_expired_rows_older_than_keep_if_younger() {
    let (dsns, pg, _dir) = backends().await;
    for dsn in dsns {
        let db = Db::connect(&dsn).await.unwrap();
        db.migrate().await.unwrap();
        seed(&db).await;
        let deleted = run_at(&db, &options(), NOW).await.unwrap();
        let total: u64 = deleted.iter().map(|d| d.rows).sum();
        assert_eq!(total, 12, "{dsn:?}: {deleted:?}");
        let left = [
            (
                "SELECT id FROM identity_sessions",
                vec!["s-expired-young", "s-live"],
            ),
            (
                "SELECT id FROM identity_flows",
                vec!["f-expired-young", "f-live"],
            ),
            ("SELECT id FROM identity_flow_errors", vec!["e-young"]),
            ("SELECT key FROM identity_login_throttle", vec!["t-recent"]),
            (
                "SELECT signature FROM oauth2_tokens",
                vec![
                    "ac-expired-young",
                    "at-live",
                    "rt-never-expires",
                    "rt-rotated-live",
                ],
            ),
            ("SELECT jti FROM oauth2_jtis", vec!["j-live"]),
            (
                "SELECT challenge FROM oauth2_flows",
                vec!["o-open", "o-young"],
            ),
            (
                "SELECT id FROM oauth2_login_sessions",
                vec!["ls-forever", "ls-live"],
            ),
            (
                "SELECT challenge FROM oauth2_consents",
                vec!["c-remembered", "c-revoked-young"],
            ),
            ("SELECT id FROM oauth2_trust_grants", vec!["g-live"]),
            ("SELECT id FROM identity_identities", vec!["i1"]),
        ];
        for (sql, expected) in left {
            assert_eq!(keys(&db, sql).await, expected, "{dsn:?}: {sql}");
        }
        // A second run finds nothing more.
        let again = run_at(&db, &options(), NOW).await.unwrap();
        assert!(again.iter().all(|d| d.rows == 0), "{dsn:?}: {again:?}");

        // Half an hour later with --access-lifespan 1h: the access token requested 3.5 h ago
        // counts as expired too although it expires in 30 min;
        // --tokens alone leaves every other table alone.
        let mut tokens_only = options();
        tokens_only.identity = false;
        tokens_only.oauth2.requests = false;
        tokens_only.oauth2.grants = false;
        tokens_only.oauth2.access_lifespan = Some(Duration::from_secs(3600));
        run_at(&db, &tokens_only, NOW + 30 * MINUTE).await.unwrap();
        assert_eq!(
            keys(&db, "SELECT signature FROM oauth2_tokens").await,
            vec!["ac-expired-young", "rt-never-expires", "rt-rotated-live"],
            "{dsn:?}"
        );
        assert_eq!(
            keys(&db, "SELECT id FROM identity_sessions").await.len(),
            2,
            "{dsn:?}"
        );
        db.close().await;
    }
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

#[tokio::test]
async fn a_run_deletes_at_most_limit_rows_per_table_in_batches_unless_it_drains() {
    let (dsns, pg, _dir) = backends().await;
    for dsn in dsns {
        let db = Db::connect(&dsn).await.unwrap();
        db.migrate().await.unwrap();
        for i in 0..25 {
            flow(&db, &format!("f{i:02}"), NOW - 3 * HOUR, NOW - 2 * HOUR).await;
        }
        let mut bounded = options();
        bounded.limit = 10;
        bounded.batch_size = 3;
        bounded.drain = false;
        for expected_left in [15, 5, 0] {
            run_at(&db, &bounded, NOW).await.unwrap();
            assert_eq!(
                keys(&db, "SELECT id FROM identity_flows").await.len(),
                expected_left,
                "{dsn:?}"
            );
        }
        // The background janitor passes over a table until it is clean.
        for i in 0..25 {
            flow(&db, &format!("g{i:02}"), NOW - 3 * HOUR, NOW - 2 * HOUR).await;
        }
        bounded.drain = true;
        let deleted = run_at(&db, &bounded, NOW).await.unwrap();
        assert_eq!(deleted[1].rows, 25, "{dsn:?}: {deleted:?}");
        assert!(keys(&db, "SELECT id FROM identity_flows").await.is_empty());
        db.close().await;
    }
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}

#[tokio::test]
async fn two_instances_cleaning_one_database_at_once_delete_each_row_once() {
    let (dsns, pg, _dir) = backends().await;
    // `memory` is private to one pool: two instances cannot share it.
    for dsn in dsns.into_iter().filter(|d| *d != Dsn::Memory) {
        let first = Db::connect(&dsn).await.unwrap();
        first.migrate().await.unwrap();
        let second = Db::connect(&dsn).await.unwrap();
        for i in 0..200 {
            flow(&first, &format!("f{i:03}"), NOW - 3 * HOUR, NOW - 2 * HOUR).await;
        }
        flow(&first, "f-live", NOW - 3 * HOUR, NOW + HOUR).await;
        let mut small = options();
        small.batch_size = 7;
        let (a, b) = tokio::join!(run_at(&first, &small, NOW), run_at(&second, &small, NOW));
        let flows = |d: &Vec<quartet::app::janitor::Deleted>| {
            d.iter()
                .find(|x| x.what == "expired self-service flows")
                .map(|x| x.rows)
                .unwrap()
        };
        assert_eq!(flows(&a.unwrap()) + flows(&b.unwrap()), 200, "{dsn:?}");
        assert_eq!(
            keys(&first, "SELECT id FROM identity_flows").await,
            vec!["f-live"]
        );
        first.close().await;
        second.close().await;
    }
    if let Some(pg) = pg {
        pg.drop_now().await;
    }
}
