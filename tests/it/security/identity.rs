//! The identity role (Kratos) under attack: request bodies and queries built to exhaust the
//! stack or the CPU (deeply dotted form keys, huge forms, deep JSON, oversized JSON Patches,
//! thousands of query parameters), concurrent password guessing against the brute-force
//! limit, a spoofed `X-Forwarded-For` against the per-address limit, and a stolen old session
//! changing the login identifier.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::harness::{client, Options, Server};

const FORM: &str = "application/x-www-form-urlencoded";

/// A schema with a login e-mail (identifier, verification and recovery address) and a name
/// that is none of these.
fn schema_config(extra: &str) -> String {
    let schema = json!({
        "$id": "https://example.com/person.schema.json",
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"traits": {"type": "object", "properties": {
            "email": {"type": "string", "format": "email", "ory.sh/kratos": {
                "credentials": {"password": {"identifier": true}},
                "verification": {"via": "email"},
                "recovery": {"via": "email"}}},
            "name": {"type": "string"}
        }, "required": ["email"]}}
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(schema.to_string());
    format!(
        "identity:\n  identity:\n    default_schema_id: person\n    schemas:\n      - id: person\n        url: base64://{encoded}\n{extra}"
    )
}

struct Kratos {
    server: Server,
    public: String,
    admin: String,
    http: reqwest::Client,
}

impl Kratos {
    fn start(config: String) -> Self {
        let server = Server::start(Options {
            dev: true,
            config,
            roles: vec!["identity".into()],
            ..Options::default()
        });
        Kratos {
            public: server.url("identity", "public"),
            admin: server.url("identity", "admin"),
            server,
            http: client(),
        }
    }

    async fn create(&self, email: &str, password: &str) -> Value {
        let r = self
            .http
            .post(format!("{}/admin/identities", self.admin))
            .json(
                &json!({"schema_id": "person", "traits": {"email": email, "name": "N"},
                "credentials": {"password": {"config": {"password": password}}}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    /// A new API flow of `kind` (`login`, `registration`, `settings` with `token`): its action.
    async fn flow(&self, kind: &str, token: Option<&str>) -> String {
        let mut request = self
            .http
            .get(format!("{}/self-service/{kind}/api", self.public));
        if let Some(t) = token {
            request = request.header("x-session-token", t);
        }
        let flow: Value = request.send().await.unwrap().json().await.unwrap();
        flow["ui"]["action"].as_str().unwrap().to_string()
    }

    async fn login(&self, identifier: &str, password: &str, xff: Option<&str>) -> StatusCode {
        let action = self.flow("login", None).await;
        self.submit_login(&action, identifier, password, xff).await
    }

    async fn submit_login(
        &self,
        action: &str,
        identifier: &str,
        password: &str,
        xff: Option<&str>,
    ) -> StatusCode {
        let mut request = self
            .http
            .post(action)
            .json(&json!({"method": "password", "identifier": identifier, "password": password}));
        if let Some(x) = xff {
            request = request.header("x-forwarded-for", x);
        }
        request.send().await.unwrap().status()
    }

    async fn token(&self, email: &str, password: &str) -> String {
        let action = self.flow("login", None).await;
        let r = self
            .http
            .post(action)
            .json(&json!({"method": "password", "identifier": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        body["session_token"].as_str().unwrap().to_string()
    }
}

/// `(status, error.reason or error.message)` of a response.
async fn answer(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let text = body["error"]["reason"]
        .as_str()
        .or(body["error"]["message"].as_str())
        .unwrap_or_default()
        .to_string();
    (status, text)
}

/// The report's one-request kill: 50,000 dotted key segments posted to login, registration
/// and settings each get a 400 naming the limit, and the process lives on.
#[tokio::test]
async fn deeply_dotted_form_keys_are_refused_and_the_process_lives() {
    let mut k = Kratos::start(schema_config(""));
    k.create("dots@example.com", "a-long-secret-pw").await;
    let token = k.token("dots@example.com", "a-long-secret-pw").await;
    let attack = "a.".repeat(50_000) + "b=1";
    for (kind, session) in [
        ("login", None),
        ("registration", None),
        ("settings", Some(token.as_str())),
    ] {
        let action = k.flow(kind, session).await;
        let mut request = k
            .http
            .post(&action)
            .header("content-type", FORM)
            .body(attack.clone());
        if let Some(t) = session {
            request = request.header("x-session-token", t);
        }
        let sent = request.send().await;
        assert!(k.server.alive(), "{kind}: the process died");
        let (status, reason) = answer(sent.unwrap()).await;
        assert_eq!(status, 400, "{kind}: {reason}");
        assert!(
            reason.contains("more than 32 dot-separated segments"),
            "{kind}: {reason}"
        );
    }
    // 32 segments are still a form field
    let action = k.flow("login", None).await;
    let fine = vec!["a"; 32].join(".") + "=1&method=password&identifier=x&password=y";
    let r = k
        .http
        .post(&action)
        .header("content-type", FORM)
        .body(fine)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an ordinary failed login");
    assert!(k.server.alive());
}

/// A form of more than 1,000 fields is refused before it is expanded.
#[tokio::test]
async fn forms_of_more_than_1000_fields_are_refused() {
    let mut k = Kratos::start(schema_config(""));
    let action = k.flow("registration", None).await;
    let body = (0..1001)
        .map(|i| format!("traits.f{i}=v"))
        .collect::<Vec<_>>()
        .join("&");
    let r = k
        .http
        .post(&action)
        .header("content-type", FORM)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, reason) = answer(r).await;
    assert_eq!(status, 400, "{reason}");
    assert_eq!(reason, "the form has more than 1000 fields");
    assert!(k.server.alive());
}

/// JSON nested deeper than serde's limit is a 400; traits and metadata nested more than 64
/// levels are refused (the stored document must stay readable), and so is a JSON Patch that
/// would nest the stored identity too deep, has too many operations, too deep a pointer, or
/// copies a subtree until the document explodes.
#[tokio::test]
async fn deep_json_and_oversized_patches_are_refused() {
    let mut k = Kratos::start(schema_config(""));
    let nest = |levels: usize| {
        let mut v = json!("x");
        for _ in 0..levels {
            v = json!({ "a": v });
        }
        v
    };
    // beyond serde_json's recursion limit: a plain 400
    let action = k.flow("registration", None).await;
    let deep_body = "[".repeat(10_000) + &"]".repeat(10_000);
    let r = k
        .http
        .post(&action)
        .header("content-type", "application/json")
        .body(deep_body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // traits 100 levels deep in a self-service body
    let r = k
        .http
        .post(&action)
        .json(
            &json!({"method": "password", "password": "a-long-secret-pw",
            "traits": {"email": "deep@example.com", "name": nest(100)}}),
        )
        .send()
        .await
        .unwrap();
    let (status, reason) = answer(r).await;
    assert_eq!(status, 400, "{reason}");
    assert!(reason.contains("more than 64 levels"), "{reason}");
    // admin: metadata 100 levels deep
    let r = k
        .http
        .post(format!("{}/admin/identities", k.admin))
        .json(
            &json!({"schema_id": "person", "traits": {"email": "m@example.com"},
            "metadata_public": nest(100)}),
        )
        .send()
        .await
        .unwrap();
    let (status, reason) = answer(r).await;
    assert_eq!(status, 400, "{reason}");
    assert!(reason.contains("more than 64 levels"), "{reason}");

    let identity = k.create("patch@example.com", "a-long-secret-pw").await;
    let url = format!(
        "{}/admin/identities/{}",
        k.admin,
        identity["id"].as_str().unwrap()
    );
    let patch = |ops: Value| k.http.patch(&url).json(&ops).send();
    // metadata nested 100 levels through a patch
    let ops = json!([{"op": "add", "path": "/metadata_public", "value": nest(100)}]);
    let (status, reason) = answer(patch(ops).await.unwrap()).await;
    assert_eq!(status, 400, "{reason}");
    assert!(reason.contains("more than 64 levels"), "{reason}");
    // more than 100 operations
    let ops = vec![json!({"op": "test", "path": "/schema_id", "value": "person"}); 101];
    let (status, reason) = answer(patch(Value::Array(ops)).await.unwrap()).await;
    assert_eq!(status, 400, "{reason}");
    assert!(reason.contains("more than 100 operations"), "{reason}");
    // a pointer of more than 32 segments
    let long_pointer = "/metadata_public".to_string() + &"/a".repeat(40);
    let ops = json!([{"op": "add", "path": long_pointer, "value": 1}]);
    let (status, reason) = answer(patch(ops).await.unwrap()).await;
    assert_eq!(status, 400, "{reason}");
    assert!(reason.contains("more than 32 segments"), "{reason}");
    // copies that double the document: refused once it holds more than 100,000 values
    let mut ops = vec![json!({"op": "add", "path": "/metadata_public",
        "value": {"x": vec![0; 5000]}})];
    for i in 0..6 {
        ops.push(json!({"op": "copy", "from": "/metadata_public",
            "path": format!("/metadata_public/c{i}")}));
    }
    let (status, reason) = answer(patch(Value::Array(ops)).await.unwrap()).await;
    assert_eq!(status, 400, "{reason}");
    assert!(reason.contains("more than 100000 values"), "{reason}");
    // the identity is still readable
    assert_eq!(k.http.get(&url).send().await.unwrap().status(), 200);
    assert!(k.server.alive());
}

/// More than 1,000 query parameters are refused — by the kernel's `Query` (first-value
/// semantics) and by the identity admin's repeated-parameter lists (`ids`).
#[tokio::test]
async fn queries_of_more_than_1000_parameters_are_refused() {
    let mut k = Kratos::start(schema_config(""));
    let many = |key: &str| {
        (0..1001)
            .map(|i| format!("{key}{i}=1"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let url = format!("{}/self-service/login/api?{}", k.public, many("p"));
    let (status, reason) = answer(k.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, 400, "{reason}");
    assert_eq!(reason, "the query has more than 1000 parameters");
    let ids = (0..1001)
        .map(|_| "ids=00000000-0000-0000-0000-000000000000")
        .collect::<Vec<_>>()
        .join("&");
    let url = format!("{}/admin/identities?{ids}", k.admin);
    let (status, reason) = answer(k.http.get(url).send().await.unwrap()).await;
    assert_eq!(status, 400, "{reason}");
    assert_eq!(reason, "the query has more than 1000 parameters");
    assert!(k.server.alive());
}

/// 60 wrong passwords at once for one identifier: at most the free failures are verified,
/// the rest get 429, and afterwards even the right password gets 429 until the lock expires.
#[tokio::test]
async fn concurrent_guesses_cannot_outrun_the_failure_count() {
    let k = Kratos::start(schema_config(
        "  quartet:\n    brute_force:\n      enabled: true\n      free_failures_per_identifier: 5\n      base_delay: 60s\n",
    ));
    k.create("victim@example.com", "the-right-password").await;
    let mut actions = Vec::new();
    for _ in 0..61 {
        actions.push(k.flow("login", None).await);
    }
    let right = actions.pop().unwrap();
    let mut burst = Vec::new();
    for action in actions {
        let http = k.http.clone();
        burst.push(tokio::spawn(async move {
            let body =
                json!({"method": "password", "identifier": "victim@example.com", "password": "wrong-guess"});
            http.post(action).json(&body).send().await.unwrap().status()
        }));
    }
    let http = k.http.clone();
    let in_burst = tokio::spawn(async move {
        let body = json!({"method": "password", "identifier": "victim@example.com",
            "password": "the-right-password"});
        http.post(right).json(&body).send().await.unwrap().status()
    });
    let mut verified = 0;
    let mut throttled = 0;
    for task in burst {
        match task.await.unwrap().as_u16() {
            400 => verified += 1,
            429 => throttled += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    let right_status = in_burst.await.unwrap();
    if right_status == 200 {
        // It was reserved among the free attempts and so logged in, which clears the
        // identifier's count: at most the free attempts before it and after it were verified.
        assert!(
            verified <= 10,
            "{verified} wrong attempts were verified around one success; at most 2 × 5 are free"
        );
        assert!(throttled >= 50, "only {throttled} answers were 429");
        return;
    }
    assert_eq!(right_status, 429, "the right password in the burst");
    assert!(
        verified <= 5,
        "{verified} attempts were verified; only 5 are free"
    );
    assert!(throttled >= 55, "only {throttled} answers were 429");
    assert_eq!(
        k.login("victim@example.com", "the-right-password", None)
            .await,
        429,
        "the lock holds for the right password too"
    );
}

/// The per-address limit counts the peer address: a rotated `X-Forwarded-For` from a client
/// that is no trusted proxy changes nothing.
#[tokio::test]
async fn a_rotated_forwarded_for_does_not_reset_the_per_address_limit() {
    let k = Kratos::start(schema_config(
        "  quartet:\n    brute_force:\n      enabled: true\n      free_failures_per_ip: 3\n      base_delay: 60s\n",
    ));
    for i in 0..3 {
        let xff = format!("203.0.113.{i}");
        let status = k
            .login(&format!("nobody{i}@example.com"), "wrong", Some(&xff))
            .await;
        assert_eq!(status, 400);
    }
    let status = k
        .login("nobody9@example.com", "wrong", Some("198.51.100.7"))
        .await;
    assert_eq!(status, 429, "a new X-Forwarded-For escaped the limit");
}

/// Behind a trusted proxy (`http.trusted_proxies`) the right-most untrusted address of
/// `X-Forwarded-For` is the client: each client has its own limit.
#[tokio::test]
async fn forwarded_for_is_believed_from_a_trusted_proxy() {
    let config = schema_config(
        "  quartet:\n    brute_force:\n      enabled: true\n      free_failures_per_ip: 3\n      base_delay: 60s\n",
    ) + "http:\n  trusted_proxies: [127.0.0.1/32]\n";
    let k = Kratos::start(config);
    for i in 0..3 {
        let status = k
            .login(
                &format!("who{i}@example.com"),
                "wrong",
                Some("198.51.100.1, 127.0.0.1"),
            )
            .await;
        assert_eq!(status, 400);
    }
    // that client is now limited, spoofing a left-most entry does not help it
    let status = k
        .login("who8@example.com", "wrong", Some("10.9.9.9, 198.51.100.1"))
        .await;
    assert_eq!(status, 429);
    // another client behind the same proxy is not
    let status = k
        .login("who9@example.com", "wrong", Some("198.51.100.2"))
        .await;
    assert_eq!(status, 400);
}

/// A session older than `privileged_session_max_age` may still change a trait that is no
/// identifier or address, but changing the login e-mail answers 403
/// `session_refresh_required` with the re-authentication URL, and nothing changes.
#[tokio::test]
async fn an_old_session_cannot_change_the_login_identifier() {
    let k = Kratos::start(schema_config(
        "  selfservice:\n    flows:\n      settings:\n        privileged_session_max_age: 1s\n",
    ));
    k.create("owner@example.com", "a-long-secret-pw").await;
    let token = k.token("owner@example.com", "a-long-secret-pw").await;
    // the one sleep: the session must age past privileged_session_max_age
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let action = k.flow("settings", Some(&token)).await;
    let r = k
        .http
        .post(&action)
        .header("x-session-token", &token)
        .json(&json!({"method": "profile",
            "traits": {"email": "owner@example.com", "name": "New Name"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a non-identifier trait may change");
    let action = k.flow("settings", Some(&token)).await;
    let r = k
        .http
        .post(&action)
        .header("x-session-token", &token)
        .json(&json!({"method": "profile",
            "traits": {"email": "attacker@example.com", "name": "New Name"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["id"], "session_refresh_required");
    let to = body["redirect_browser_to"].as_str().unwrap();
    assert!(
        to.contains("/self-service/login/browser?refresh=true"),
        "{to}"
    );
    assert_eq!(
        k.login("attacker@example.com", "a-long-secret-pw", None)
            .await,
        400,
        "the identifier did not change"
    );
    assert_eq!(
        k.login("owner@example.com", "a-long-secret-pw", None).await,
        200
    );
}
