//! The command line's bad-input contract: exit code 1 and one clear line naming the key, file,
//! DSN or port and role — no panic, no backtrace.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn quartet(args: &[&str], dir: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quartet"))
        .args(args)
        .current_dir(dir)
        .env_remove("DSN")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("quartet {args:?} did not exit within 15 s");
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect()
}

fn assert_one_line_failure(out: &Output, expected: &str) {
    let lines = stderr_lines(out);
    assert_eq!(out.status.code(), Some(1), "stderr: {lines:?}");
    let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("quartet:")).collect();
    assert_eq!(
        errors.len(),
        1,
        "exactly one error line expected: {lines:?}"
    );
    assert!(
        errors[0].contains(expected),
        "{:?} should contain {expected:?}",
        errors[0]
    );
    let all = lines.join("\n");
    assert!(
        !all.contains("panicked") && !all.contains("stack backtrace"),
        "{all}"
    );
}

fn config(dir: &Path, text: &str) -> String {
    let path = dir.join("quartet.yml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_port_already_in_use_names_the_port_and_the_role() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let cfg = config(
        dir.path(),
        &format!("dsn: memory\npermission:\n  serve:\n    write: {{port: {port}}}\n"),
    );
    let out = quartet(&["serve", "permission", "-c", &cfg], dir.path());
    assert_one_line_failure(
        &out,
        &format!("cannot listen on 127.0.0.1:{port} for permission (write)"),
    );
}

#[test]
fn an_unreachable_database_names_the_dsn_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "dsn: postgres://quartet:hunter2@127.0.0.1:1/quartet\n",
    );
    let out = quartet(&["serve", "-c", &cfg], dir.path());
    assert_one_line_failure(
        &out,
        "cannot connect to the database postgres://quartet:xxxxx@127.0.0.1:1/quartet",
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
}

#[test]
fn an_invalid_dsn_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "dsn: mysql://root@db/x\n");
    let out = quartet(&["serve", "-c", &cfg], dir.path());
    assert_one_line_failure(&out, "invalid DSN mysql://root@db/x");
}

#[test]
fn an_unreadable_file_reference_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "dsn: memory\nproxy: file:///nonexistent/oathkeeper.yml\n",
    );
    let out = quartet(&["serve", "-c", &cfg], dir.path());
    assert_one_line_failure(&out, "cannot read config file /nonexistent/oathkeeper.yml");
}

#[test]
fn a_wrong_type_and_an_unknown_key_are_named_by_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "dsn: memory\noauth2:\n  serve:\n    admin: {port: nope}\n",
    );
    let out = quartet(&["check-config", "-c", &cfg], dir.path());
    assert_one_line_failure(&out, "invalid value at oauth2.serve.admin.port");
    let cfg = config(
        dir.path(),
        "dsn: memory\noauth2:\n  urls: {selff: {issuer: x}}\n",
    );
    let out = quartet(&["check-config", "-c", &cfg], dir.path());
    assert_one_line_failure(&out, "unknown key oauth2.urls.selff");
}

#[test]
fn serve_without_dsn_and_without_dev_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = quartet(&["serve"], dir.path());
    assert_one_line_failure(&out, "no dsn set");
}

#[test]
fn migrate_applies_migrations_to_a_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.sqlite");
    let cfg = config(dir.path(), &format!("dsn: sqlite://{}\n", db.display()));
    let out = quartet(&["migrate", "-c", &cfg], dir.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    assert!(db.exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
}

#[test]
fn version_prints_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = quartet(&["version"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(version.starts_with("quartet v"));
    for flag in ["--version", "-V"] {
        let out = quartet(&[flag], dir.path());
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&out.stdout), version, "{flag}");
    }
}

/// The entries (flags and arguments) of a `--help` text without a description.
fn undescribed(help: &str) -> Vec<String> {
    let mut missing = Vec::new();
    let mut in_list = false;
    let lines: Vec<&str> = help.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.ends_with(':') && !line.starts_with(' ') {
            in_list = matches!(*line, "Options:" | "Arguments:");
            continue;
        }
        let entry = line.trim_start();
        let indent = line.len() - entry.len();
        if !in_list || !(2..=6).contains(&indent) || !entry.starts_with(['-', '<', '[']) {
            continue;
        }
        // `  -c, --config <CONFIG>  Description`, or the description on the next line, indented
        // deeper than any entry (clap: 10 spaces).
        let inline = entry
            .split_once("  ")
            .is_some_and(|(_, d)| !d.trim().is_empty());
        let below = lines.get(i + 1).is_some_and(|next| {
            let rest = next.trim_start();
            !rest.is_empty() && next.len() - rest.len() > 6
        });
        if !inline && !below {
            missing.push(entry.to_string());
        }
    }
    missing
}

#[test]
fn every_flag_and_argument_of_every_command_is_described() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        &[][..],
        &["serve"],
        &["migrate"],
        &["check-config"],
        &["opl", "check"],
        &["import", "identities"],
        &["import", "clients"],
        &["import", "tuples"],
        &["janitor"],
        &["version"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = quartet(&args, dir.path());
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            undescribed(&help),
            Vec::<String>::new(),
            "{args:?}:\n{help}"
        );
    }
    // The parser itself finds an undescribed entry.
    assert_eq!(
        undescribed("Options:\n  -c, --config <CONFIG>\n  -h, --help  Print help\n"),
        vec!["-c, --config <CONFIG>".to_string()]
    );
    let help = String::from_utf8_lossy(&quartet(&["opl", "check", "--help"], dir.path()).stdout)
        .into_owned();
    assert!(help.contains("<FILES>..."), "{help}");
}

/// `check-config --dev` loads a config as `serve --dev` does: no `dsn` needed, and the dev
/// defaults listed; without `--dev` the same file is refused for its missing `dsn`.
#[test]
fn check_config_dev_validates_as_serve_dev_would() {
    let dir = tempfile::tempdir().unwrap();
    let out = quartet(&["check-config", "--dev"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for note in [
        "note: dev default: identity.identity.schemas = ",
        "note: dev default: identity.selfservice.flows.registration.after.hooks = [session]",
        "note: dev default: identity.quartet.brute_force.enabled = false",
        "note: dev default: oauth2.urls.self.issuer = http://localhost:4444/",
        "note: dev default: permission.namespaces = the seed's OPL model",
    ] {
        assert!(text.contains(note), "{note:?} missing from {text}");
    }
    assert!(
        text.contains("the built-in --dev config: ok (dsn memory)"),
        "{text}"
    );
    assert!(!text.contains("development-grade settings"), "{text}");

    let cfg = config(
        dir.path(),
        "identity:\n  quartet:\n    brute_force:\n      enabled: true\n",
    );
    let out = quartet(&["check-config", "--dev", "-c", &cfg], dir.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("brute_force.enabled = false"), "{text}");
    assert!(text.contains(&format!("{cfg}: ok (dsn memory)")), "{text}");
    let out = quartet(&["check-config", "-c", &cfg], dir.path());
    assert_one_line_failure(&out, "no dsn set");

    // Without --dev a file is required; an error in it fails --dev as well.
    let out = quartet(&["check-config"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let cfg = config(dir.path(), "identity:\n  nope: 1\n");
    let out = quartet(&["check-config", "--dev", "-c", &cfg], dir.path());
    assert_one_line_failure(&out, "unknown key identity.nope");
}

#[test]
fn janitor_cleans_a_database_named_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("q.sqlite");
    let dsn = format!("sqlite://{}", db.display());
    let out = quartet(
        &[
            "janitor",
            &dsn,
            "--keep-if-younger",
            "24h",
            "--batch-size",
            "10",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for what in [
        "deleted 0 expired sessions",
        "deleted 0 expired self-service flows",
        "deleted 0 expired access tokens",
        "deleted 0 login, consent and logout requests",
        "deleted 0 expired trust relationships",
    ] {
        assert!(stdout.contains(what), "{what:?} missing from {stdout}");
    }
    // --tokens alone: only the token tables (Hydra's selection flags).
    let out = quartet(&["janitor", &dsn, "--tokens"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("expired refresh tokens"), "{stdout}");
    assert!(
        !stdout.contains("sessions") && !stdout.contains("requests"),
        "{stdout}"
    );
}

#[test]
fn janitor_refuses_bad_bounds_and_a_private_memory_database() {
    let dir = tempfile::tempdir().unwrap();
    let dsn = format!("sqlite://{}", dir.path().join("q.sqlite").display());
    let out = quartet(
        &["janitor", &dsn, "--limit", "5", "--batch-size", "10"],
        dir.path(),
    );
    assert_one_line_failure(&out, "--batch-size must not be greater than --limit");
    let out = quartet(&["janitor", &dsn, "--limit", "0"], dir.path());
    assert_one_line_failure(&out, "greater than 0");
    let out = quartet(&["janitor", "memory"], dir.path());
    assert_one_line_failure(&out, "janitor.interval");
    let cfg = config(dir.path(), "dsn: memory\njanitor:\n  batch_size: 0\n");
    let out = quartet(&["janitor", "-c", &cfg], dir.path());
    assert_one_line_failure(&out, "janitor");
}

#[test]
fn janitor_help_names_hydras_and_kratos_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = quartet(&["janitor", "--help"], dir.path());
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--keep-if-younger",
        "--access-lifespan",
        "--refresh-lifespan",
        "--consent-request-lifespan",
        "--limit",
        "--batch-size",
        "--tokens",
        "--requests",
        "--grants",
        "--config",
        "--sleep",
    ] {
        assert!(help.contains(flag), "{flag} missing from {help}");
    }
}

/// A config file is read with bounded work: alias amplification and deep nesting are one parse
/// error each, at once — not minutes of work, gigabytes of memory or a stack overflow.
#[test]
fn yaml_alias_amplification_and_deep_nesting_are_parse_errors_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // 150 kB whose one anchor of 50,000 items is replayed 1,001 times (50 million values).
    let mut amplified = String::from("dsn: memory\nx: &a [");
    amplified.push_str(&"x, ".repeat(50_000));
    amplified.push_str("x]\ny: [");
    amplified.push_str(&"*a, ".repeat(1_000));
    amplified.push_str("*a]\n");
    // The classic "billion laughs": ten levels of nine aliases each.
    let mut laughs =
        String::from("dsn: memory\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let flow = format!(
        "dsn: memory\nx: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let block: String = std::iter::once("dsn: memory\n".to_string())
        .chain((0..10_000).map(|i| format!("{}k:\n", " ".repeat(i))))
        .collect();
    for (name, text) in [
        ("amplified", amplified),
        ("laughs", laughs),
        ("flow", flow),
        ("block", block),
    ] {
        let cfg = config(dir.path(), &text);
        for command in ["check-config", "serve"] {
            let started = std::time::Instant::now();
            let out = quartet(&[command, "-c", &cfg], dir.path());
            assert_one_line_failure(&out, "cannot parse");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{name}: {command} took {:?}",
                started.elapsed()
            );
        }
    }
}
