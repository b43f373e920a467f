//! Data-driven permission cases: every `tests/data/permission/*.yaml` and
//! `tests/data/permission/spicedb/*.yaml` (translated from SpiceDB's test configs by
//! `scripts/translate-spicedb`) — namespaces or OPL, tuples, expected checks and expands — runs
//! against the engine on SQLite, and also on
//! PostgreSQL when `TEST_DATABASE_URL` is set. Every check case is also compared with the
//! reverse lookups (objects and subjects), which must agree with check over the whole corpus.

use std::path::{Path, PathBuf};

use quartet::config::{Dsn, Secret};
use quartet::permission::engine::{Tree, TreeKind};
use quartet::permission::http::ApiState;
use quartet::permission::namespaces::parse_opl_files;
use quartet::permission::{
    lookup, Engine, Limits, NamespaceSet, Namespaces, RelationTuple, Subject, SubjectSet,
    TupleStore,
};
use quartet::store::Db;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// Where a translated case comes from (`scripts/translate-spicedb`); named in failures.
    source: Option<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    opl: Option<String>,
    opl_file: Option<String>,
    #[serde(default)]
    strict: bool,
    max_read_depth: Option<i32>,
    max_read_width: Option<usize>,
    #[serde(default)]
    tuples: Vec<String>,
    #[serde(default)]
    checks: Vec<CheckCase>,
    #[serde(default)]
    expands: Vec<ExpandCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckCase {
    tuple: String,
    allowed: Option<bool>,
    error: Option<String>,
    max_depth: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpandCase {
    set: String,
    max_depth: Option<i64>,
    tree: Option<serde_json::Value>,
}

fn normalize(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            serde_json::Value::Object(m.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        serde_json::Value::Array(items) => {
            let mut items: Vec<_> = items.into_iter().map(normalize).collect();
            items.sort_by_key(|i| i.to_string());
            serde_json::Value::Array(items)
        }
        other => other,
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn subject_of(s: &str) -> Subject {
    match s.split_once(':') {
        Some((ns, rest)) => {
            let (obj, rel) = rest.split_once('#').unwrap_or((rest, ""));
            Subject::Set(SubjectSet {
                namespace: ns.into(),
                object: obj.into(),
                relation: rel.into(),
            })
        }
        None => Subject::Id(s.into()),
    }
}

fn tree_yaml(t: &Tree) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    let key = match t.kind {
        TreeKind::Union => "union",
        TreeKind::Leaf => "leaf",
    };
    m.insert(key.into(), t.subject.to_string().into());
    if !t.children.is_empty() {
        m.insert(
            "children".into(),
            serde_json::Value::Array(t.children.iter().map(tree_yaml).collect()),
        );
    }
    serde_json::Value::Object(m)
}

/// What is wrong with a check's answer, or `None` when it is the expected one.
fn misjudged<E: std::fmt::Display + std::fmt::Debug>(
    c: &CheckCase,
    got: &Result<bool, E>,
) -> Option<String> {
    match (got, c.allowed, &c.error) {
        (Ok(a), Some(want), None) if *a == want => None,
        (Err(e), None, Some(want)) if e.to_string().contains(want.as_str()) => None,
        _ => Some(format!(
            "{} (max_depth {:?}): got {got:?}, want allowed={:?} error={:?}",
            c.tuple, c.max_depth, c.allowed, c.error
        )),
    }
}

async fn databases() -> Vec<(String, Db, Option<(String, String)>)> {
    let mut out = vec![(
        "sqlite".to_string(),
        Db::connect(&Dsn::Memory).await.unwrap(),
        None,
    )];
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        let name = format!("quartet_perm_{}", uuid_like());
        let admin = Db::connect(&Dsn::Postgres(Secret::new(url.clone())))
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.pool())
            .await
            .unwrap();
        admin.close().await;
        let (base, _) = url.rsplit_once('/').unwrap();
        let db_url = format!("{base}/{name}");
        out.push((
            "postgres".into(),
            Db::connect(&Dsn::Postgres(Secret::new(db_url)))
                .await
                .unwrap(),
            Some((url, name)),
        ));
    }
    out
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn load_cases() -> Vec<(PathBuf, Case)> {
    let dir = repo().join("tests/data/permission");
    // this directory and `spicedb/` (translated by scripts/translate-spicedb)
    let mut files: Vec<PathBuf> = [dir.clone(), dir.join("spicedb")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(
        files
            .iter()
            .filter(|f| f.starts_with(dir.join("spicedb")))
            .count()
            >= 25,
        "the translated SpiceDB cases are missing from {}",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let case: Case = quartet::config::yaml::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, case)
        })
        .collect()
}

fn namespace_set(case: &Case, path: &Path) -> NamespaceSet {
    let text = match (&case.opl, &case.opl_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(f)) => Some(std::fs::read_to_string(repo().join(f)).unwrap()),
        (None, None) => None,
    };
    match text {
        Some(t) => parse_opl_files(&[(path.display().to_string(), t)])
            .unwrap_or_else(|e| panic!("{}: OPL errors: {e:?}", path.display())),
        None => NamespaceSet::from_names(case.namespaces.clone()),
    }
}

#[tokio::test]
async fn permission_cases() {
    let cases = load_cases();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (backend, db, pg) in databases().await {
        db.migrate().await.unwrap();
        for (path, case) in &cases {
            sqlx::query("DELETE FROM permission_relation_tuples")
                .execute(db.pool())
                .await
                .unwrap();
            let store = TupleStore::new(db.clone());
            let tuples: Vec<RelationTuple> = case
                .tuples
                .iter()
                .map(|t| RelationTuple::parse(t).unwrap())
                .collect();
            store.transact(&tuples, &[]).await.unwrap();
            let limits = Limits {
                max_read_depth: case.max_read_depth.unwrap_or(5),
                max_read_width: case.max_read_width.unwrap_or(100),
            };
            let engine = Engine::new(
                store,
                Namespaces::fixed(namespace_set(case, path), case.strict),
                limits,
            );
            let state = ApiState::new(engine.clone(), 10, 5);
            let at = |what: &str| {
                let from = case.source.as_deref().unwrap_or("");
                format!(
                    "[{backend}] {} ({}) {from}: {what}",
                    case.name,
                    path.display()
                )
            };
            for c in &case.checks {
                let t = RelationTuple::parse(&c.tuple).unwrap();
                let got = engine.check(&t, c.max_depth).await;
                checked += 1;
                if let Some(wrong) = misjudged(c, &got) {
                    failures.push(at(&format!("check {wrong}")));
                }
                // reverse lookups agree with check
                if let (Ok(allowed), Subject::Id(_)) = (&got, &t.subject) {
                    let (objects, _) = lookup::objects(
                        &state,
                        &t.namespace,
                        &t.relation,
                        &t.subject,
                        c.max_depth,
                        "",
                        1000,
                    )
                    .await
                    .unwrap();
                    if objects.contains(&t.object) != *allowed {
                        failures.push(at(&format!(
                            "lookup objects disagrees with check {}: {objects:?}",
                            c.tuple
                        )));
                    }
                    let Subject::Id(id) = &t.subject else {
                        unreachable!()
                    };
                    let (subjects, _) = lookup::subjects(
                        &state,
                        &t.namespace,
                        &t.object,
                        &t.relation,
                        c.max_depth,
                        "",
                        1000,
                    )
                    .await
                    .unwrap();
                    if subjects.contains(id) != *allowed {
                        failures.push(at(&format!(
                            "lookup subjects disagrees with check {}: {subjects:?}",
                            c.tuple
                        )));
                    }
                }
            }
            // the same checks all at once: concurrent checks share statements
            // (`TupleStore::lookup_many`), and each must still get its own answer
            let concurrent = futures::future::join_all(case.checks.iter().map(|c| {
                let engine = engine.clone();
                async move {
                    let t = RelationTuple::parse(&c.tuple).unwrap();
                    (c, engine.check(&t, c.max_depth).await)
                }
            }))
            .await;
            for (c, got) in concurrent {
                if let Some(wrong) = misjudged(c, &got) {
                    failures.push(at(&format!("concurrent check {wrong}")));
                }
            }
            for e in &case.expands {
                let Subject::Set(root) = subject_of(&e.set) else {
                    panic!("expand set must be ns:obj#rel: {}", e.set)
                };
                let got = engine.expand(&root, e.max_depth).await.unwrap();
                // children come in storage order (random keys, as Keto's shard ids): compare
                // them as sets
                let got = got.as_ref().map(tree_yaml).map(normalize);
                let want = e.tree.clone().map(normalize);
                if got != want {
                    failures.push(at(&format!(
                        "expand {}: got {}, want {}",
                        e.set,
                        serde_saphyr::to_string(&got).unwrap(),
                        serde_saphyr::to_string(&e.tree).unwrap()
                    )));
                }
            }
        }
        db.close().await;
        if let Some((url, name)) = pg {
            let admin = Db::connect(&Dsn::Postgres(Secret::new(url))).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(admin.pool())
                .await
                .unwrap();
            admin.close().await;
        }
    }
    assert!(checked > 20, "too few checks ran: {checked}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_check_expectation_is_complete() {
    for (path, case) in load_cases() {
        for c in &case.checks {
            assert!(
                c.allowed.is_some() != c.error.is_some(),
                "{}: {} needs exactly one of allowed / error",
                path.display(),
                c.tuple
            );
        }
    }
}
