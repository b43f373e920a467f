//! `quartet import tuples FILE` through the real binary against a SQLite file: a first import
//! writes every tuple, a re-run writes none, a file with a bad line exits 1 naming the line and
//! writes nothing, and `-` reads a JSON array from stdin.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
        format!("dsn: sqlite://{}\n", db.display()),
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
