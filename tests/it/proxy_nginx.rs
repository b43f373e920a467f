//! nginx `auth_request` in front of the proxy's decision API, as Oathkeeper users deploy it:
//! nginx (started here as a child process with a config in a temp dir) asks `/decisions` with
//! `X-Forwarded-Method/Proto/Host/Uri`, copies the mutated headers onto the upstream request
//! with `auth_request_set`, and answers 401 itself when the decision denies.
//! nginx must be installed (`scripts/setup` installs it; CI runs that): this test fails, never
//! skips, without it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::routing::{any, get};
use axum::{Json, Router};
use base64::Engine as _;
use quartet::config::proxy::ProxyConfig;
use quartet::config::{Config, Role};
use quartet::Stack;
use serde_json::{json, Value};

fn nginx_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nginx"))
            .find(|p| p.is_file())
    });
    let found = on_path.or_else(|| {
        let p = PathBuf::from("/usr/sbin/nginx");
        p.is_file().then_some(p)
    });
    match found {
        Some(p) => p,
        None => panic!(
            "nginx is not installed (not on PATH, not at /usr/sbin/nginx): run scripts/setup, \
             which installs it (CI does)"
        ),
    }
}

/// The nginx child; killed when dropped.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nginx_conf(dir: &Path, port: u16, api: &str, upstream: &str) -> String {
    let d = dir.display();
    format!(
        r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_oathkeeper;
            auth_request_set $user_id $upstream_http_x_user_id;
            auth_request_set $user_email $upstream_http_x_user_email;
            proxy_set_header X-User-Id $user_id;
            proxy_set_header X-User-Email $user_email;
            proxy_pass {upstream};
        }}
        location = /_oathkeeper {{
            internal;
            proxy_pass {api}/decisions;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Uri $request_uri;
        }}
    }}
}}
"#
    )
}

fn start_nginx(api: &str, upstream: &str) -> (Nginx, String) {
    let binary = nginx_binary();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path(), port, api, upstream)).unwrap();
    let child = Command::new(&binary)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let mut nginx = Nginx { child, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!("nginx exited with {status}: {}", nginx.error_log());
        }
        assert!(
            Instant::now() < deadline,
            "nginx did not listen on {port}: {}",
            nginx.error_log()
        );
        // Polling an external process until it listens (not timing a behaviour).
        std::thread::sleep(Duration::from_millis(20));
    }
    (nginx, format!("http://127.0.0.1:{port}"))
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn nginx_auth_request_allows_with_mutated_headers_and_denies_with_401() {
    let upstream = serve(Router::new().fallback(any(|req: Request| async move {
        let h = |n: &str| {
            req.headers()
                .get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        };
        Json(json!({"uri": req.uri().to_string(),
            "x-user-id": h("x-user-id"), "x-user-email": h("x-user-email")}))
    })))
    .await;
    let kratos = serve(Router::new().route(
        "/sessions/whoami",
        get(|headers: HeaderMap| async move {
            let cookie = headers
                .get("cookie")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if cookie.contains("ory_kratos_session=valid") {
                Ok(Json(json!({"identity": {"id": "user-1",
                    "traits": {"email": "ada@example.com"}}})))
            } else {
                Err(axum::http::StatusCode::UNAUTHORIZED)
            }
        }),
    ))
    .await;

    // The seed's protected rule and cookie_session/header config.
    let rules = json!([{
        "id": "imprun:api:protected",
        "match": {"url": "http://<[^/]+>/api/<(me|organizations|gateways)(/.*)?>",
                  "methods": ["GET", "POST"]},
        "authenticators": [{"handler": "cookie_session"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header"}],
    }]);
    let inline = base64::engine::general_purpose::STANDARD.encode(rules.to_string());
    let mut config = Config::ephemeral();
    let mut proxy: ProxyConfig = serde_json::from_value(json!({
        "access_rules": {"repositories": [format!("inline://{inline}")]},
        "authenticators": {"cookie_session": {"enabled": true, "config": {
            "check_session_url": format!("{kratos}/sessions/whoami"), "preserve_path": true,
            "extra_from": "@this", "subject_from": "identity.id",
            "only": ["ory_kratos_session"]}}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {
            "X-User-Id": "{{ print .Subject }}",
            "X-User-Email": "{{ print .Extra.identity.traits.email }}"}}}},
    }))
    .unwrap();
    proxy.serve = config.proxy.serve.clone();
    config.proxy = proxy;
    let stack = Stack::start_roles(config, &[Role::Proxy]).await.unwrap();
    let api = stack.url(Role::Proxy, "api").unwrap();
    let (nginx, front) = start_nginx(&api, &upstream);
    let http = reqwest::Client::new();

    // Allowed: the decision's headers reach the upstream; a forged X-User-Id is overwritten.
    let r = http
        .get(format!("{front}/api/me?x=1"))
        .header("cookie", "ory_kratos_session=valid")
        .header("x-user-id", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", nginx.error_log());
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["uri"], "/api/me?x=1");
    assert_eq!(seen["x-user-id"], json!(["user-1"]));
    assert_eq!(seen["x-user-email"], json!(["ada@example.com"]));

    // Denied: no session → the decision's 401 is nginx's answer; the upstream is not called.
    let r = http.get(format!("{front}/api/me")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(format!("{front}/api/organizations/o1"))
        .header("cookie", "ory_kratos_session=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // No rule matches → the decision API's 404, which nginx's auth_request treats as an error
    // (500): auth_request only understands 2xx, 401 and 403.
    let r = http.get(format!("{front}/elsewhere")).send().await.unwrap();
    assert_eq!(r.status(), 500);

    drop(nginx);
    stack.shutdown().await;
}
