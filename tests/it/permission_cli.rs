//! The permission CLI through the real binary: `quartet opl check FILE...` (valid files exit 0;
//! an invalid file prints `file:line:col`, the source line and a caret, and exits 1) and
//! `quartet serve --import FILE...` (fixtures loaded before the listeners are ready; a bad or
//! missing file is one line naming it, exit 1).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

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

const SERVE_CONFIG: &str = "dsn: memory
log: { level: info, format: json }
permission:
  namespaces: [{ id: 0, name: Doc }, { id: 1, name: Group }]
  serve:
    read: { port: 0 }
    write: { port: 0 }
    metrics: { port: 0 }
    opl: { port: 0 }
";

/// `GET path` on `addr` (HTTP/1.0, so the server closes the connection); the status code.
fn http_status(addr: &str, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"))
}

fn serve_importing(dir: &Path, files: &[&str]) -> std::process::Child {
    std::fs::write(dir.join("quartet.yml"), SERVE_CONFIG).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quartet"));
    cmd.args(["serve", "permission", "-c", "quartet.yml"]);
    for file in files {
        cmd.args(["--import", file]);
    }
    cmd.current_dir(dir)
        .env_remove("DSN")
        .env_remove("LOG_LEVEL")
        .env_remove("LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn serve_import_loads_fixtures_before_ready() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.txt"),
        "Doc:readme#viewer@Group:eng#members\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        r#"[{"namespace": "Group", "object": "eng", "relation": "members", "subject_id": "ada"}]"#,
    )
    .unwrap();
    let mut child = serve_importing(dir.path(), &["a.txt", "b.json"]);
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut read_addr = None;
    let mut log = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        log.push(line.clone());
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let fields = &event["fields"];
        if fields["message"] == "listening" && fields["listener"] == "read" {
            let url = fields["url"].as_str().unwrap();
            read_addr = Some(url.trim_start_matches("http://").to_string());
        }
        if fields["message"] == "ready" {
            break;
        }
    }
    let read_addr = read_addr.unwrap_or_else(|| panic!("no read listener in:\n{}", log.join("\n")));
    assert!(
        log.iter()
            .any(|l| l.contains("imported relation tuples") && l.contains("b.json")),
        "{}",
        log.join("\n")
    );
    let check = "/relation-tuples/check?namespace=Doc&object=readme&relation=viewer&subject_id=";
    assert_eq!(http_status(&read_addr, &format!("{check}ada")), 200);
    assert_eq!(http_status(&read_addr, &format!("{check}bob")), 403);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_import_errors_name_the_file_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.txt"), "Doc:d#owner@alice\n").unwrap();
    std::fs::write(
        dir.path().join("bad.txt"),
        "Doc:d#owner@alice\nDoc:d-owner\n",
    )
    .unwrap();
    for (files, expected) in [
        (
            vec!["good.txt", "missing.txt"],
            "quartet: cannot import missing.txt: ",
        ),
        (vec!["bad.txt"], "quartet: cannot import bad.txt: line 2: "),
    ] {
        let child = serve_importing(dir.path(), &files);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with('{')).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].starts_with(expected), "{err}");
    }
}
