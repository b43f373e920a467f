//! The `jwt` authenticator (JWKS from base64, file and http locations; algorithms, kid, time
//! claims, scope strategy, audience, issuers) and the `id_token` mutator (claims template, ttl,
//! signing key from `jwks_url`) with `/.well-known/jwks.json` publishing its public keys —
//! over HTTP against the in-process proxy role.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use josekit::jwk::Jwk;
use quartet::config::proxy::ProxyConfig;
use quartet::config::{Config, Role};
use quartet::proxy::jose;
use quartet::Stack;
use serde_json::{json, Map, Value};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn rsa(kid: &str) -> Jwk {
    let mut k = Jwk::generate_rsa_key(2048).unwrap();
    k.set_key_id(kid);
    k.set_algorithm("RS256");
    k.set_key_use("sig");
    k
}

fn set(keys: &[&Jwk]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| Value::Object(k.as_ref().clone()))
        .collect();
    json!({ "keys": keys }).to_string()
}

fn public_set(keys: &[&Jwk]) -> String {
    let keys: Vec<Jwk> = keys.iter().map(|k| (*k).clone()).collect();
    json!({ "keys": jose::public_keys(&keys) }).to_string()
}

fn claims(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

struct Env {
    stack: Stack,
    api: String,
    http: reqwest::Client,
    /// Signs caller tokens (its public half is published to the jwt authenticator).
    caller_key: Jwk,
    /// A second caller key, served over http.
    remote_key: Jwk,
    _dir: tempfile::TempDir,
}

async fn start() -> Env {
    let caller_key = rsa("caller");
    let remote_key = rsa("remote");
    let signer_key = rsa("oathkeeper-id-token");
    let dir = tempfile::tempdir().unwrap();
    let signer_path = dir.path().join("id_token.jwks.json");
    std::fs::write(&signer_path, set(&[&signer_key])).unwrap();

    let remote_jwks = public_set(&[&remote_key]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let keys_url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = Router::new().route("/jwks.json", get(move || async move { remote_jwks }));
        axum::serve(listener, app).await.unwrap();
    });

    let inline = base64::engine::general_purpose::STANDARD.encode(public_set(&[&caller_key]));
    let rule = |id: &str, path: &str, jwt: Value| {
        json!({
            "id": id,
            "match": {"url": format!("http://gate.test/{path}/<.*>"), "methods": ["GET"]},
            "authenticators": [{"handler": "jwt", "config": jwt}],
            "authorizer": {"handler": "allow"},
            "mutators": [{"handler": "id_token"}],
        })
    };
    let rules = json!([
        rule("plain", "plain", json!({})),
        rule(
            "scoped",
            "scoped",
            json!({
                "required_scope": ["orders.read"], "scope_strategy": "hierarchic",
                "target_audience": ["orders"], "trusted_issuers": ["https://issuer.test/"],
            })
        ),
        rule("hmac", "hmac", json!({"allowed_algorithms": ["HS256"]})),
    ]);
    let rules_b64 = base64::engine::general_purpose::STANDARD.encode(rules.to_string());
    let mut config = Config::ephemeral();
    let mut proxy: ProxyConfig = serde_json::from_value(json!({
        "access_rules": {"repositories": [format!("base64://{rules_b64}")]},
        "authenticators": {"jwt": {"enabled": true, "config": {
            "jwks_urls": [format!("base64://{inline}"), keys_url],
        }}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"id_token": {"enabled": true, "config": {
            "issuer_url": "https://gate.test/",
            "jwks_url": format!("file://{}", signer_path.display()),
            "ttl": "90s",
            "claims": r#"{"aud": ["backend"], "email": "{{ print .Extra.email }}", "sub": "ignored"}"#,
        }}},
    }))
    .unwrap();
    proxy.serve = config.proxy.serve.clone();
    config.proxy = proxy;
    let stack = Stack::start_roles(config, &[Role::Proxy]).await.unwrap();
    Env {
        api: stack.url(Role::Proxy, "api").unwrap(),
        stack,
        http: reqwest::Client::new(),
        caller_key,
        remote_key,
        _dir: dir,
    }
}

impl Env {
    async fn decide(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/decisions/{path}/x", self.api))
            .header("host", "gate.test")
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
    }

    fn token(&self, extra: Value) -> String {
        let mut c = claims(json!({"sub": "alice", "email": "alice@example.com",
            "iat": now() - 5, "exp": now() + 60}));
        c.extend(claims(extra));
        jose::sign(std::slice::from_ref(&self.caller_key), c).unwrap()
    }
}

#[tokio::test]
async fn jwt_authenticates_and_id_token_is_signed_with_the_published_key() {
    let env = start().await;
    let r = env.decide("plain", &env.token(json!({}))).await;
    assert_eq!(r.status(), 200);
    let id_token = r.headers()["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_string();

    // /.well-known/jwks.json publishes the public half of the id_token key only.
    let jwks: Value = env
        .http
        .get(format!("{}/.well-known/jwks.json", env.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let published = jwks["keys"].as_array().unwrap();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["kid"], "oathkeeper-id-token");
    assert!(published[0].get("d").is_none());
    let keys: Vec<Jwk> = published
        .iter()
        .map(|k| Jwk::from_map(k.as_object().unwrap().clone()).unwrap())
        .collect();
    let c = jose::verify(&id_token, &keys, &["RS256".into()], now()).unwrap();
    assert_eq!(c["sub"], "alice", "sub is forced to the subject");
    assert_eq!(c["iss"], "https://gate.test/");
    assert_eq!(c["aud"], json!(["backend"]));
    assert_eq!(c["email"], "alice@example.com");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 90);
    assert_eq!(c["nbf"], c["iat"]);
    assert!(c["jti"].as_str().unwrap().len() >= 32);

    // A key served over http verifies too.
    let remote = jose::sign(
        std::slice::from_ref(&env.remote_key),
        claims(json!({"sub": "bob", "exp": now() + 60})),
    )
    .unwrap();
    assert_eq!(env.decide("plain", &remote).await.status(), 200);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn jwt_failures_are_401_and_non_jwts_are_not_its_business() {
    let env = start().await;
    let unknown_kid = jose::sign(
        &[rsa("stranger")],
        claims(json!({"sub": "eve", "exp": now() + 60})),
    )
    .unwrap();
    for (why, token) in [
        ("expired", env.token(json!({"exp": now() - 1}))),
        ("not yet valid", env.token(json!({"nbf": now() + 60}))),
        (
            "issued in the future",
            env.token(json!({"iat": now() + 60})),
        ),
        ("unknown kid", unknown_kid),
    ] {
        let r = env.decide("plain", &token).await;
        assert_eq!(r.status(), 401, "{why}");
    }
    // An RS256 token where only HS256 is allowed.
    assert_eq!(
        env.decide("hmac", &env.token(json!({}))).await.status(),
        401
    );
    // Not three dot-separated parts: the jwt authenticator is not responsible, and as the only
    // authenticator of the rule that is Oathkeeper's 401 too.
    let r = env.decide("plain", "opaque-token").await;
    assert_eq!(r.status(), 401);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn scope_audience_and_issuer_are_enforced() {
    let env = start().await;
    let good = json!({"scp": ["orders"], "aud": "orders", "iss": "https://issuer.test/"});
    assert_eq!(env.decide("scoped", &env.token(good)).await.status(), 200);
    // Scope as a space-separated `scope` claim works the same (normalised into `scp`).
    let spaced =
        json!({"scope": "a orders.read", "aud": ["x", "orders"], "iss": "https://issuer.test/"});
    assert_eq!(env.decide("scoped", &env.token(spaced)).await.status(), 200);
    for (why, extra) in [
        (
            "missing scope",
            json!({"scp": ["orders.write"], "aud": "orders", "iss": "https://issuer.test/"}),
        ),
        (
            "wrong audience",
            json!({"scp": ["orders"], "aud": "billing", "iss": "https://issuer.test/"}),
        ),
        (
            "untrusted issuer",
            json!({"scp": ["orders"], "aud": "orders", "iss": "https://evil.test/"}),
        ),
    ] {
        assert_eq!(
            env.decide("scoped", &env.token(extra)).await.status(),
            401,
            "{why}"
        );
    }
    env.stack.shutdown().await;
}
