//! `whoami` benchmark — the hottest path of the stack. Three ways in, on SQLite (a file, WAL)
//! and on PostgreSQL when `TEST_DATABASE_URL` is set:
//!
//! - criterion, one request at a time: `GET /sessions/whoami` by `X-Session-Token` and by the
//!   `ory_kratos_session` cookie through the in-process `Stack` over loopback HTTP (reqwest),
//!   and the service call itself (`Service::session_by_token`, `Service::current_session`);
//! - a load phase: 64 concurrent loopback connections hammering whoami for a few seconds,
//!   reporting throughput and p50/p99 latency (the target is stated that way).
//!
//! Run: `cargo bench --bench identity_whoami` (add `TEST_DATABASE_URL=postgres://…` for the
//! Postgres rows; `QUARTET_LOAD_SECS` sets the load phase's length, default 5). Under
//! `cargo test --benches` every case runs once and the load phase lasts 200 ms, as a smoke test.
//! Figures go to `docs/benchmarks.md` (section "identity").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use quartet::config::{Config, Dsn, Role};
use quartet::store::Db;
use quartet::Stack;
use reqwest::header::{HeaderMap, HeaderValue, COOKIE};
use serde_json::{json, Value};

const CONNECTIONS: usize = 64;

/// One running stack with a signed-in user, plus a stand-alone service on the same database.
struct Fixture {
    label: &'static str,
    stack: Stack,
    whoami: String,
    token: String,
    cookie: String,
    service: quartet::identity::Service,
    _dir: Option<tempfile::TempDir>,
    pg: Option<common::PgDatabase>,
}

fn config(dsn: Dsn) -> Config {
    let mut config = Config::ephemeral();
    config.apply_dev_defaults();
    config.dsn = dsn;
    config.identity.hashers.bcrypt.cost = Some(4);
    config.identity.selfservice.default_browser_return_url = Some("http://app.test/".into());
    config
}

/// `name=value` of the `Set-Cookie` headers of a response whose name starts with `prefix`.
fn cookie_pairs(r: &reqwest::Response, prefix: &str) -> Vec<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|p| p.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

impl Fixture {
    async fn start(label: &'static str) -> Option<Fixture> {
        let (dsn, dir, pg) = match label {
            "sqlite" => {
                let dir = tempfile::tempdir().unwrap();
                let file = dir.path().join("bench.sqlite").display().to_string();
                (Dsn::Sqlite(file), Some(dir), None)
            }
            _ => {
                let pg = common::pg_database().await?;
                (pg.dsn.clone(), None, Some(pg))
            }
        };
        let config = config(dsn.clone());
        let stack = Stack::start_roles(config.clone(), &[Role::Identity])
            .await
            .unwrap();
        let public = stack.url(Role::Identity, "public").unwrap();
        let admin = stack.url(Role::Identity, "admin").unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let email = "bench@example.com";
        let password = "a-long-bench-password";
        let r = http
            .post(format!("{admin}/admin/identities"))
            .json(&json!({"schema_id": "default", "traits": {"email": email},
                "credentials": {"password": {"config": {"password": password}}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);

        // Native login → session token.
        let flow: Value = http
            .get(format!("{public}/self-service/login/api"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let body: Value = http
            .post(flow["ui"]["action"].as_str().unwrap())
            .json(&json!({"method": "password", "identifier": email, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = body["session_token"].as_str().unwrap().to_string();

        // Browser (SPA) login → session cookie.
        let r = http
            .get(format!("{public}/self-service/login/browser"))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        let csrf_cookie = cookie_pairs(&r, "csrf_token_").join("; ");
        let flow: Value = r.json().await.unwrap();
        let csrf = flow["ui"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["attributes"]["name"] == "csrf_token")
            .unwrap()["attributes"]["value"]
            .as_str()
            .unwrap()
            .to_string();
        let r = http
            .post(flow["ui"]["action"].as_str().unwrap())
            .header("accept", "application/json")
            .header(COOKIE, &csrf_cookie)
            .json(&json!({"method": "password", "identifier": email, "password": password, "csrf_token": csrf}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "SPA login");
        let cookie = cookie_pairs(&r, "ory_kratos_session=").join("; ");
        assert!(!cookie.is_empty());

        // The service alone, on the same database (same cookie secret as the stack).
        let db = Db::connect(&dsn).await.unwrap();
        let service = quartet::identity::service(&config.identity, db, true)
            .await
            .unwrap();
        Some(Fixture {
            label,
            stack,
            whoami: format!("{public}/sessions/whoami"),
            token,
            cookie,
            service,
            _dir: dir,
            pg,
        })
    }

    async fn finish(self) {
        self.stack.shutdown().await;
        if let Some(pg) = self.pg {
            pg.drop_now().await;
        }
    }
}

async fn whoami(http: &reqwest::Client, url: &str, headers: &HeaderMap) {
    let r = http.get(url).headers(headers.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.bytes().await.unwrap();
}

fn token_headers(f: &Fixture) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-session-token", HeaderValue::from_str(&f.token).unwrap());
    h
}

fn cookie_headers(f: &Fixture) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(COOKIE, HeaderValue::from_str(&f.cookie).unwrap());
    h
}

fn criterion_cases(c: &mut Criterion, rt: &tokio::runtime::Runtime, f: &Fixture) {
    let http = reqwest::Client::new();
    let mut g = c.benchmark_group(format!("identity_whoami/{}", f.label));
    for (name, headers) in [
        ("http_token", token_headers(f)),
        ("http_cookie", cookie_headers(f)),
    ] {
        g.bench_function(name, |b| {
            b.to_async(rt).iter(|| whoami(&http, &f.whoami, &headers))
        });
    }
    g.bench_function("service_token", |b| {
        b.to_async(rt).iter(|| async {
            assert!(f
                .service
                .session_by_token(&f.token)
                .await
                .unwrap()
                .is_some());
        })
    });
    let cookie = {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            axum::http::HeaderValue::from_str(&f.cookie).unwrap(),
        );
        h
    };
    g.bench_function("service_cookie", |b| {
        b.to_async(rt).iter(|| async {
            assert!(
                quartet::identity::request::current_session(&f.service, &cookie)
                    .await
                    .unwrap()
                    .is_some()
            );
        })
    });
    g.finish();
}

/// Latency percentile of sorted samples.
fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `CONNECTIONS` tasks, each with its own connection, for `secs`: (req/s, p50, p99, requests).
async fn load(url: &str, headers: HeaderMap, length: Duration) -> (f64, Duration, Duration, usize) {
    let deadline = Instant::now() + length;
    let url = Arc::new(url.to_string());
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..CONNECTIONS {
        let url = url.clone();
        let headers = headers.clone();
        tasks.push(tokio::spawn(async move {
            // One client per task: one keep-alive connection each.
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap();
            let mut samples = Vec::with_capacity(4096);
            while Instant::now() < deadline {
                let t = Instant::now();
                whoami(&http, &url, &headers).await;
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    (
        all.len() as f64 / elapsed,
        pct(&all, 0.50),
        pct(&all, 0.99),
        all.len(),
    )
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let length = if bench_mode {
        Duration::from_secs(
            std::env::var("QUARTET_LOAD_SECS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(5),
        )
    } else {
        Duration::from_millis(200)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut criterion = Criterion::default().configure_from_args();
    let mut rows = Vec::new();
    for label in ["sqlite", "postgres"] {
        let Some(f) = rt.block_on(Fixture::start(label)) else {
            eprintln!("identity_whoami: TEST_DATABASE_URL unset, skipping {label}");
            continue;
        };
        criterion_cases(&mut criterion, &rt, &f);
        for (how, headers) in [("token", token_headers(&f)), ("cookie", cookie_headers(&f))] {
            let (rps, p50, p99, n) = rt.block_on(load(&f.whoami, headers, length));
            rows.push(format!(
                "| {label} | {how} | {CONNECTIONS} | {rps:.0} | {:.2} | {:.2} | {n} |",
                p50.as_secs_f64() * 1e3,
                p99.as_secs_f64() * 1e3
            ));
        }
        rt.block_on(f.finish());
    }
    criterion.final_summary();
    println!(
        "\nwhoami under load ({}s per row, in-process stack, reqwest client in the same process):",
        length.as_secs_f64()
    );
    println!("| backend | credential | connections | req/s | p50 ms | p99 ms | requests |");
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
