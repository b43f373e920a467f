//! The start-up warning about development-grade settings, through the real binary: without
//! `--dev`, one warning line names every such setting (plain-HTTP issuer and URLs, a bcrypt cost
//! raised to 12, `dsn: memory`, generated secrets); with `--dev`, or on a production config, no
//! such line.

use crate::security::harness;

use harness::{Options, Server};

const SCHEMA: &str = include_str!("../../src/config/default_identity.schema.json");
const PREFIX: &str = "development-grade settings";

/// A config that runs every role on development-grade settings.
const DEVELOPMENT: &str = "\
dsn: memory
identity:
  identity:
    default_schema_id: default
    schemas: [{id: default, url: 'file://./identity.schema.json'}]
  serve:
    public:
      base_url: http://id.example.test/
  selfservice:
    default_browser_return_url: http://app.example.test/
  hashers:
    bcrypt:
      cost: 4
oauth2:
  urls:
    self:
      issuer: http://auth.example.test/
";

fn start(config: String, dev: bool) -> Server {
    Server::start(Options {
        config,
        files: vec![("identity.schema.json".into(), SCHEMA.into())],
        dev,
        ..Options::default()
    })
}

/// The messages of the warnings that name development-grade settings.
fn development_warnings(server: &Server) -> Vec<String> {
    server
        .log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["level"] == "WARN")
        .filter_map(|event| event["fields"]["message"].as_str().map(str::to_string))
        .filter(|message| message.starts_with(PREFIX))
        .collect()
}

#[test]
fn without_dev_one_line_names_every_development_grade_setting() {
    let server = start(DEVELOPMENT.into(), false);
    let warnings = development_warnings(&server);
    assert_eq!(warnings.len(), 1, "{}", server.log_text());
    let line = &warnings[0];
    for expected in [
        "dsn is memory",
        "oauth2.urls.self.issuer is plain HTTP (http://auth.example.test/)",
        "identity.serve.public.base_url is plain HTTP (http://id.example.test/)",
        "identity.selfservice.default_browser_return_url is plain HTTP (http://app.example.test/)",
        "identity.hashers.bcrypt.cost 4 is below 12 (raised to 12)",
        "identity.secrets.cookie is unset",
        "oauth2.secrets.system is unset",
    ] {
        assert!(line.contains(expected), "{expected:?} missing from {line}");
    }
}

#[test]
fn an_unset_issuer_is_named_and_only_served_roles_count() {
    let server = Server::start(Options {
        config:
            "dsn: memory\noauth2:\n  secrets:\n    system: [a-system-secret-of-32-characters]\n"
                .into(),
        roles: vec!["oauth2".into(), "permission".into()],
        ..Options::default()
    });
    let warnings = development_warnings(&server);
    assert_eq!(warnings.len(), 1, "{}", server.log_text());
    assert!(warnings[0].contains("oauth2.urls.self.issuer is unset"));
    assert!(warnings[0].contains("dsn is memory"));
    // The identity role is not served: its settings are not named; the secret never is.
    assert!(!warnings[0].contains("identity."), "{}", warnings[0]);
    assert!(!server.log_text().contains("a-system-secret"));
}

#[test]
fn with_dev_no_such_line() {
    let server = start(DEVELOPMENT.into(), true);
    assert_eq!(
        development_warnings(&server),
        Vec::<String>::new(),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_production_config_has_no_such_line() {
    let db = tempfile::tempdir().unwrap();
    let config = format!(
        "\
dsn: sqlite://{}/quartet.sqlite
identity:
  identity:
    default_schema_id: default
    schemas: [{{id: default, url: 'file://./identity.schema.json'}}]
  serve:
    public:
      base_url: https://id.example.test/
  selfservice:
    default_browser_return_url: https://app.example.test/
  secrets:
    cookie: [a-cookie-secret-of-32-characters-at-least]
  hashers:
    bcrypt:
      cost: 12
oauth2:
  urls:
    self:
      issuer: https://auth.example.test/
  secrets:
    system: [a-system-secret-of-32-characters-at-least]
",
        db.path().display()
    );
    let server = start(config, false);
    assert_eq!(
        development_warnings(&server),
        Vec::<String>::new(),
        "{}",
        server.log_text()
    );
}
