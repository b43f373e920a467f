//! The permission role's benchmarks on a generated graph of 100 tuples per organization
//! (`benches/permission/graph.rs`: the seed's Organization / Gateway model, nested groups,
//! 3-level folder `traverse` chains; 10,000 organizations = 1M tuples by default):
//!
//! - import time of the whole graph through `permission::import` (SQLite file, WAL; and
//!   PostgreSQL when `TEST_DATABASE_URL` is set);
//! - in-process check latency, p50 / p99 over 2000 sequential checks, for direct, 2-hop and
//!   4-hop checks, uncached ("cold": every hop hits SQL) and with the check cache ("warm"),
//!   plus criterion means;
//! - the REST check over loopback from one sequential client (in-process stack, small graph).
//!
//! `cargo bench --bench permission_check` (`BENCH_ORGS=N` scales the graph; under
//! `cargo test --benches` it runs on 20 organizations with a few samples, as a smoke test).
//! `PERMISSION_GRAPH_OUT=DIR cargo bench --bench permission_check` only writes
//! `DIR/tuples.txt` and `DIR/namespaces.keto.ts` and exits (used by `benches/permission_load.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "permission/graph.rs"]
mod graph;

use std::time::{Duration, Instant};

use base64::Engine as _;
use criterion::Criterion;
use quartet::config::permission::{NamespacesConfig, OplNamespaces};
use quartet::config::{Config, Dsn, Role, Secret};
use quartet::permission::import::{import_tuples, Progress};
use quartet::permission::namespaces::parse_opl_files;
use quartet::permission::{CheckCache, Engine, Limits, Namespaces, RelationTuple, TupleStore};
use quartet::store::Db;

use graph::OPL;

fn graph(orgs: usize) -> Vec<RelationTuple> {
    graph::tuples(orgs)
        .iter()
        .map(|t| RelationTuple::parse(t).unwrap())
        .collect()
}

/// Under `cargo test --benches` (no `--bench` argument) every case runs once on a small graph,
/// as a smoke test that keeps the test suite fast.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn orgs() -> usize {
    std::env::var("BENCH_ORGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke() { 20 } else { 10_000 })
}

/// Sequential samples for the percentiles: `full` when benchmarking, a handful when smoke testing.
fn samples(full: usize) -> usize {
    if smoke() {
        10
    } else {
        full
    }
}

/// p50 and p99 of `n` sequential runs of `f` (after `n / 10` untimed runs).
fn percentiles(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    for _ in 0..n / 10 {
        f();
    }
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    samples.sort();
    (samples[n / 2], samples[n * 99 / 100])
}

/// Imports the graph into `db`, then times every check cold and warm.
fn backend(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, db: Db, orgs: usize) {
    let text = graph::tuples(orgs).join("\n");
    let (cold, warm) = rt.block_on(async {
        db.migrate().await.unwrap();
        let store = TupleStore::new(db.clone());
        let set = || parse_opl_files(&[("bench.ts".into(), OPL.into())]).unwrap();
        let known = set();
        let started = Instant::now();
        let summary = import_tuples(&store, &known, &text, Progress::Silent)
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(summary.inserted, orgs * graph::PER_ORG);
        println!(
            "[{name}] import {} tuples: {:.1} s ({:.0} tuples/s)",
            summary.inserted,
            took.as_secs_f64(),
            summary.inserted as f64 / took.as_secs_f64()
        );
        let limits = Limits {
            max_read_depth: 10,
            max_read_width: 100,
        };
        let cold = Engine::new(store.clone(), Namespaces::fixed(set(), false), limits);
        let warm = Engine::new(store, Namespaces::fixed(set(), false), limits)
            .with_cache(CheckCache::new(Duration::from_secs(3600), 1_000_000));
        (cold, warm)
    });
    let mut group = c.benchmark_group(format!("check/{name}/{} tuples", orgs * graph::PER_ORG));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_millis(500));
    for (case, tuple, expect) in graph::checks(orgs / 2) {
        let t = RelationTuple::parse(&tuple).unwrap();
        assert_eq!(
            rt.block_on(cold.check(&t, None)).unwrap(),
            expect,
            "{tuple}"
        );
        let (p50, p99) = percentiles(samples(2000), || {
            rt.block_on(cold.check(&t, None)).unwrap();
        });
        println!("[{name}] {case}/cold: p50 {p50:?} p99 {p99:?}");
        group.bench_function(format!("{case}/cold"), |b| {
            b.iter(|| rt.block_on(cold.check(&t, None)).unwrap())
        });
        rt.block_on(warm.check(&t, None)).unwrap();
        let (p50, p99) = percentiles(samples(20_000), || {
            rt.block_on(warm.check(&t, None)).unwrap();
        });
        println!("[{name}] {case}/warm: p50 {p50:?} p99 {p99:?}");
        group.bench_function(format!("{case}/warm"), |b| {
            b.iter(|| rt.block_on(warm.check(&t, None)).unwrap())
        });
    }
    group.finish();
    rt.block_on(db.close());
}

fn main() {
    let orgs = orgs();
    if let Ok(dir) = std::env::var("PERMISSION_GRAPH_OUT") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).unwrap();
        let mut text = graph::tuples(orgs).join("\n");
        text.push('\n');
        std::fs::write(dir.join("tuples.txt"), text).unwrap();
        std::fs::write(dir.join("namespaces.keto.ts"), OPL).unwrap();
        println!(
            "wrote {} tuples to {}",
            orgs * graph::PER_ORG,
            dir.display()
        );
        return;
    }
    assert_eq!(graph::tuples(1).len(), graph::PER_ORG);
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, orgs);
    c.final_summary();
}

fn bench(c: &mut Criterion, orgs: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Dsn::parse(&format!(
        "sqlite://{}",
        dir.path().join("bench.sqlite").display()
    ))
    .unwrap();
    let db = rt.block_on(Db::connect(&sqlite)).unwrap();
    backend(c, &rt, "sqlite", db, orgs);
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        let name = format!("quartet_bench_{}", std::process::id());
        let admin = rt
            .block_on(Db::connect(&Dsn::Postgres(Secret::new(url.clone()))))
            .unwrap();
        rt.block_on(sqlx::query(&format!("CREATE DATABASE {name}")).execute(admin.pool()))
            .unwrap();
        let (base, _) = url.rsplit_once('/').unwrap();
        let db = rt
            .block_on(Db::connect(&Dsn::Postgres(Secret::new(format!(
                "{base}/{name}"
            )))))
            .unwrap();
        backend(c, &rt, "postgres", db, orgs);
        rt.block_on(
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin.pool()),
        )
        .unwrap();
    }

    // REST: one sequential client over loopback against the in-process stack.
    let (stack, url) = rt.block_on(async {
        let mut config = Config::ephemeral();
        config.permission.namespaces = NamespacesConfig::Opl(OplNamespaces {
            location: format!(
                "base64://{}",
                base64::engine::general_purpose::STANDARD.encode(OPL)
            ),
            experimental_strict_mode: false,
        });
        config.permission.limit.max_read_depth = 10;
        let stack = quartet::Stack::start_roles(config, &[Role::Permission])
            .await
            .unwrap();
        let write = stack.url(Role::Permission, "write").unwrap();
        let http = reqwest::Client::new();
        let small: Vec<_> = graph(50);
        let patch: Vec<serde_json::Value> = small
            .iter()
            .map(|t| {
                let s = t.to_string();
                let (lhs, subject) = s.split_once('@').unwrap();
                let (ns, rest) = lhs.split_once(':').unwrap();
                let (obj, rel) = rest.split_once('#').unwrap();
                let mut tuple =
                    serde_json::json!({"namespace": ns, "object": obj, "relation": rel});
                match subject.split_once(':') {
                    Some((sns, srest)) => {
                        let (sobj, srel) = srest.split_once('#').unwrap_or((srest, ""));
                        tuple["subject_set"] =
                            serde_json::json!({"namespace": sns, "object": sobj, "relation": srel});
                    }
                    None => tuple["subject_id"] = subject.into(),
                }
                serde_json::json!({"action": "insert", "relation_tuple": tuple})
            })
            .collect();
        let r = http
            .patch(format!("{write}/admin/relation-tuples"))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let read = stack.url(Role::Permission, "read").unwrap();
        (stack, read)
    });
    let http = reqwest::Client::new();
    let mut group = c.benchmark_group("rest");
    group.measurement_time(Duration::from_secs(3));
    let check_url = format!(
        "{url}/relation-tuples/check?namespace=Gateway&object=g25_7&relation=view&subject_id=u25_3"
    );
    group.bench_function("check 2-hop over loopback", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = http.get(&check_url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap()
            })
        })
    });
    group.finish();
    rt.block_on(stack.shutdown());
}
