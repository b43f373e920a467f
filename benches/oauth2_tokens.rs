//! oauth2 token benchmark — client_credentials issuance (opaque and jwt access tokens) and
//! introspection of opaque tokens through the in-process `Stack` over loopback HTTP, on SQLite
//! (a file, WAL) and on PostgreSQL when `TEST_DATABASE_URL` is set:
//!
//! - criterion, one request at a time;
//! - a load phase: 64 concurrent loopback connections for a few seconds per case, reporting
//!   throughput and p50/p99 latency (the issue states its targets that way).
//!
//! Run: `cargo bench --bench oauth2_tokens` (add `TEST_DATABASE_URL=postgres://…` for the
//! Postgres rows; `QUARTET_LOAD_SECS` sets the load phase's length, default 5). Under
//! `cargo test --benches` every case runs once and the load phase lasts 200 ms, as a smoke test.
//! Figures go to `docs/benchmarks.md (oauth2 section)`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use quartet::config::{Config, Dsn, Role};
use quartet::Stack;
use serde_json::{json, Value};

const CONNECTIONS: usize = 64;

struct Fixture {
    label: &'static str,
    stack: Stack,
    token_url: String,
    introspect_url: String,
    opaque: (String, String),
    jwt: (String, String),
    sample_token: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<common::PgDatabase>,
}

async fn client(http: &reqwest::Client, admin: &str, strategy: &str) -> (String, String) {
    let c: Value = http
        .post(format!("{admin}/admin/clients"))
        .json(&json!({"grant_types": ["client_credentials"], "scope": "read write", "access_token_strategy": strategy}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        c["client_id"].as_str().unwrap().to_string(),
        c["client_secret"].as_str().unwrap().to_string(),
    )
}

async fn fixture(
    label: &'static str,
    dsn: Dsn,
    dir: Option<tempfile::TempDir>,
    pg: Option<common::PgDatabase>,
) -> Fixture {
    let mut config = Config::ephemeral();
    config.dsn = dsn;
    let stack = Stack::start_roles(config, &[Role::Oauth2]).await.unwrap();
    let public = stack.url(Role::Oauth2, "public").unwrap();
    let admin = stack.url(Role::Oauth2, "admin").unwrap();
    let http = reqwest::Client::new();
    let opaque = client(&http, &admin, "opaque").await;
    let jwt = client(&http, &admin, "jwt").await;
    let token_url = format!("{public}/oauth2/token");
    let sample_token = issue(&http, &token_url, &opaque).await;
    Fixture {
        label,
        stack,
        token_url,
        introspect_url: format!("{admin}/admin/oauth2/introspect"),
        opaque,
        jwt,
        sample_token,
        _dir: dir,
        pg,
    }
}

async fn issue(http: &reqwest::Client, url: &str, (id, secret): &(String, String)) -> String {
    let r = http
        .post(url)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

async fn introspect(http: &reqwest::Client, url: &str, token: &str) {
    let r = http
        .post(url)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["active"], true);
}

#[derive(Clone, Copy)]
enum Case {
    Opaque,
    Jwt,
    Introspect,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Opaque => "client_credentials (opaque)",
            Case::Jwt => "client_credentials (jwt)",
            Case::Introspect => "introspect (opaque)",
        }
    }
}

async fn once(f: &Fixture, http: &reqwest::Client, case: Case) {
    match case {
        Case::Opaque => {
            issue(http, &f.token_url, &f.opaque).await;
        }
        Case::Jwt => {
            issue(http, &f.token_url, &f.jwt).await;
        }
        Case::Introspect => introspect(http, &f.introspect_url, &f.sample_token).await,
    }
}

/// `CONNECTIONS` workers, each with its own connection, for `secs`; (requests/s, p50, p99).
async fn load(f: &Arc<Fixture>, case: Case, secs: f64) -> (f64, Duration, Duration) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .unwrap();
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    once(&f, &http, case).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    (all.len() as f64 / elapsed, pct(0.50), pct(0.99))
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut fixtures = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oauth2.sqlite");
    let dsn = Dsn::parse(&format!("sqlite://{}", file.display())).unwrap();
    fixtures.push(Arc::new(rt.block_on(fixture(
        "sqlite",
        dsn,
        Some(dir),
        None,
    ))));
    if let Some(pg) = rt.block_on(common::pg_database()) {
        let dsn = pg.dsn.clone();
        fixtures.push(Arc::new(rt.block_on(fixture(
            "postgres",
            dsn,
            None,
            Some(pg),
        ))));
    }

    let mut c = Criterion::default().configure_from_args();
    if !bench {
        c = c
            .sample_size(10)
            .warm_up_time(Duration::from_millis(10))
            .measurement_time(Duration::from_millis(50));
    }
    for f in &fixtures {
        let http = reqwest::Client::new();
        let mut group = c.benchmark_group(format!("oauth2/{}", f.label));
        for case in [Case::Opaque, Case::Jwt, Case::Introspect] {
            group.bench_function(case.name(), |b| {
                b.to_async(&rt).iter(|| once(f, &http, case));
            });
        }
        group.finish();
    }

    let secs = if bench {
        std::env::var("QUARTET_LOAD_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5.0)
    } else {
        0.2
    };
    println!("\nload phase: {CONNECTIONS} concurrent loopback connections, {secs} s per case");
    for f in &fixtures {
        for case in [Case::Opaque, Case::Jwt, Case::Introspect] {
            let (rps, p50, p99) = rt.block_on(load(f, case, secs));
            println!(
                "oauth2/{:<9} {:<28} {:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
                f.label,
                case.name(),
                rps,
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            );
        }
    }
    for f in fixtures {
        let f = Arc::try_unwrap(f).ok().unwrap();
        rt.block_on(async {
            f.stack.shutdown().await;
            if let Some(pg) = f.pg {
                pg.drop_now().await;
            }
        });
    }
}
