//! Ory paths Quartet does not serve yet (`http::unsupported`, docs/api.md): per role, every
//! path of Ory's OpenAPI document is either served or answers 501 in the role's envelope naming
//! the feature — never the 404 of a path Ory does not have, which other paths keep. A probe
//! with a method no route takes (`PROPFIND`) tells them apart: a served path answers 405 (or
//! its handler's answer, for routes of any method), an unrouted one 404. And under `--dev`, a
//! proxy rule whose template fails says why in its 500.

use std::path::Path;

use quartet::config::{Config, Loader, Role};
use quartet::Stack;
use reqwest::Method;
use serde_json::Value;

/// The paths of Ory's OpenAPI document for `service` (`kratos-v1.1.0`, …), path parameters
/// filled in.
fn ory_paths(service: &str) -> Vec<String> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("spec/ory")
        .join(service)
        .join("api.json");
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(|p| {
            p.split('/')
                .map(|s| if s.starts_with('{') { "probe" } else { s })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn probe() -> Method {
    Method::from_bytes(b"PROPFIND").unwrap()
}

async fn status(http: &reqwest::Client, method: Method, url: &str) -> u16 {
    http.request(method, url)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every Ory path on its listener (`listener_of`) is served, except those of `unsupported`
/// (501) and of `left_out` (features still to come, 404 for now).
async fn every_ory_path_is_served_or_unsupported(
    stack: &Stack,
    role: Role,
    service: &str,
    listener_of: impl Fn(&str) -> &'static str,
    unsupported: &[&str],
    left_out: &[&str],
) {
    let http = client();
    for path in ory_paths(service) {
        let base = stack.url(role, listener_of(&path)).unwrap();
        let got = status(&http, probe(), &format!("{base}{path}")).await;
        if unsupported.contains(&path.as_str()) {
            assert_eq!(got, 501, "{service} {path}");
        } else if left_out.iter().any(|p| path.starts_with(p)) {
            continue;
        } else {
            assert!(![404, 501].contains(&got), "{service} {path}: {got}");
        }
    }
}

/// The 501 of an unsupported path, for every method: Ory's envelope naming the feature.
async fn assert_unsupported(base: &str, path: &str, feature: &str) {
    let http = client();
    for method in [Method::GET, Method::POST, probe()] {
        let answer = http
            .request(method.clone(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 501, "{method} {path}");
        let body: Value = answer.json().await.unwrap();
        let error = &body["error"];
        assert_eq!(error["code"], 501, "{body}");
        assert_eq!(error["status"], "Not Implemented", "{body}");
        assert_eq!(
            error["message"],
            format!("{feature} is not supported by Quartet yet"),
            "{body}"
        );
        assert!(
            error["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{body}"
        );
        assert!(
            error["request"].is_string(),
            "the kernel's request id: {body}"
        );
    }
}

/// A path Ory does not have either keeps the kernel's 404 envelope.
async fn assert_not_found(base: &str, path: &str) {
    let answer = client().get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(answer.status(), 404, "{path}");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], 404, "{body}");
    assert_eq!(
        body["error"]["message"], "The requested resource could not be found",
        "{body}"
    );
}

#[tokio::test]
async fn identity_answers_501_for_kratos_paths_of_features_it_lacks() {
    let stack = Stack::start_roles(Config::ephemeral(), &[Role::Identity])
        .await
        .unwrap();
    let public = stack.url(Role::Identity, "public").unwrap();
    let admin = stack.url(Role::Identity, "admin").unwrap();
    every_ory_path_is_served_or_unsupported(
        &stack,
        Role::Identity,
        "kratos-v1.1.0",
        |p| {
            if p.starts_with("/admin/") {
                "admin"
            } else {
                "public"
            }
        },
        &["/.well-known/ory/webauthn.js"],
        // Recovery, verification and the courier get their routes with those features.
        &[
            "/admin/courier/",
            "/admin/recovery/",
            "/self-service/recovery",
            "/self-service/verification",
        ],
    )
    .await;
    assert_unsupported(
        &public,
        "/.well-known/ory/webauthn.js",
        "WebAuthn (selfservice.methods.webauthn)",
    )
    .await;
    // Kratos' browser callbacks of social sign-in (its router, not its OpenAPI document).
    for path in [
        "/self-service/methods/oidc/callback/google",
        "/self-service/methods/oidc/organization/acme/callback/google",
    ] {
        assert_unsupported(&public, path, "Social sign-in (selfservice.methods.oidc)").await;
    }
    assert_not_found(&public, "/self-service/methods/oidc").await;
    assert_not_found(&public, "/no-such-kratos-path").await;
    assert_not_found(&admin, "/admin/no-such-kratos-path").await;
    stack.shutdown().await;
}

#[tokio::test]
async fn oauth2_serves_every_hydra_path() {
    let stack = Stack::start_roles(Config::ephemeral(), &[Role::Oauth2])
        .await
        .unwrap();
    every_ory_path_is_served_or_unsupported(
        &stack,
        Role::Oauth2,
        "hydra-v2.2.0",
        |p| {
            if p.starts_with("/admin/") {
                "admin"
            } else {
                "public"
            }
        },
        &[],
        &[],
    )
    .await;
    let public = stack.url(Role::Oauth2, "public").unwrap();
    let admin = stack.url(Role::Oauth2, "admin").unwrap();
    assert_not_found(&public, "/no-such-hydra-path").await;
    assert_not_found(&admin, "/admin/no-such-hydra-path").await;
    stack.shutdown().await;
}

#[tokio::test]
async fn permission_serves_every_keto_path() {
    let stack = Stack::start_roles(Config::ephemeral(), &[Role::Permission])
        .await
        .unwrap();
    every_ory_path_is_served_or_unsupported(
        &stack,
        Role::Permission,
        "keto-v0.14.0",
        |p| match p {
            "/admin/relation-tuples" => "write",
            "/opl/syntax/check" => "opl",
            _ => "read",
        },
        &[],
        &[],
    )
    .await;
    for listener in ["read", "write", "opl"] {
        let base = stack.url(Role::Permission, listener).unwrap();
        assert_not_found(&base, "/no-such-keto-path").await;
    }
    stack.shutdown().await;
}

/// A proxy-only stack with two rules on its decisions API: `/` passes (anonymous, allow,
/// noop), `/broken` has a header template that fails when it runs.
async fn proxy_stack(dir: &Path, dev: bool) -> Stack {
    std::fs::write(
        dir.join("rules.yml"),
        r#"- id: root
  match: { url: "http://<[^/]+></?>", methods: [GET, PROPFIND] }
  authenticators: [{ handler: anonymous }]
  authorizer: { handler: allow }
  mutators: [{ handler: noop }]
- id: broken
  match: { url: "http://<[^/]+>/broken", methods: [GET] }
  authenticators: [{ handler: anonymous }]
  authorizer: { handler: allow }
  mutators:
    - handler: header
      config: { headers: { X-Broken: "{{ index 1 0 }}" } }
"#,
    )
    .unwrap();
    let config = format!(
        r#"dsn: memory
proxy:
  serve: {{ proxy: {{ host: 127.0.0.1, port: 0 }}, api: {{ host: 127.0.0.1, port: 0 }}, prometheus: {{ host: 127.0.0.1, port: 0 }} }}
  access_rules: {{ repositories: ["file://{rules}"] }}
  authenticators: {{ anonymous: {{ enabled: true }} }}
  authorizers: {{ allow: {{ enabled: true }} }}
  mutators: {{ noop: {{ enabled: true }}, header: {{ enabled: true, config: {{ headers: {{}} }} }} }}
  errors: {{ fallback: [json], handlers: {{ json: {{ enabled: true }} }} }}
"#,
        rules = dir.join("rules.yml").display()
    );
    std::fs::write(dir.join("quartet.yml"), config).unwrap();
    let mut config = Loader::new()
        .file(dir.join("quartet.yml"))
        .dev(true)
        .load()
        .unwrap()
        .config;
    config.dev = dev;
    Stack::start_roles(config, &[Role::Proxy]).await.unwrap()
}

#[tokio::test]
async fn proxy_serves_every_oathkeeper_path() {
    let dir = tempfile::tempdir().unwrap();
    let stack = proxy_stack(dir.path(), true).await;
    every_ory_path_is_served_or_unsupported(
        &stack,
        Role::Proxy,
        "oathkeeper-v0.40.9",
        |_| "api",
        &[],
        &[],
    )
    .await;
    let api = stack.url(Role::Proxy, "api").unwrap();
    assert_not_found(&api, "/no-such-oathkeeper-path").await;
    stack.shutdown().await;
}

#[tokio::test]
async fn a_failing_rule_template_says_why_under_dev_only() {
    for dev in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let stack = proxy_stack(dir.path(), dev).await;
        let api = stack.url(Role::Proxy, "api").unwrap();
        let answer = client()
            .get(format!("{api}/decisions/broken"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 500);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(
            body["error"]["message"],
            "An internal server error occurred, please contact the system administrator",
            "{body}"
        );
        if dev {
            assert_eq!(
                body["error"]["debug"],
                "access rule \"broken\": header x-broken: can't index item of type float64",
                "{body}"
            );
        } else {
            assert!(body["error"].get("debug").is_none(), "{body}");
        }
        stack.shutdown().await;
    }
}
