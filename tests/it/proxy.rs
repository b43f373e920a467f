//! End-to-end tests of the proxy role (Oathkeeper): the seed's `oathkeeper.yml` and access rules,
//! loaded unchanged except for their URLs (pointed at a real upstream and fake Kratos/Hydra
//! servers started here on 127.0.0.1:0), driven over HTTP on the decision API and the proxy.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::routing::{any, get};
use axum::{Json, Router};
use quartet::config::{Loader, Role};
use quartet::Stack;
use serde_json::{json, Value};

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

/// The upstream echoes what it received.
async fn upstream() -> String {
    serve(Router::new().fallback(any(|req: Request| async move {
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
            .collect();
        Json(json!({"method": req.method().as_str(), "uri": req.uri().to_string(), "headers": headers}))
    })))
    .await
}

/// Kratos' whoami: a session for the cookie `ory_kratos_session=valid`.
async fn fake_kratos() -> String {
    serve(Router::new().route(
        "/sessions/whoami",
        get(|headers: HeaderMap| async move {
            let cookie = headers
                .get("cookie")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if cookie.contains("ory_kratos_session=valid") {
                Ok(Json(json!({"id": "s-1", "active": true,
                    "identity": {"id": "user-1", "traits": {"email": "ada@example.com"}}})))
            } else {
                Err(axum::http::StatusCode::UNAUTHORIZED)
            }
        }),
    ))
    .await
}

/// The seed points bearer_token at Hydra's introspection URL; Oathkeeper's bearer_token replaces
/// the path with the request path (preserve_path is false), so this answers on any path.
async fn fake_hydra() -> String {
    serve(Router::new().fallback(any(|headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if auth == "Bearer good-token" {
            Ok(Json(json!({"sub": "client-1",
                "extra": {"identity": {"traits": {"email": "svc@example.com"}}}})))
        } else {
            Err(axum::http::StatusCode::UNAUTHORIZED)
        }
    })))
    .await
}

struct Env {
    stack: Stack,
    api: String,
    proxy: String,
    rules_path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

fn seed(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/imprun")
        .join(name);
    quartet::config::yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn start(upstream_url: &str) -> Env {
    let kratos = fake_kratos().await;
    let hydra = fake_hydra().await;
    let dir = tempfile::tempdir().unwrap();
    let mut rules = seed("access-rules.yml");
    for rule in rules.as_array_mut().unwrap() {
        rule["upstream"]["url"] = json!(upstream_url);
    }
    let rules_path = dir.path().join("access-rules.yml");
    std::fs::write(&rules_path, serde_saphyr::to_string(&rules).unwrap()).unwrap();
    let mut ok = seed("oathkeeper.yml");
    ok["access_rules"]["repositories"] = json!([format!("file://{}", rules_path.display())]);
    ok["authenticators"]["cookie_session"]["config"]["check_session_url"] =
        json!(format!("{kratos}/sessions/whoami"));
    ok["authenticators"]["bearer_token"]["config"]["check_session_url"] =
        json!(format!("{hydra}/oauth2/introspect"));
    // The seed's public rule uses the noop mutator, which the seed's oathkeeper.yml does not
    // enable: Oathkeeper would fail that rule at request time (500) and Quartet rejects it at
    // load (see `the_unmodified_seed_rejects_the_public_rule`); enable it here.
    ok["mutators"]["noop"] = json!({"enabled": true});
    for listener in ["proxy", "api", "prometheus"] {
        ok["serve"][listener] = json!({"host": "127.0.0.1", "port": 0});
    }
    let ok_path = dir.path().join("oathkeeper.yml");
    std::fs::write(&ok_path, serde_saphyr::to_string(&ok).unwrap()).unwrap();
    let main_path = dir.path().join("quartet.yml");
    std::fs::write(&main_path, "dsn: memory\nproxy: file://./oathkeeper.yml\n").unwrap();
    let loaded = Loader::new().file(&main_path).dev(true).load().unwrap();
    let stack = Stack::start_roles(loaded.config, &[Role::Proxy])
        .await
        .unwrap();
    Env {
        api: stack.url(Role::Proxy, "api").unwrap(),
        proxy: stack.url(Role::Proxy, "proxy").unwrap(),
        stack,
        rules_path,
        _dir: dir,
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn decisions_follow_the_seed_rules() {
    let up = upstream().await;
    let env = start(&up).await;
    let c = client();
    let decide = |path: &str| {
        c.get(format!("{}/decisions{path}", env.api))
            .header("host", "app.local")
    };

    // cookie_session → header mutator
    let r = decide("/api/me")
        .header("cookie", "ory_kratos_session=valid")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-user-id"], "user-1");
    assert_eq!(r.headers()["x-user-email"], "ada@example.com");
    assert!(r.text().await.unwrap().is_empty());

    // bearer_token (second authenticator) → token check at the Hydra URL
    let r = decide("/api/organizations/7")
        .header("authorization", "Bearer good-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-user-id"], "client-1");

    // nobody responsible → 401 in Oathkeeper's JSON
    let r = decide("/api/me").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 401);
    assert_eq!(
        body["error"]["message"],
        "The request could not be authorized"
    );

    // a session Kratos refuses → 401
    let r = decide("/api/me")
        .header("cookie", "ory_kratos_session=bad")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // public rule: noop echoes the request headers
    let r = decide("/api/public/x")
        .header("x-probe", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-probe"], "1");

    // X-Forwarded-* (nginx auth_request / Traefik forwardAuth)
    let r = c
        .get(format!("{}/decisions", env.api))
        .header("x-forwarded-method", "DELETE")
        .header("x-forwarded-host", "app.local")
        .header("x-forwarded-uri", "/api/public/x?q=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the public rule only allows GET");

    // no rule → 404; method outside the rule → 404
    let r = decide("/nothing").send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["status"], "Not Found");
    env.stack.shutdown().await;
}

#[tokio::test]
async fn proxy_forwards_with_mutated_headers_and_denies_without_session() {
    let up = upstream().await;
    let env = start(&up).await;
    let c = client();
    let r = c
        .get(format!("{}/api/me?x=1", env.proxy))
        .header("cookie", "ory_kratos_session=valid")
        .header("x-user-id", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["uri"], "/api/me?x=1");
    assert_eq!(
        seen["headers"]["x-user-id"], "user-1",
        "a forged header is overwritten"
    );
    assert_eq!(seen["headers"]["x-user-email"], "ada@example.com");
    assert!(
        seen["headers"].get("x-forwarded-for").is_none(),
        "untrusted X-Forwarded-* are dropped"
    );

    let r = c
        .post(format!("{}/api/me", env.proxy))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // the public rule's noop mutator passes the request's headers on, but not the client's
    // X-Forwarded-* (untrusted) nor its hop-by-hop headers
    let r = c
        .get(format!("{}/api/public/hello", env.proxy))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-host", "evil.example")
        .header("x-app-hint", "kept")
        .header("te", "trailers")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["uri"], "/api/public/hello");
    assert_eq!(seen["headers"]["x-app-hint"], "kept");
    for dropped in ["x-forwarded-for", "x-forwarded-host", "te"] {
        assert!(
            seen["headers"].get(dropped).is_none(),
            "{dropped} reached the upstream through the noop mutator: {seen}"
        );
    }

    let r = c
        .get(format!("{}/elsewhere", env.proxy))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 404);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn upstream_down_is_502() {
    // a port that was just free: nothing listens there any more
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let env = start(&dead).await;
    let r = client()
        .get(format!("{}/api/public/x", env.proxy))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn rules_api_and_hot_reload_keep_good_rules() {
    let up = upstream().await;
    let env = start(&up).await;
    let c = client();
    let rules: Value = c
        .get(format!("{}/rules", env.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules.as_array().unwrap().len(), 2);
    assert_eq!(rules[0]["version"], "v0.40.9");
    assert_eq!(rules[0]["match"]["methods"], json!(["GET"]));
    let one = c
        .get(format!("{}/rules/imprun:api:protected", env.api))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let one: Value = one.json().await.unwrap();
    assert_eq!(one["authenticators"][0]["handler"], "cookie_session");
    let missing = c
        .get(format!("{}/rules/nope", env.api))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let page: Value = c
        .get(format!("{}/rules?limit=1&offset=1", env.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page[0]["id"], "imprun:api:protected");

    // Rewrite the file: one new good rule, one rule with an unknown handler.
    let mut rules = seed("access-rules.yml");
    let list = rules.as_array_mut().unwrap();
    list.push(
        json!({"id": "new", "match": {"url": "http://<.*>/new", "methods": ["GET"]},
        "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "noop"}], "upstream": {"url": up}}),
    );
    list.push(
        json!({"id": "broken", "match": {"url": "http://<.*>/broken", "methods": ["GET"]},
        "authenticators": [{"handler": "nope"}], "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "noop"}]}),
    );
    std::fs::write(&env.rules_path, serde_saphyr::to_string(&rules).unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let ids = loop {
        let rules: Value = c
            .get(format!("{}/rules", env.api))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: Vec<String> = rules
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        if ids.len() >= 3 || Instant::now() > deadline {
            break ids;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        ids,
        vec!["imprun:api:public", "imprun:api:protected", "new"]
    );
    let r = c
        .get(format!("{}/decisions/new", env.api))
        .header("host", "h")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A document that is not valid YAML keeps the last good set.
    std::fs::write(&env.rules_path, "- id: [unclosed").unwrap();
    let r = c
        .get(format!("{}/decisions/new", env.api))
        .header("host", "h")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn the_unmodified_seed_rejects_the_public_rule_with_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/imprun");
    let main_path = dir.path().join("q.yml");
    std::fs::write(
        &main_path,
        format!(
            "dsn: memory\nproxy: file://{}\n",
            base.join("oathkeeper.yml").display()
        ),
    )
    .unwrap();
    let mut config = Loader::new()
        .file(&main_path)
        .dev(true)
        .load()
        .unwrap()
        .config;
    config.proxy.access_rules.repositories = vec![format!(
        "file://{}",
        base.join("access-rules.yml").display()
    )];
    let proxy = quartet::proxy::Proxy::start(&config.proxy).await.unwrap();
    assert_eq!(
        proxy.problems(),
        vec!["rule \"imprun:api:public\": mutators[0] (noop): mutator \"noop\" is disabled per configuration".to_string()]
    );
    let set = proxy.rule_set();
    let ids: Vec<&str> = set.rules().iter().map(|r| r.rule.id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["imprun:api:protected"],
        "the bad rule never breaks the others"
    );
}

/// Oathkeeper's `rules_loaded`: the API port is not ready while no valid rule is loaded (503
/// with herodot's body), and becomes ready when a valid rule appears; other roles' readiness
/// is not affected.
#[tokio::test]
async fn health_ready_needs_a_valid_rule_on_the_api_port() {
    let up = upstream().await;
    let env = start(&up).await;
    let c = client();
    let ready = || async {
        let r = c
            .get(format!("{}/health/ready", env.api))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(ready().await, (200, json!({"status": "ok"})));

    // Only invalid rules left: the last good versions are kept (Quartet), so write a file
    // whose rules are all new and invalid — nothing valid remains.
    std::fs::write(
        &env.rules_path,
        r#"[{"id": "broken", "match": {"url": "http://x/<[>", "methods": ["GET"]},
             "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
             "mutators": [{"handler": "noop"}]}]"#,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = ready().await;
    while seen.0 != 503 && Instant::now() < deadline {
        tokio::task::yield_now().await;
        seen = ready().await;
    }
    assert_eq!(
        seen,
        (
            503,
            json!({"error": {"code": 500, "message": "The requested resource could not be found"}})
        )
    );
    // Liveness is unaffected.
    let alive = c
        .get(format!("{}/health/alive", env.api))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200);

    std::fs::write(
        &env.rules_path,
        r#"[{"id": "ok", "match": {"url": "http://x/<.*>", "methods": ["GET"]},
             "authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"},
             "mutators": [{"handler": "noop"}]}]"#,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ready().await.0 != 200 {
        assert!(Instant::now() < deadline, "never became ready again");
        tokio::task::yield_now().await;
    }
    env.stack.shutdown().await;
}
