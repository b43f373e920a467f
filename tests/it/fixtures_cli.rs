//! Fixture files through the real binary: `quartet import identities|clients FILE` (created
//! objects as JSON lines, re-runs skip what is stored, a refused item names its index and the
//! admin API's reason, `-` reads stdin) and `serve --dev --import` with identities, clients and
//! tuples at once — after which the imported password logs in, the imported client gets a
//! token and the imported tuple allows a check.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

const SCHEMA: &str = r#"{
  "$id": "https://schemas.quartet.test/fixtures.schema.json",
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "traits": {
      "type": "object",
      "properties": {
        "email": {
          "type": "string",
          "format": "email",
          "ory.sh/kratos": { "credentials": { "password": { "identifier": true } } }
        }
      },
      "required": ["email"],
      "additionalProperties": false
    }
  }
}"#;

/// A bcrypt (cost 4) hash of "fixture-password-1", imported as Kratos imports hashes.
const HASHED: &str = "$2b$04$abcdefghijklmnopqrstuuEgrq4H.ZdDvmEmMUVjpOq.N9sENhBde";
const HASHED_PASSWORD: &str = "fixture-password-1";

/// `N` distinct ports that were free a moment ago: every listener is held until all are
/// chosen, so the kernel cannot hand the same port out twice.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<_> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// Writes the schema and a config on a SQLite file in `dir` (Kratos' and Hydra's schemas want
/// real port numbers; the others take 0).
fn write_config(dir: &Path) {
    std::fs::write(dir.join("identity.schema.json"), SCHEMA).unwrap();
    let [p1, p2, p3, p4] = free_ports();
    let config = format!(
        "dsn: sqlite://{db}
log: {{ level: info, format: json }}
identity:
  serve: {{ public: {{ port: {p1} }}, admin: {{ port: {p2} }} }}
  identity:
    default_schema_id: default
    schemas: [{{ id: default, url: 'file://{schema}' }}]
oauth2:
  serve: {{ public: {{ port: {p3} }}, admin: {{ port: {p4} }} }}
permission:
  namespaces: [{{ id: 0, name: Doc }}]
  serve: {{ read: {{ port: 0 }}, write: {{ port: 0 }}, metrics: {{ port: 0 }}, opl: {{ port: 0 }} }}
proxy:
  serve: {{ proxy: {{ port: 0 }}, api: {{ port: 0 }}, prometheus: {{ port: 0 }} }}
",
        db = dir.join("db.sqlite").display(),
        schema = dir.join("identity.schema.json").display(),
    );
    std::fs::write(dir.join("quartet.yml"), config).unwrap();
}

fn identities() -> Value {
    json!([
        {"schema_id": "default", "traits": {"email": "ann@example.com"},
         "credentials": {"password": {"config": {"hashed_password": HASHED}}}},
        {"schema_id": "default", "traits": {"email": "bob@example.com"}, "state": "active"}
    ])
}

fn clients() -> Value {
    json!([
        {"client_id": "fixture-client", "client_secret": "fixture-secret-0123456789",
         "grant_types": ["client_credentials"], "scope": "read"},
        {"client_id": "generated-secret", "grant_types": ["client_credentials"]}
    ])
}

fn import(dir: &Path, what: &str, file: &str, stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quartet"))
        .args(["import", what, file, "-c", "quartet.yml"])
        .current_dir(dir)
        .env_remove("DSN")
        .env_remove("LOG_LEVEL")
        .env_remove("LOG_FORMAT")
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

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The summary line on stderr (the log lines are JSON).
fn summary(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with('{')).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_string()
}

#[test]
fn import_identities_creates_each_once_and_names_a_refused_item() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    std::fs::write(dir.path().join("ids.json"), identities().to_string()).unwrap();

    let out = import(dir.path(), "identities", "ids.json", "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = json_lines(&out);
    let emails: Vec<&str> = created
        .iter()
        .map(|i| i["traits"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ann@example.com", "bob@example.com"]);
    assert!(created
        .iter()
        .all(|i| i["id"].as_str().is_some_and(|id| id.len() == 36)));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(HASHED),
        "no credential is printed"
    );
    assert_eq!(
        summary(&out),
        "imported 2 new identities (0 already present) from ids.json"
    );

    // Ann's identifier is taken now: skipped; Bob has no credential, so Kratos' rules make him
    // a new identity each time.
    let again = import(dir.path(), "identities", "ids.json", "");
    assert!(again.status.success());
    assert_eq!(json_lines(&again).len(), 1);
    assert_eq!(
        summary(&again),
        "imported 1 new identities (1 already present) from ids.json"
    );

    let bad = json!([
        {"schema_id": "default", "traits": {"email": "cid@example.com"}},
        {"schema_id": "default", "traits": {"name": "no email"}}
    ]);
    let out = import(dir.path(), "identities", "-", &bad.to_string());
    assert_eq!(out.status.code(), Some(1));
    let line = summary(&out);
    assert!(line.starts_with("quartet: identity at index 1: "), "{line}");
    assert!(line.contains("(400 Bad Request)"), "{line}");

    let out = import(dir.path(), "identities", "-", "[1, 2]");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(summary(&out), "quartet: item 0: expected a JSON object");
}

#[test]
fn import_clients_prints_generated_secrets_and_skips_taken_ids() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    std::fs::write(dir.path().join("clients.json"), clients().to_string()).unwrap();

    let out = import(dir.path(), "clients", "clients.json", "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created = json_lines(&out);
    assert_eq!(created[0]["client_id"], "fixture-client");
    assert_eq!(created[1]["client_id"], "generated-secret");
    let generated = created[1]["client_secret"].as_str().unwrap();
    assert!(
        generated.len() >= 26,
        "a generated secret is shown: {generated}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(generated),
        "secrets never reach the log"
    );

    let again = import(dir.path(), "clients", "clients.json", "");
    assert!(again.status.success());
    assert!(json_lines(&again).is_empty());
    assert_eq!(
        summary(&again),
        "imported 0 new OAuth2 clients (2 already present) from clients.json"
    );

    let one = json!({"client_id": "from-stdin", "redirect_uris": ["not a url"]});
    let out = import(dir.path(), "clients", "-", &one.to_string());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        summary(&out).starts_with("quartet: client at index 0: "),
        "{}",
        summary(&out)
    );
}

/// `serve --dev --import …` until ready; the listeners' URLs by (role, listener).
fn serve(dir: &Path, files: &[&str]) -> (std::process::Child, Vec<(String, String, String)>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_quartet"));
    cmd.args(["serve", "--dev", "-c", "quartet.yml"]);
    for file in files {
        cmd.args(["--import", file]);
    }
    let mut child = cmd
        .current_dir(dir)
        .env_remove("DSN")
        .env_remove("LOG_LEVEL")
        .env_remove("LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut urls = Vec::new();
    let mut log = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        log.push(line.clone());
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let f = &event["fields"];
        if f["message"] == "listening" {
            urls.push((
                f["role"].as_str().unwrap().to_string(),
                f["listener"].as_str().unwrap().to_string(),
                f["url"].as_str().unwrap().to_string(),
            ));
        }
        if f["message"] == "ready" {
            return (child, urls);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("not ready:\n{}", log.join("\n"));
}

fn url(urls: &[(String, String, String)], role: &str, listener: &str) -> String {
    urls.iter()
        .find(|(r, l, _)| r == role && l == listener)
        .map(|(.., u)| u.clone())
        .unwrap()
}

#[tokio::test]
async fn serve_imports_identities_clients_and_tuples_that_then_work() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    std::fs::write(dir.path().join("ids.json"), identities().to_string()).unwrap();
    std::fs::write(dir.path().join("clients.json"), clients().to_string()).unwrap();
    std::fs::write(dir.path().join("tuples.txt"), "Doc:readme#viewer@ann\n").unwrap();
    let (mut child, urls) = serve(dir.path(), &["ids.json", "clients.json", "tuples.txt"]);
    let http = reqwest::Client::new();

    // The imported bcrypt hash logs Ann in through a native login flow.
    let public = url(&urls, "identity", "public");
    let flow: Value = http
        .get(format!("{public}/self-service/login/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let login = http
        .post(flow["ui"]["action"].as_str().unwrap())
        .json(&json!({"method": "password", "identifier": "ann@example.com", "password": HASHED_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    assert!(login["session_token"]
        .as_str()
        .unwrap()
        .starts_with("ory_st_"));

    // The imported client with its given secret gets a token.
    let token = http
        .post(format!("{}/oauth2/token", url(&urls, "oauth2", "public")))
        .basic_auth("fixture-client", Some("fixture-secret-0123456789"))
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let token: Value = token.json().await.unwrap();
    assert_eq!(token["scope"], "read");

    // The imported tuple allows the check.
    let read = url(&urls, "permission", "read");
    let check = |who: &str| {
        format!("{read}/relation-tuples/check?namespace=Doc&object=readme&relation=viewer&subject_id={who}")
    };
    assert_eq!(http.get(check("ann")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(check("bob")).send().await.unwrap().status(), 403);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_refuses_a_fixture_of_mixed_kinds_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let mixed = json!([{"traits": {"email": "a@b.c"}}, {"client_id": "x"}]);
    std::fs::write(dir.path().join("mixed.json"), mixed.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_quartet"))
        .args([
            "serve",
            "--dev",
            "-c",
            "quartet.yml",
            "--import",
            "mixed.json",
        ])
        .current_dir(dir.path())
        .env_remove("DSN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = summary(&out);
    assert_eq!(
        line,
        "quartet: cannot import mixed.json: item 1 holds OAuth2 clients where the items before \
         it hold identities: one kind per file"
    );
}
