//! Check latency of the permission engine on a generated graph (the seed's Organization /
//! Gateway model, 3-level folder `traverse` chains and nested groups), in-process on SQLite
//! in memory, uncached ("cold": every hop hits SQL) and with the check cache ("warm"), plus
//! the REST check over loopback from one sequential client.
//!
//! `cargo bench --bench permission_check` (`BENCH_ORGS=N` scales the graph; default 2000
//! organizations ≈ 40k tuples).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use quartet::config::permission::{NamespacesConfig, OplNamespaces};
use quartet::config::{Config, Dsn, Role};
use quartet::permission::namespaces::parse_opl_files;
use quartet::permission::{CheckCache, Engine, Limits, Namespaces, RelationTuple, TupleStore};
use quartet::store::Db;

const OPL: &str = r#"
class User implements Namespace {}
class Group implements Namespace {
  related: { members: (User | SubjectSet<Group, "members">)[] }
}
class Organization implements Namespace {
  related: { owners: User[]  admins: User[]  members: User[] }
  permits = {
    view: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) ||
      this.related.admins.includes(ctx.subject) ||
      this.related.members.includes(ctx.subject),
  }
}
class Gateway implements Namespace {
  related: {
    owners: (User | SubjectSet<Organization, "admins">)[]
    admins: (User | SubjectSet<Organization, "admins">)[]
    members: User[]
    viewers: (User | SubjectSet<Organization, "members">)[]
  }
  permits = {
    view: (ctx: Context): boolean =>
      this.related.owners.includes(ctx.subject) ||
      this.related.admins.includes(ctx.subject) ||
      this.related.members.includes(ctx.subject) ||
      this.related.viewers.includes(ctx.subject),
  }
}
class Folder implements Namespace {
  related: {
    parents: Folder[]
    viewers: (User | SubjectSet<Group, "members">)[]
  }
  permits = {
    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.related.parents.traverse((p) => p.permits.view(ctx)),
  }
}
"#;

fn graph(orgs: usize) -> Vec<RelationTuple> {
    let mut t = Vec::new();
    let mut add = |s: String| t.push(RelationTuple::parse(&s).unwrap());
    for o in 0..orgs {
        for m in 0..5 {
            add(format!("Organization:o{o}#members@u{o}_{m}"));
        }
        add(format!("Organization:o{o}#admins@a{o}"));
        for g in 0..2 {
            add(format!(
                "Gateway:g{o}_{g}#viewers@Organization:o{o}#members"
            ));
            add(format!("Gateway:g{o}_{g}#admins@Organization:o{o}#admins"));
        }
        // nested groups: team -> dept -> users; a 3-level folder chain viewed by the dept
        add(format!("Group:dept{o}#members@Group:team{o}#members"));
        add(format!("Group:team{o}#members@u{o}_0"));
        add(format!("Folder:root{o}#viewers@Group:dept{o}#members"));
        add(format!("Folder:mid{o}#parents@Folder:root{o}"));
        add(format!("Folder:leaf{o}#parents@Folder:mid{o}"));
    }
    t
}

fn bench(c: &mut Criterion) {
    let orgs: usize = std::env::var("BENCH_ORGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let tuples = graph(orgs);
    let (cold, warm) = rt.block_on(async {
        let db = Db::connect(&Dsn::Memory).await.unwrap();
        db.migrate().await.unwrap();
        let store = TupleStore::new(db.clone());
        for chunk in tuples.chunks(5000) {
            store.transact(chunk, &[]).await.unwrap();
        }
        let set = || parse_opl_files(&[("bench.ts".into(), OPL.into())]).unwrap();
        let limits = Limits {
            max_read_depth: 10,
            max_read_width: 100,
        };
        let cold = Engine::new(store.clone(), Namespaces::fixed(set(), false), limits);
        let warm = Engine::new(store, Namespaces::fixed(set(), false), limits)
            .with_cache(CheckCache::new(Duration::from_secs(3600), 1_000_000));
        (cold, warm)
    });
    let o = orgs / 2;
    let cases = [
        ("direct", format!("Organization:o{o}#members@u{o}_3")),
        ("2-hop", format!("Gateway:g{o}_1#view@u{o}_3")),
        ("4-hop", format!("Folder:leaf{o}#view@u{o}_0")),
        ("denied-4-hop", format!("Folder:leaf{o}#view@nobody")),
    ];
    let mut group = c.benchmark_group(format!("check/{} tuples", tuples.len()));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_millis(500));
    for (name, tuple) in &cases {
        let t = RelationTuple::parse(tuple).unwrap();
        let expect = !name.starts_with("denied");
        assert_eq!(
            rt.block_on(cold.check(&t, None)).unwrap(),
            expect,
            "{tuple}"
        );
        group.bench_function(format!("{name}/cold"), |b| {
            b.iter(|| rt.block_on(cold.check(&t, None)).unwrap())
        });
        rt.block_on(warm.check(&t, None)).unwrap();
        group.bench_function(format!("{name}/warm"), |b| {
            b.iter(|| rt.block_on(warm.check(&t, None)).unwrap())
        });
    }
    group.finish();

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
        "{url}/relation-tuples/check?namespace=Gateway&object=g25_1&relation=view&subject_id=u25_3"
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

criterion_group!(benches, bench);
criterion_main!(benches);
