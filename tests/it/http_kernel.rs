//! The process shape over HTTP: every role's listeners with health, version and metrics where
//! Ory serves them, the error envelope on unknown routes and methods, Kratos'/Hydra's admin
//! redirects, port conflicts, and graceful shutdown.

use std::time::Duration;

use quartet::config::{Config, Role};
use quartet::Stack;
use serde_json::Value;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(url: String) -> (u16, reqwest::header::HeaderMap, String) {
    let r = client().get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Where each listener serves health and version (prefix), per Ory.
const API_LISTENERS: [(Role, &str, &str); 8] = [
    (Role::Identity, "public", ""),
    (Role::Identity, "admin", "/admin"),
    (Role::Oauth2, "public", ""),
    (Role::Oauth2, "admin", ""),
    (Role::Permission, "read", ""),
    (Role::Permission, "write", ""),
    (Role::Permission, "opl", ""),
    (Role::Proxy, "api", ""),
];

#[tokio::test]
async fn every_api_listener_answers_health_and_version() {
    let stack = Stack::start(Config::ephemeral()).await.unwrap();
    for (role, listener, prefix) in API_LISTENERS {
        let base = stack.url(role, listener).unwrap();
        for path in ["/health/alive", "/health/ready"] {
            let (status, _, body) = get(format!("{base}{prefix}{path}")).await;
            assert_eq!(status, 200, "{role} {listener} {path}");
            assert_eq!(json(&body), serde_json::json!({"status": "ok"}));
        }
        let (status, _, body) = get(format!("{base}{prefix}/version")).await;
        assert_eq!(status, 200, "{role} {listener} /version");
        assert!(json(&body)["version"].as_str().unwrap().starts_with('v'));
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn kratos_and_hydra_admin_ports_redirect_unprefixed_paths_to_admin() {
    let stack = Stack::start(Config::ephemeral()).await.unwrap();
    let kratos = stack.url(Role::Identity, "admin").unwrap();
    let (status, headers, _) = get(format!("{kratos}/health/alive?x=1")).await;
    assert_eq!(status, 307);
    assert_eq!(headers["location"], "/admin/health/alive?x=1");
    let hydra = stack.url(Role::Oauth2, "admin").unwrap();
    let (status, headers, _) = get(format!("{hydra}/clients")).await;
    assert_eq!(status, 307);
    assert_eq!(headers["location"], "/admin/clients");
    // Under /admin an unknown path is a 404 envelope, not a redirect loop.
    let (status, _, body) = get(format!("{hydra}/admin/nope")).await;
    assert_eq!(status, 404);
    assert_eq!(json(&body)["error"]["code"], 404);
    stack.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_ory_error_envelope_with_the_request_id() {
    let stack = Stack::start(Config::ephemeral()).await.unwrap();
    let read = stack.url(Role::Permission, "read").unwrap();
    let (status, headers, body) = get(format!("{read}/no/such/route")).await;
    assert_eq!(status, 404);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v = json(&body);
    assert_eq!(v["error"]["code"], 404);
    assert_eq!(v["error"]["status"], "Not Found");
    assert_eq!(
        v["error"]["message"],
        "The requested resource could not be found"
    );
    assert_eq!(
        v["error"]["request"],
        headers["x-request-id"].to_str().unwrap()
    );
    // Keto's 404 says nothing more: no `debug`, no `reason`.
    assert_eq!(v["error"].get("debug"), None);
    assert_eq!(v["error"].get("reason"), None);

    let r = client()
        .delete(format!("{read}/health/alive"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], 405);

    // A request id the caller sends is kept.
    let r = client()
        .get(format!("{read}/nope"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["request"],
        "abc-123"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn metrics_are_served_where_ory_serves_them_and_count_requests() {
    let stack = Stack::start(Config::ephemeral()).await.unwrap();
    let read = stack.url(Role::Permission, "read").unwrap();
    get(format!("{read}/health/alive")).await;
    let metrics = stack.url(Role::Permission, "metrics").unwrap();
    let (status, headers, body) = get(format!("{metrics}/metrics/prometheus")).await;
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(body.contains(r#"http_requests_total{role="permission",listener="read",method="GET",route="/health/alive",code="200"} 1"#), "{body}");
    // The metrics port serves nothing else.
    let (status, _, _) = get(format!("{metrics}/health/alive")).await;
    assert_eq!(status, 404);
    for (role, listener, path) in [
        (Role::Identity, "admin", "/admin/metrics/prometheus"),
        (Role::Oauth2, "admin", "/admin/metrics/prometheus"),
        (Role::Permission, "read", "/metrics/prometheus"),
        (Role::Proxy, "prometheus", "/metrics"),
    ] {
        let (status, _, body) = get(format!("{}{path}", stack.url(role, listener).unwrap())).await;
        assert_eq!(status, 200, "{role} {listener}");
        assert!(body.contains("http_requests_total"), "{role} {listener}");
    }
    stack.shutdown().await;
}

#[tokio::test]
async fn the_proxy_port_forwards_every_path_and_has_no_health_routes() {
    let stack = Stack::start_roles(Config::ephemeral(), &[Role::Proxy])
        .await
        .unwrap();
    let proxy = stack.url(Role::Proxy, "proxy").unwrap();
    let (status, _, body) = get(format!("{proxy}/health/alive")).await;
    assert_eq!(status, 404);
    // Oathkeeper's non-verbose json error handler (the default) for "no rule matched".
    assert_eq!(
        json(&body)["error"]["message"],
        "The requested resource could not be found"
    );
    assert!(
        stack.url(Role::Identity, "public").is_none(),
        "only the named roles run"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn a_port_in_use_is_an_error_naming_role_listener_and_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut config = Config::ephemeral();
    config.permission.serve.write.port = Some(port);
    let error = Stack::start(config).await.err().unwrap().to_string();
    assert!(
        error.starts_with(&format!(
            "cannot listen on 127.0.0.1:{port} for permission (write):"
        )),
        "{error}"
    );
}

#[tokio::test]
async fn listeners_bind_loopback_for_admin_ports_unless_a_host_is_named() {
    let mut config = Config::ephemeral();
    config.identity.serve.admin.host = None;
    config.identity.serve.public.host = None;
    config.identity.serve.admin.port = Some(0);
    let stack = Stack::start_roles(config, &[Role::Identity]).await.unwrap();
    let admin = stack.addr(Role::Identity, "admin").unwrap();
    assert_eq!(admin.ip().to_string(), "127.0.0.1");
    let public = stack.addr(Role::Identity, "public").unwrap();
    assert!(public.ip().is_unspecified(), "{public}");
    stack.shutdown().await;
}

#[tokio::test]
async fn after_shutdown_no_listener_accepts_connections() {
    let stack = Stack::start(Config::ephemeral()).await.unwrap();
    let urls: Vec<String> = stack.listeners().map(|(_, _, u)| u).collect();
    stack.shutdown().await;
    for url in urls {
        let result = tokio::time::timeout(
            Duration::from_secs(2),
            client().get(format!("{url}/health/alive")).send(),
        )
        .await;
        assert!(matches!(result, Ok(Err(_))), "{url} still answers");
    }
}

#[tokio::test]
async fn cors_follows_the_ory_keys_of_each_listener() {
    let mut config = Config::ephemeral();
    config.identity.serve.public.cors = Some(quartet::config::CorsConfig {
        enabled: true,
        allowed_origins: Some(vec!["http://localhost:3000".into()]),
        ..Default::default()
    });
    let stack = Stack::start_roles(config, &[Role::Identity]).await.unwrap();
    let public = stack.url(Role::Identity, "public").unwrap();
    let preflight = |origin: &'static str| {
        client()
            .request(reqwest::Method::OPTIONS, format!("{public}/health/alive"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let r = preflight("http://localhost:3000").await.unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    assert_eq!(
        r.headers()["access-control-allow-credentials"],
        "true",
        "Kratos allows credentials by default"
    );
    let r = preflight("http://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // CORS is off where the config does not enable it.
    let admin = stack.url(Role::Identity, "admin").unwrap();
    let r = client()
        .get(format!("{admin}/admin/health/alive"))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    stack.shutdown().await;
}

/// Every origin allowed (Kratos' default `*`, or an empty list) is answered with `*` as Ory's
/// rs/cors does, and never with credentials: an echoed origin plus `Allow-Credentials` would let
/// any site read answers made with the user's session cookie.
#[tokio::test]
async fn every_origin_is_a_star_without_credentials() {
    let mut config = Config::ephemeral();
    config.identity.serve.public.cors = Some(quartet::config::CorsConfig {
        enabled: true,
        ..Default::default()
    });
    let stack = Stack::start_roles(config, &[Role::Identity]).await.unwrap();
    let public = stack.url(Role::Identity, "public").unwrap();
    let r = client()
        .request(
            reqwest::Method::OPTIONS,
            format!("{public}/sessions/whoami"),
        )
        .header("origin", "https://any.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
    let r = client()
        .get(format!("{public}/health/alive"))
        .header("origin", "https://any.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
    stack.shutdown().await;
}
