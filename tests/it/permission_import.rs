//! `quartet import tuples FILE` through the real binary against a SQLite file: a first import
//! writes every tuple, a re-run writes none, a file with a bad line or a tuple of an
//! unconfigured namespace exits 1 naming the line and writes nothing, `-` reads a JSON array
//! from stdin, and `dsn: memory` is refused by every import; in-process: many chunks with repeats
//! on SQLite and Postgres, and a chunk refused by the database writes none of its tuples.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn import(dir: &Path, file: &str, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quartet"))
        .args(["import", "tuples", file, "-c"])
        .arg(dir.join("quartet.yml"))
        .current_dir(dir)
        .env_remove("DSN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn import_is_idempotent_and_all_or_nothing_on_parse_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.sqlite");
    std::fs::write(
        dir.path().join("quartet.yml"),
        format!(
            "dsn: sqlite://{}\npermission:\n  namespaces: [{{ id: 0, name: Doc }}, {{ id: 1, name: Group }}]\n",
            db.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tuples.txt"),
        "// fixtures\nDoc:d#owner@alice\n\nDoc:d#viewer@Group:g#members\nGroup:g#members@bob\n",
    )
    .unwrap();

    let out = import(dir.path(), "tuples.txt", "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 3 new tuples (0 already present) from tuples.txt"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("imported 3/3"), "{}", stdout(&out));

    let out = import(dir.path(), "tuples.txt", "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 0 new tuples (3 already present)"),
        "{}",
        stdout(&out)
    );

    std::fs::write(
        dir.path().join("bad.txt"),
        "Doc:e#owner@carol\nDoc:e-owner-dave\n",
    )
    .unwrap();
    let out = import(dir.path(), "bad.txt", "");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("quartet: line 2: "), "{err}");

    // Nothing from the bad file was written: its good first line is still new, and the
    // earlier tuples are still there.
    let json = r#"[
        {"namespace": "Doc", "object": "e", "relation": "owner", "subject_id": "carol"},
        {"namespace": "Doc", "object": "d", "relation": "owner", "subject_id": "alice"}
    ]"#;
    let out = import(dir.path(), "-", json);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 1 new tuples (1 already present) from -"),
        "{}",
        stdout(&out)
    );
}

/// As the write API: a tuple whose namespace, or whose subject set's namespace, is not
/// configured is refused — here for the whole file, naming the line or index, before anything
/// is written.
#[test]
fn import_refuses_tuples_of_unconfigured_namespaces_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.sqlite");
    std::fs::write(
        dir.path().join("quartet.yml"),
        format!(
            "dsn: sqlite://{}\npermission:\n  namespaces: [{{ id: 0, name: Doc }}]\n",
            db.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("nope.txt"),
        "Doc:d#owner@alice\nNope:x#y@z\n",
    )
    .unwrap();
    let out = import(dir.path(), "nope.txt", "");
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with("quartet: line 2: Unknown namespace with name \"Nope\"."),
        "{err}"
    );
    let json = r#"[{"namespace": "Doc", "object": "d", "relation": "viewer",
        "subject_set": {"namespace": "Group", "object": "g", "relation": "members"}}]"#;
    let out = import(dir.path(), "-", json);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("quartet: tuple at index 0: Unknown namespace with name \"Group\"."),
        "{err}"
    );
    // Nothing was written: the good first line of the refused file is still new.
    std::fs::write(dir.path().join("good.txt"), "Doc:d#owner@alice\n").unwrap();
    let out = import(dir.path(), "good.txt", "");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("imported 1 new tuples (0 already present)"),
        "{}",
        stdout(&out)
    );
}

/// `dsn: memory` (in the file or the env DSN) is private to one process: an import into it
/// would be lost when the command exits, so every import refuses it.
#[test]
fn import_into_a_memory_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("quartet.yml"),
        "dsn: memory\npermission:\n  namespaces: [{ id: 0, name: Doc }]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("t.txt"), "Doc:d#owner@alice\n").unwrap();
    std::fs::write(
        dir.path().join("ids.json"),
        r#"{"schema_id": "default", "traits": {"email": "a@example.com"}}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("clients.json"), r#"{"client_id": "c"}"#).unwrap();
    for (kind, file) in [
        ("tuples", "t.txt"),
        ("identities", "ids.json"),
        ("clients", "clients.json"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_quartet"))
            .args(["import", kind, file, "-c", "quartet.yml"])
            .current_dir(dir.path())
            .env_remove("DSN")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{kind}: {}", stdout(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{kind}: {err}");
        assert!(
            err.contains("the data would vanish with the process"),
            "{kind}: {err}"
        );
        assert!(
            !stdout(&out).contains("imported"),
            "{kind}: {}",
            stdout(&out)
        );
    }
    // The env DSN counts as well.
    let out = Command::new(env!("CARGO_BIN_EXE_quartet"))
        .args(["import", "tuples", "t.txt"])
        .current_dir(dir.path())
        .env("DSN", "memory")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the data would vanish with the process"));
}

use crate::common;

use quartet::config::Dsn;
use quartet::permission::import::{import_tuples, Progress, CHUNK};
use quartet::permission::{NamespaceSet, RelationTuple, TupleFilter, TupleStore};
use quartet::store::Db;

/// `n` distinct tuples over both subject kinds, as Keto text lines, plus every tenth line
/// repeated at the end (repeats count as already present).
fn generated(n: usize) -> String {
    let mut lines: Vec<String> = (0..n)
        .map(|i| {
            if i % 3 == 0 {
                format!("Doc:d{}#viewer@Group:g{}#members", i / 7, i)
            } else {
                format!("Doc:d{}#owner@user{i}", i / 7)
            }
        })
        .collect();
    let repeats: Vec<String> = lines.iter().step_by(10).cloned().collect();
    lines.extend(repeats);
    lines.join("\n")
}

/// The namespaces the generated tuples use.
fn known() -> NamespaceSet {
    NamespaceSet::from_names(["Doc", "Group"])
}

async fn count(store: &TupleStore) -> usize {
    store.all(&TupleFilter::default()).await.unwrap().len()
}

async fn import_many_chunks_on(db: Db) {
    let store = TupleStore::new(db.clone());
    let n = 2 * CHUNK + 123;
    let input = generated(n);
    let mut out = Vec::new();
    let summary = import_tuples(&store, &known(), &input, Progress::Lines(&mut out))
        .await
        .unwrap();
    assert_eq!(summary.read, n + n.div_ceil(10));
    assert_eq!(summary.inserted, n);
    assert_eq!(summary.skipped_existing, n.div_ceil(10));
    assert_eq!(count(&store).await, n);
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.lines().last().unwrap() == format!("imported {0}/{0}", summary.read),
        "{out}"
    );

    // A re-run writes nothing; a file overlapping the stored tuples writes only the new ones.
    let again = import_tuples(&store, &known(), &input, Progress::Silent)
        .await
        .unwrap();
    assert_eq!((again.inserted, again.skipped_existing), (0, summary.read));
    let more = format!(
        "{}\nDoc:new#owner@zed\nDoc:new#viewer@Group:g#members",
        generated(10)
    );
    let third = import_tuples(&store, &known(), &more, Progress::Silent)
        .await
        .unwrap();
    assert_eq!((third.inserted, third.skipped_existing), (2, 11));
    assert_eq!(count(&store).await, n + 2);
    let stored: Vec<RelationTuple> = store
        .all(&TupleFilter {
            object: Some("new".into()),
            ..TupleFilter::default()
        })
        .await
        .unwrap();
    let mut shown: Vec<String> = stored.iter().map(ToString::to_string).collect();
    shown.sort();
    assert_eq!(
        shown,
        ["Doc:new#owner@zed", "Doc:new#viewer@Group:g#members"]
    );
    db.close().await;
}

#[tokio::test]
async fn import_in_many_chunks_counts_and_skips_on_sqlite() {
    let db = Db::connect(&Dsn::Memory).await.unwrap();
    db.migrate().await.unwrap();
    import_many_chunks_on(db).await;
}

#[tokio::test]
async fn import_in_many_chunks_counts_and_skips_on_postgres() {
    let Some(pg) = common::pg_database().await else {
        return;
    };
    let db = Db::connect(&pg.dsn).await.unwrap();
    db.migrate().await.unwrap();
    import_many_chunks_on(db).await;
    pg.drop_now().await;
}

#[tokio::test]
async fn a_failed_chunk_writes_none_of_its_tuples() {
    let db = Db::connect(&Dsn::Memory).await.unwrap();
    db.migrate().await.unwrap();
    // A trigger makes the database refuse one tuple of the second chunk.
    sqlx::query(
        "CREATE TRIGGER poison BEFORE INSERT ON permission_relation_tuples \
         WHEN NEW.object = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned tuple'); END",
    )
    .execute(db.pool())
    .await
    .unwrap();
    let store = TupleStore::new(db.clone());
    let mut lines: Vec<String> = (0..CHUNK + 100)
        .map(|i| format!("Doc:d{i}#owner@u{i}"))
        .collect();
    lines.push("Doc:poison#owner@u".into());
    let err = import_tuples(&store, &known(), &lines.join("\n"), Progress::Silent)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("poisoned tuple"), "{err}");
    // The first chunk was committed; nothing of the second.
    assert_eq!(count(&store).await, CHUNK);
    db.close().await;
}
