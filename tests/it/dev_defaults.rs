//! What a bare `quartet serve --dev` gives every role, through the real binary: the permission
//! role serves the seed's OPL model (a tuple written is then checked), brute-force protection is
//! off and a registration signs the new identity in — each announced as a dev default at start
//! — while an explicit config value wins over each, and without `--dev` brute-force protection
//! stays on. (`check-config --dev` shows the same defaults: `cli.rs`.)

use serde_json::{json, Value};

use crate::security::harness::{client, Options, Server};

/// The messages of the `dev default:` notes the server logged at start.
fn dev_notes(server: &Server) -> Vec<String> {
    server
        .log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|event| event["fields"]["message"].as_str().map(str::to_string))
        .filter(|message| message.starts_with("dev default:"))
        .collect()
}

fn noted(server: &Server, key: &str) -> bool {
    dev_notes(server)
        .iter()
        .any(|n| n.starts_with(&format!("dev default: {key} = ")))
}

/// The README's example on a bare `serve --dev`: a tuple written through the write API, then
/// checked through the read API, in the seed's `Organization` / `Gateway` model.
#[tokio::test]
async fn permission_role_on_bare_serve_dev_writes_and_checks_tuples_of_the_seed_model() {
    let server = Server::dev();
    assert!(
        noted(&server, "permission.namespaces"),
        "{}",
        server.log_text()
    );
    assert!(
        !server.log_text().contains("does not exist"),
        "{}",
        server.log_text()
    );
    let (read, write) = (
        server.url("permission", "read"),
        server.url("permission", "write"),
    );
    let http = client();
    let names: Value = http
        .get(format!("{read}/namespaces"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        names,
        json!({"namespaces": [{"name": "User"}, {"name": "Organization"}, {"name": "Gateway"}]})
    );
    for tuple in [
        json!({"namespace": "Organization", "object": "acme", "relation": "members", "subject_id": "alice"}),
        json!({"namespace": "Gateway", "object": "gw-1", "relation": "viewers",
            "subject_set": {"namespace": "Organization", "object": "acme", "relation": "members"}}),
    ] {
        let r = http
            .put(format!("{write}/admin/relation-tuples"))
            .json(&tuple)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let check = |object: &str, relation: &str, who: &str| {
        let url = format!(
            "{read}/relation-tuples/check?namespace=Gateway&object={object}&relation={relation}&subject_id={who}"
        );
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body["allowed"].clone())
        }
    };
    assert_eq!(check("gw-1", "view", "alice").await, (200, json!(true)));
    assert_eq!(check("gw-1", "view", "bob").await, (403, json!(false)));
    assert_eq!(check("gw-1", "delete", "alice").await, (403, json!(false)));
    // A namespace the model does not declare is refused, as by Keto.
    let r = http
        .put(format!("{write}/admin/relation-tuples"))
        .json(&json!({"namespace": "Nope", "object": "x", "relation": "y", "subject_id": "z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// Configured namespaces are served as configured, `--dev` or not.
#[tokio::test]
async fn permission_namespaces_configured_under_dev_win_over_the_seed_model() {
    let server = Server::start(Options {
        dev: true,
        config: "permission:\n  namespaces: [{ id: 0, name: Doc }]\n".into(),
        roles: vec!["permission".into()],
        ..Options::default()
    });
    assert!(
        !noted(&server, "permission.namespaces"),
        "{}",
        server.log_text()
    );
    let names: Value = client()
        .get(format!("{}/namespaces", server.url("permission", "read")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(names, json!({"namespaces": [{"name": "Doc"}]}));
}

/// The identity role of one running server, driven through its public and admin APIs.
struct Kratos {
    server: Server,
    http: reqwest::Client,
}

impl Kratos {
    fn start(dev: bool, config: &str) -> Kratos {
        Kratos {
            server: Server::start(Options {
                dev,
                config: config.to_string(),
                roles: vec!["identity".into()],
                ..Options::default()
            }),
            http: client(),
        }
    }

    async fn create(&self, email: &str, password: &str) {
        let r = self
            .http
            .post(format!(
                "{}/admin/identities",
                self.server.url("identity", "admin")
            ))
            .json(&json!({"schema_id": "default", "traits": {"email": email},
                "credentials": {"password": {"config": {"password": password}}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    /// Submits a new API flow of `kind` with `body`: the status and the answer.
    async fn submit(&self, kind: &str, body: Value) -> (u16, Value) {
        let public = self.server.url("identity", "public");
        let flow: Value = self
            .http
            .get(format!("{public}/self-service/{kind}/api"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let action = flow["ui"]["action"].as_str().unwrap();
        let r = self.http.post(action).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    async fn login(&self, email: &str, password: &str) -> u16 {
        self.submit(
            "login",
            json!({"method": "password", "identifier": email, "password": password}),
        )
        .await
        .0
    }

    /// `wrong` wrong passwords (each answered 400), then the right one: its status.
    async fn right_after_wrong(&self, wrong: usize) -> u16 {
        self.create("ann@example.com", "the-right-password").await;
        for _ in 0..wrong {
            assert_eq!(self.login("ann@example.com", "wrong-guess").await, 400);
        }
        self.login("ann@example.com", "the-right-password").await
    }
}

const SCHEMA: &str = include_str!("../../src/config/default_identity.schema.json");

/// A config without `--dev`: the built-in schema named by hand, and a memory database.
fn production_like(extra: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(SCHEMA);
    format!(
        "dsn: memory\nidentity:\n  identity:\n    default_schema_id: default\n    schemas: [{{id: default, url: 'base64://{encoded}'}}]\n{extra}"
    )
}

#[tokio::test]
async fn identity_brute_force_protection_is_off_under_dev() {
    let k = Kratos::start(true, "");
    assert!(
        noted(&k.server, "identity.quartet.brute_force.enabled"),
        "{}",
        k.server.log_text()
    );
    assert_eq!(k.right_after_wrong(12).await, 200);
}

#[tokio::test]
async fn identity_brute_force_protection_explicitly_enabled_under_dev_throttles() {
    let k = Kratos::start(
        true,
        "identity:\n  quartet:\n    brute_force:\n      enabled: true\n      base_delay: 60s\n",
    );
    assert!(!noted(&k.server, "identity.quartet.brute_force.enabled"));
    assert_eq!(k.right_after_wrong(5).await, 429);
}

#[tokio::test]
async fn identity_brute_force_protection_stays_on_without_dev_unless_disabled() {
    let k = Kratos::start(
        false,
        &production_like("  quartet:\n    brute_force:\n      base_delay: 60s\n"),
    );
    assert_eq!(k.right_after_wrong(5).await, 429);
    let k = Kratos::start(
        false,
        &production_like("  quartet:\n    brute_force:\n      enabled: false\n"),
    );
    assert_eq!(k.right_after_wrong(12).await, 200);
    assert!(
        k.server
            .log_text()
            .contains("identity.quartet.brute_force.enabled is false"),
        "{}",
        k.server.log_text()
    );
}

fn registration(email: &str) -> Value {
    json!({"method": "password", "traits": {"email": email}, "password": "a-long-secret-pw-42"})
}

#[tokio::test]
async fn identity_registration_under_dev_runs_the_session_hook() {
    let k = Kratos::start(true, "");
    assert!(
        noted(
            &k.server,
            "identity.selfservice.flows.registration.after.hooks"
        ),
        "{}",
        k.server.log_text()
    );
    let (status, body) = k
        .submit("registration", registration("new@example.com"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["session_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("ory_st_")),
        "{body}"
    );
    assert_eq!(
        body["session"]["identity"]["traits"]["email"],
        "new@example.com"
    );
}

/// Hooks configured for registration are run as configured: `--dev` adds none.
#[tokio::test]
async fn identity_registration_hooks_configured_under_dev_win() {
    let k = Kratos::start(
        true,
        "identity:\n  selfservice:\n    flows:\n      registration:\n        after:\n          password:\n            hooks:\n              - hook: web_hook\n                config: {url: 'https://hooks.example/', method: POST}\n",
    );
    assert!(!noted(
        &k.server,
        "identity.selfservice.flows.registration.after.hooks"
    ));
    let (status, body) = k
        .submit("registration", registration("new@example.com"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("session_token").is_none(), "{body}");
    assert_eq!(body["identity"]["traits"]["email"], "new@example.com");
}
