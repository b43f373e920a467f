//! The proxy's in-process fast path against the real identity and oauth2 roles in one Stack:
//! the seed's scenario end to end (cookie_session → X-User-Id and X-User-Email; a bearer token
//! checked by the identity role; an oauth2 client_credentials token checked by introspection).
//! Every case runs twice — once with URLs naming this stack (`127.0.0.1`/`localhost`: in-process)
//! and once with `127.0.0.2` (same listener, not recognised as local: plain HTTP) — and the
//! answers must be identical; the identity/oauth2 request counters prove which path ran.

use base64::Engine as _;
use quartet::config::identity::HookConfig;
use quartet::config::proxy::ProxyConfig;
use quartet::config::{Config, Role};
use quartet::Stack;
use serde_json::{json, Value};

/// `N` distinct ports that were free a moment ago: every listener is held until all are
/// chosen, so the kernel cannot hand the same port out twice. (The listeners must be reachable
/// under two host names, which an ephemeral port chosen at bind time cannot be written into the
/// proxy config for.)
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<_> = (0..N)
        .map(|_| std::net::TcpListener::bind("0.0.0.0:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

fn rule(id: &str, path: &str, authn: Value) -> Value {
    json!({
        "id": id,
        "match": {"url": format!("http://gate.test/{path}/<.*>"), "methods": ["GET", "POST"]},
        "authenticators": authn,
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "header"}],
    })
}

/// The rules of one path family: `/<prefix>/...` with URLs built from `host`.
fn rules(prefix: &str, host: &str, kratos: u16, hydra: u16) -> Vec<Value> {
    let whoami = format!("http://{host}:{kratos}/sessions/whoami");
    let introspect = format!("http://{host}:{hydra}/admin/oauth2/introspect");
    vec![rule(
        &format!("{prefix}:api"),
        prefix,
        json!([
            {"handler": "cookie_session", "config": {"check_session_url": whoami}},
            {"handler": "oauth2_introspection", "config": {"introspection_url": introspect, "prefix": "ory_at_"}},
            {"handler": "bearer_token", "config": {"check_session_url": whoami}},
        ]),
    )]
}

/// A decision's status and its `X-User-*`/`X-Client-Id` headers, sorted.
type Decision = (u16, Vec<(String, String)>);

struct Env {
    stack: Stack,
    api: String,
    identity: String,
    identity_admin: String,
    oauth2_public: String,
    oauth2_admin: String,
    http: reqwest::Client,
}

async fn start() -> Env {
    let [kratos, hydra] = free_ports();
    let mut config = Config::ephemeral();
    config.apply_dev_defaults();
    config.identity.hashers.bcrypt.cost = Some(4);
    config.identity.selfservice.default_browser_return_url = Some("http://app.test/".into());
    config.identity.selfservice.allowed_return_urls = vec!["http://app.test/".into()];
    config
        .identity
        .selfservice
        .flows
        .registration
        .after
        .password
        .hooks = vec![HookConfig {
        hook: "session".into(),
    }];
    config.identity.serve.public.host = Some("0.0.0.0".into());
    config.identity.serve.public.port = Some(kratos);
    config.oauth2.serve.admin.host = Some("0.0.0.0".into());
    config.oauth2.serve.admin.port = Some(hydra);

    let mut all = rules("fast", "127.0.0.1", kratos, hydra);
    all.extend(rules("local", "localhost", kratos, hydra));
    all.extend(rules("http", "127.0.0.2", kratos, hydra));
    let inline = base64::engine::general_purpose::STANDARD.encode(json!(all).to_string());
    let whoami = format!("http://127.0.0.1:{kratos}/sessions/whoami");
    let mut proxy: ProxyConfig = serde_json::from_value(json!({
        "access_rules": {"repositories": [format!("inline://{inline}")]},
        "authenticators": {
            // The seed's cookie_session config, pointed at this stack.
            "cookie_session": {"enabled": true, "config": {
                "check_session_url": whoami, "preserve_path": true, "extra_from": "@this",
                "subject_from": "identity.id", "only": ["ory_kratos_session"]}},
            "bearer_token": {"enabled": true, "config": {
                "check_session_url": whoami, "preserve_path": true, "extra_from": "@this",
                "subject_from": "identity.id"}},
            "oauth2_introspection": {"enabled": true, "config": {
                "introspection_url": format!("http://127.0.0.1:{hydra}/admin/oauth2/introspect")}},
        },
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"header": {"enabled": true, "config": {"headers": {
            "X-User-Id": "{{ print .Subject }}",
            "X-User-Email": "{{ if .Extra.identity }}{{ print .Extra.identity.traits.email }}{{ end }}",
            "X-Client-Id": "{{ print .Extra.client_id }}",
        }}}},
    }))
    .unwrap();
    proxy.serve = config.proxy.serve.clone();
    config.proxy = proxy;

    let stack = Stack::start(config).await.unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        api: stack.url(Role::Proxy, "api").unwrap(),
        identity: stack.url(Role::Identity, "public").unwrap(),
        identity_admin: stack.url(Role::Identity, "admin").unwrap(),
        oauth2_public: stack.url(Role::Oauth2, "public").unwrap(),
        oauth2_admin: stack.url(Role::Oauth2, "admin").unwrap(),
        stack,
        http,
    }
}

impl Env {
    /// Registers through the native (API) registration flow; returns the session token.
    async fn register(&self, email: &str, password: &str) -> (String, String) {
        let flow: Value = self
            .http
            .get(format!("{}/self-service/registration/api", self.identity))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let r = self
            .http
            .post(flow["ui"]["action"].as_str().unwrap())
            .json(&json!({"method": "password", "traits": {"email": email}, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let done: Value = r.json().await.unwrap();
        (
            done["identity"]["id"].as_str().unwrap().to_string(),
            done["session_token"].as_str().unwrap().to_string(),
        )
    }

    /// Logs in through the browser flow (CSRF cookie + token); returns `ory_kratos_session=…`.
    async fn browser_login(&self, email: &str, password: &str) -> String {
        let r = self
            .http
            .get(format!("{}/self-service/login/browser", self.identity))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let csrf_cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let flow_id = location.split("flow=").nth(1).unwrap();
        let flow: Value = self
            .http
            .get(format!(
                "{}/self-service/login/flows?id={flow_id}",
                self.identity
            ))
            .header("cookie", &csrf_cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let csrf = flow["ui"]["nodes"][0]["attributes"]["value"]
            .as_str()
            .unwrap()
            .to_string();
        let r = self
            .http
            .post(format!(
                "{}/self-service/login?flow={flow_id}",
                self.identity
            ))
            .header("cookie", &csrf_cookie)
            .form(&[
                ("method", "password"),
                ("identifier", email),
                ("password", password),
                ("csrf_token", &csrf),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        r.headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|c| c.starts_with("ory_kratos_session="))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string()
    }

    /// A client_credentials access token from the oauth2 role.
    async fn client_token(&self) -> (String, String) {
        let r = self
            .http
            .post(format!("{}/admin/clients", self.oauth2_admin))
            .json(&json!({"grant_types": ["client_credentials"], "scope": "read"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let c: Value = r.json().await.unwrap();
        let id = c["client_id"].as_str().unwrap().to_string();
        let t: Value = self
            .http
            .post(format!("{}/oauth2/token", self.oauth2_public))
            .basic_auth(&id, c["client_secret"].as_str())
            .form(&[("grant_type", "client_credentials"), ("scope", "read")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (id, t["access_token"].as_str().unwrap().to_string())
    }

    /// One decision for `http://gate.test/<prefix>/resource`: status and the X-* headers.
    async fn decide(&self, prefix: &str, header: (&str, &str)) -> Decision {
        let r = self
            .http
            .get(format!("{}/decisions/{prefix}/resource", self.api))
            .header("host", "gate.test")
            .header(header.0, header.1)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let mut xs: Vec<(String, String)> = r
            .headers()
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("x-user") || k.as_str() == "x-client-id")
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        xs.sort();
        (status, xs)
    }

    async fn whoami_calls(&self) -> u64 {
        self.served(
            &self.identity_admin,
            "identity",
            "public",
            "/sessions/whoami",
        )
        .await
    }

    async fn introspection_calls(&self) -> u64 {
        self.served(
            &self.oauth2_admin,
            "oauth2",
            "admin",
            "/admin/oauth2/introspect",
        )
        .await
    }

    /// `http_requests_total` of one role/listener/route, summed over codes.
    async fn served(&self, admin: &str, role: &str, listener: &str, route: &str) -> u64 {
        let text = self
            .http
            .get(format!("{admin}/admin/metrics/prometheus"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with("http_requests_total{"))
            .filter(|l| {
                l.contains(&format!("role=\"{role}\""))
                    && l.contains(&format!("listener=\"{listener}\""))
                    && l.contains(&format!("route=\"{route}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64)
            .sum()
    }
}

#[tokio::test]
async fn cookie_session_bearer_and_introspection_in_process_equal_the_http_path() {
    let env = start().await;
    let (user_id, session_token) = env.register("ada@example.com", "a-long-secret-pw").await;
    let cookie = env
        .browser_login("ada@example.com", "a-long-secret-pw")
        .await;
    let (client_id, access_token) = env.client_token().await;

    let user = vec![
        ("x-client-id".to_string(), String::new()),
        ("x-user-email".to_string(), "ada@example.com".to_string()),
        ("x-user-id".to_string(), user_id.clone()),
    ];
    let client = vec![
        ("x-client-id".to_string(), client_id.clone()),
        ("x-user-email".to_string(), String::new()),
        ("x-user-id".to_string(), client_id.clone()),
    ];
    let bearer_session = format!("Bearer {session_token}");
    let bearer_access = format!("Bearer {access_token}");
    let cases: Vec<((&str, &str), Decision)> = vec![
        (("cookie", cookie.as_str()), (200, user.clone())),
        (("authorization", bearer_session.as_str()), (200, user)),
        (("authorization", bearer_access.as_str()), (200, client)),
        (("cookie", "ory_kratos_session=forged"), (401, vec![])),
        (("authorization", "Bearer ory_at_forged"), (401, vec![])),
        (("authorization", "Bearer ory_st_forged"), (401, vec![])),
    ];

    let (w0, i0) = (env.whoami_calls().await, env.introspection_calls().await);
    for prefix in ["fast", "local"] {
        for (header, want) in &cases {
            assert_eq!(
                &env.decide(prefix, *header).await,
                want,
                "{prefix} {header:?}"
            );
        }
    }
    // No HTTP request reached whoami or introspection: the in-process path answered.
    assert_eq!(env.whoami_calls().await, w0);
    assert_eq!(env.introspection_calls().await, i0);

    for (header, want) in &cases {
        assert_eq!(&env.decide("http", *header).await, want, "http {header:?}");
    }
    // The HTTP path did go over the wire: whoami for the valid and forged cookie and the valid
    // and forged session token, introspection for the valid and forged access token.
    assert_eq!(env.whoami_calls().await, w0 + 4);
    assert_eq!(env.introspection_calls().await, i0 + 2);

    // A revoked session is refused at once on both paths (no cache by default).
    let r = env
        .http
        .delete(format!(
            "{}/admin/identities/{user_id}/sessions",
            env.identity_admin
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    for prefix in ["fast", "http"] {
        assert_eq!(env.decide(prefix, ("cookie", &cookie)).await.0, 401);
    }
    env.stack.shutdown().await;
}
