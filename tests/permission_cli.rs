//! `quartet opl check FILE...` through the real binary: valid files exit 0; an invalid file
//! prints `file:line:col`, the source line and a caret, and exits 1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn opl_check_reports_positions_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/imprun/namespaces.keto.ts");
    let out = Command::new(env!("CARGO_BIN_EXE_quartet"))
        .args(["opl", "check"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let bad = dir.path().join("bad.keto.ts");
    std::fs::write(
        &bad,
        "class User implements Namespace {}\nclass Doc implements Namespace {\n  related: { owners: Nobody[] }\n}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quartet"))
        .args(["opl", "check"])
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{}:3:", bad.display())),
        "no file:line:col in:\n{text}"
    );
    assert!(
        text.contains("namespace \"Nobody\" was not declared"),
        "{text}"
    );
    assert!(
        text.contains("owners: Nobody[]"),
        "no source line in:\n{text}"
    );
    assert!(text.contains('^'), "no caret in:\n{text}");
}
