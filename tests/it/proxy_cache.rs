//! The proxy's result caches: Oathkeeper's `oauth2_introspection`, `oauth2_client_credentials`
//! and `hydrator` caches and Quartet's opt-in session cache for `cookie_session` /
//! `bearer_token`. The pipeline runs against counting fakes and an injected clock, so a test
//! can show that a hit skips the outbound call and that ttl and token expiry are honoured.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use futures::future::BoxFuture;
use quartet::config::Loader;
use quartet::proxy::request::PipelineRequest;
use quartet::proxy::template::UrlData;
use quartet::proxy::{
    HttpClient, Outbound, OutboundRequest, OutboundResponse, Proxy, SessionChecker,
    TokenIntrospector,
};
use serde_json::{json, Value};

/// A session endpoint / introspection endpoint that counts its calls and answers what the
/// test sets.
struct Fake {
    calls: AtomicUsize,
    status: AtomicU16,
    body: Mutex<Value>,
}

impl Fake {
    fn new(body: Value) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            status: AtomicU16::new(200),
            body: Mutex::new(body),
        })
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn answer(&self) -> Result<OutboundResponse, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(OutboundResponse {
            status: self.status.load(Ordering::SeqCst),
            headers: HeaderMap::new(),
            body: serde_json::to_vec(&*self.body.lock().unwrap())
                .unwrap()
                .into(),
            json: None,
        })
    }
}

impl SessionChecker for Fake {
    fn check_session(&self, _: OutboundRequest) -> BoxFuture<'_, Result<OutboundResponse, String>> {
        Box::pin(async move { self.answer() })
    }
}

impl TokenIntrospector for Fake {
    fn introspect(&self, _: OutboundRequest) -> BoxFuture<'_, Result<OutboundResponse, String>> {
        Box::pin(async move { self.answer() })
    }
}

const T0: u64 = 1_800_000_000;

struct Env {
    proxy: Arc<Proxy>,
    sessions: Arc<Fake>,
    tokens: Arc<Fake>,
    hand: quartet::ClockHand,
}

impl Env {
    fn advance(&self, secs: u64) {
        self.hand.advance(Duration::from_secs(secs));
    }

    async fn status(&self, path: &str, header: (&str, &str)) -> u16 {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::HeaderName::from_bytes(header.0.as_bytes()).unwrap(),
            HeaderValue::from_str(header.1).unwrap(),
        );
        let req = PipelineRequest {
            method: Method::GET,
            url: UrlData {
                scheme: "http".into(),
                host: "app.test".into(),
                path: path.into(),
                raw_query: String::new(),
            },
            headers: headers.into(),
            body: Default::default(),
        };
        match self.proxy.decide(&req).await {
            Ok(_) => 200,
            Err((_, e)) => e.status().as_u16(),
        }
    }
}

fn rule(id: &str, prefix: &str, authn: Value, mutator: Value) -> Value {
    json!({
        "id": id,
        "match": {"url": format!("http://app.test{prefix}<.*>"), "methods": ["GET"]},
        "authenticators": [authn],
        "authorizer": {"handler": "allow"},
        "mutators": [mutator],
    })
}

/// The config: cookie_session/bearer_token with the session cache, introspection with its
/// cache, rules per path; `extra` is merged into the proxy section.
fn config(rules: &[Value], extra: Value) -> quartet::config::ProxyConfig {
    let rules = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&Value::Array(rules.to_vec())).unwrap());
    let mut proxy = json!({
        "access_rules": {"repositories": [format!("base64://{rules}")]},
        "authenticators": {
            "cookie_session": {"enabled": true, "config": {
                "check_session_url": "http://kratos.test/sessions/whoami",
                "preserve_path": true, "subject_from": "identity.id", "extra_from": "@this",
                "cache": {"enabled": true, "ttl": "30s"}}},
            "bearer_token": {"enabled": true, "config": {
                "check_session_url": "http://kratos.test/sessions/whoami",
                "preserve_path": true, "subject_from": "identity.id"}},
            "oauth2_introspection": {"enabled": true, "config": {
                "introspection_url": "http://hydra.test/admin/oauth2/introspect",
                "cache": {"enabled": true, "ttl": "60s"}}},
        },
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"noop": {"enabled": true}},
    });
    quartet::proxy::handlers::deep_merge(&mut proxy, &extra);
    let doc = json!({"dsn": "memory", "proxy": proxy});
    Loader::new()
        .text(serde_json::to_string(&doc).unwrap())
        .dev(true)
        .load()
        .unwrap_or_else(|e| panic!("config: {e:?}"))
        .config
        .proxy
}

async fn start(rules: &[Value], extra: Value) -> Env {
    let config = config(rules, extra);
    let sessions = Fake::new(json!({"id": "s-1", "active": true,
        "identity": {"id": "user-1", "traits": {"email": "ada@example.com"}}}));
    let tokens = Fake::new(json!({"active": true, "sub": "client-1", "exp": T0 + 3600}));
    let (clock, hand) = quartet::Clock::manual(i64::try_from(T0).unwrap() * 1_000_000);
    let mut outbound = Outbound::with(sessions.clone(), tokens.clone(), HttpClient::new().unwrap());
    outbound.clock = clock;
    let proxy = Proxy::start_with(&config, outbound, false).await.unwrap();
    assert_eq!(proxy.problems(), Vec::<String>::new());
    Env {
        proxy,
        sessions,
        tokens,
        hand,
    }
}

fn cookie(session: &str) -> (&'static str, String) {
    ("cookie", format!("ory_kratos_session={session}"))
}

#[tokio::test]
async fn session_cache_hit_skips_whoami_and_never_outlives_its_ttl() {
    let env = start(
        &[
            rule(
                "c",
                "/c/",
                json!({"handler": "cookie_session"}),
                json!({"handler": "noop"}),
            ),
            rule(
                "off",
                "/off/",
                json!({"handler": "cookie_session", "config": {"cache": {"enabled": false}}}),
                json!({"handler": "noop"}),
            ),
        ],
        json!({}),
    )
    .await;
    let (h, a) = cookie("a");
    assert_eq!(env.status("/c/x", (h, &a)).await, 200);
    assert_eq!(env.status("/c/y", (h, &a)).await, 200);
    assert_eq!(env.sessions.calls(), 1, "the second request is a cache hit");
    let (_, b) = cookie("b");
    assert_eq!(env.status("/c/x", (h, &b)).await, 200);
    assert_eq!(env.sessions.calls(), 2, "another cookie is another session");

    // The session is revoked: served from the cache up to the ttl, never after it.
    env.sessions.status.store(401, Ordering::SeqCst);
    env.advance(29);
    assert_eq!(env.status("/c/x", (h, &a)).await, 200);
    assert_eq!(env.sessions.calls(), 2);
    env.advance(1);
    assert_eq!(env.status("/c/x", (h, &a)).await, 401);
    assert_eq!(
        env.sessions.calls(),
        3,
        "at the ttl the session endpoint is asked again"
    );
    // A rejection is not cached.
    assert_eq!(env.status("/c/x", (h, &a)).await, 401);
    assert_eq!(env.sessions.calls(), 4);

    // A rule may switch the cache off.
    env.sessions.status.store(200, Ordering::SeqCst);
    assert_eq!(env.status("/off/x", (h, &a)).await, 200);
    assert_eq!(env.status("/off/x", (h, &a)).await, 200);
    assert_eq!(env.sessions.calls(), 6);
}

/// Rules that read the same session differently (`subject_from`, `extra_from`) never answer
/// each other from the cache, and a hit gives what the rule's own read gave.
#[tokio::test]
async fn session_cache_entries_belong_to_what_the_rule_reads() {
    let env = start(
        &[
            rule(
                "by-identity",
                "/i/",
                json!({"handler": "cookie_session"}),
                json!({"handler": "noop"}),
            ),
            rule(
                "by-session",
                "/s/",
                json!({"handler": "cookie_session", "config": {
                    "subject_from": "id", "extra_from": "identity.traits"}}),
                json!({"handler": "noop"}),
            ),
        ],
        json!({}),
    )
    .await;
    let mut headers = HeaderMap::new();
    headers.insert("cookie", HeaderValue::from_static("ory_kratos_session=a"));
    let decide = |path: &str| {
        let req = PipelineRequest {
            method: Method::GET,
            url: UrlData {
                scheme: "http".into(),
                host: "app.test".into(),
                path: path.into(),
                raw_query: String::new(),
            },
            headers: headers.clone().into(),
            body: Default::default(),
        };
        let proxy = env.proxy.clone();
        async move {
            let (_, session) = proxy.decide(&req).await.map_err(|(_, e)| e).unwrap();
            (
                session.subject,
                Value::Object((*session.extra.unwrap()).clone()),
            )
        }
    };
    for round in 0..2 {
        let (subject, extra) = decide("/i/x").await;
        assert_eq!(subject, "user-1", "round {round}");
        assert_eq!(extra["identity"]["traits"]["email"], "ada@example.com");
        let (subject, extra) = decide("/s/x").await;
        assert_eq!(subject, "s-1", "round {round}");
        assert_eq!(extra, json!({"email": "ada@example.com"}));
    }
    assert_eq!(
        env.sessions.calls(),
        2,
        "one call per rule, then cache hits"
    );
}

#[tokio::test]
async fn bearer_token_session_cache_is_opt_in_and_defaults_to_ten_seconds() {
    let env = start(
        &[
            rule(
                "b",
                "/b/",
                json!({"handler": "bearer_token"}),
                json!({"handler": "noop"}),
            ),
            rule(
                "bc",
                "/bc/",
                json!({"handler": "bearer_token", "config": {"cache": {"enabled": true}}}),
                json!({"handler": "noop"}),
            ),
        ],
        json!({}),
    )
    .await;
    let auth = ("authorization", "Bearer ory_st_1");
    assert_eq!(env.status("/b/x", auth).await, 200);
    assert_eq!(env.status("/b/x", auth).await, 200);
    assert_eq!(env.sessions.calls(), 2, "off unless configured");
    assert_eq!(env.status("/bc/x", auth).await, 200);
    assert_eq!(env.status("/bc/x", auth).await, 200);
    assert_eq!(env.sessions.calls(), 3);
    env.advance(10);
    assert_eq!(env.status("/bc/x", auth).await, 200);
    assert_eq!(env.sessions.calls(), 4, "the default ttl is 10s");
}

#[tokio::test]
async fn introspection_cache_honours_ttl_and_token_expiry() {
    let env = start(
        &[rule(
            "t",
            "/t/",
            json!({"handler": "oauth2_introspection"}),
            json!({"handler": "noop"}),
        )],
        json!({}),
    )
    .await;
    let good = ("authorization", "Bearer good");
    assert_eq!(env.status("/t/x", good).await, 200);
    assert_eq!(env.status("/t/x", good).await, 200);
    assert_eq!(env.tokens.calls(), 1, "a hit skips the introspection call");
    env.advance(59);
    assert_eq!(env.status("/t/x", good).await, 200);
    assert_eq!(env.tokens.calls(), 1);
    env.advance(1);
    assert_eq!(env.status("/t/x", good).await, 200);
    assert_eq!(env.tokens.calls(), 2, "the ttl (60s) ended the entry");

    // A token that expires before the ttl leaves the cache at its exp.
    let now = T0 + 60;
    *env.tokens.body.lock().unwrap() = json!({"active": true, "sub": "c", "exp": now + 10});
    let short = ("authorization", "Bearer short");
    assert_eq!(env.status("/t/x", short).await, 200);
    assert_eq!(env.status("/t/x", short).await, 200);
    assert_eq!(env.tokens.calls(), 3);
    env.advance(11);
    assert_eq!(env.status("/t/x", short).await, 401, "expired token");
    assert_eq!(env.tokens.calls(), 4, "the entry ended with the token");

    // Inactive answers are not cached.
    *env.tokens.body.lock().unwrap() = json!({"active": false});
    let bad = ("authorization", "Bearer revoked");
    assert_eq!(env.status("/t/x", bad).await, 401);
    assert_eq!(env.status("/t/x", bad).await, 401);
    assert_eq!(env.tokens.calls(), 6);
}

#[tokio::test]
async fn introspection_cache_is_bypassed_when_hydra_checks_the_scope() {
    // Oathkeeper: scope_strategy none + required_scope sends the scope to Hydra, and the answer
    // depends on it, so the cache is not used.
    let env = start(
        &[rule(
            "t",
            "/t/",
            json!({"handler": "oauth2_introspection",
                   "config": {"scope_strategy": "none", "required_scope": ["read"]}}),
            json!({"handler": "noop"}),
        )],
        json!({}),
    )
    .await;
    let good = ("authorization", "Bearer good");
    assert_eq!(env.status("/t/x", good).await, 200);
    assert_eq!(env.status("/t/x", good).await, 200);
    assert_eq!(env.tokens.calls(), 2);
}

#[tokio::test]
async fn invalid_cache_config_names_the_rule_and_field() {
    let rules = [
        rule(
            "typo",
            "/a/",
            json!({"handler": "cookie_session", "config": {"cache": {"enabled": true, "tll": "1s"}}}),
            json!({"handler": "noop"}),
        ),
        rule(
            "badttl",
            "/b/",
            json!({"handler": "bearer_token", "config": {"cache": {"ttl": "soon"}}}),
            json!({"handler": "noop"}),
        ),
        rule(
            "remote",
            "/r/",
            json!({"handler": "cookie_session"}),
            json!({"handler": "noop"}),
        ),
        rule(
            "ok",
            "/c/",
            json!({"handler": "cookie_session"}),
            json!({"handler": "noop"}),
        ),
    ];
    let mut rules = rules.to_vec();
    // Oathkeeper's remote_json authorizer has no cache; its schema rejects the key.
    rules[2]["authorizer"] = json!({"handler": "remote_json", "config": {
        "remote": "http://keto.test/relation-tuples/check", "payload": "{}",
        "cache": {"enabled": true}}});
    let config = config(
        &rules,
        json!({"authorizers": {"remote_json": {"enabled": true}}}),
    );
    let proxy = Proxy::start_with(&config, Outbound::over(HttpClient::new().unwrap()), false)
        .await
        .unwrap();
    let problems = proxy.problems().join("\n");
    assert!(
        problems.contains("rule \"typo\"") && problems.contains("config.cache.tll: unknown key"),
        "{problems}"
    );
    assert!(
        problems.contains("rule \"badttl\"") && problems.contains("config.cache.ttl"),
        "{problems}"
    );
    assert!(
        problems.contains("rule \"remote\"") && problems.contains("config.cache: unknown key"),
        "{problems}"
    );
    assert_eq!(proxy.rule_set().rules().len(), 1, "the good rule is kept");
}

#[test]
fn the_session_cache_is_accepted_by_config_validation_and_checked_there() {
    let doc = |cache: Value| {
        json!({"dsn": "memory", "proxy": {"authenticators": {"cookie_session": {"enabled": true,
            "config": {"check_session_url": "http://kratos.test/sessions/whoami", "cache": cache}}}}})
        .to_string()
    };
    Loader::new()
        .text(doc(json!({"enabled": true, "ttl": "5s", "max_cost": 1000})))
        .load()
        .unwrap();
    // Oathkeeper's own schema still applies around it.
    let bad = json!({"dsn": "memory", "proxy": {"authenticators": {"cookie_session": {"enabled": true,
        "config": {"check_session_url": "http://kratos.test/sessions/whoami", "caches": {}}}}}});
    let errors = Loader::new().text(bad.to_string()).load().unwrap_err();
    assert!(
        format!("{errors:?}").contains("proxy.authenticators.cookie_session.config.caches"),
        "{errors:?}"
    );
}

/// A counting token endpoint / hydrator over HTTP.
async fn counting_server(answer: Value) -> (String, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let app = Router::new().fallback(post(move || {
        let c = c.clone();
        let answer = answer.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            Json(answer)
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), calls)
}

#[tokio::test]
async fn client_credentials_cache_lives_no_longer_than_the_token() {
    let (token_url, calls) =
        counting_server(json!({"access_token": "at-1", "token_type": "bearer", "expires_in": 30}))
            .await;
    let env = start(
        &[rule(
            "cc",
            "/cc/",
            json!({"handler": "oauth2_client_credentials"}),
            json!({"handler": "noop"}),
        )],
        json!({"authenticators": {"oauth2_client_credentials": {"enabled": true, "config": {
            "token_url": format!("{token_url}/oauth2/token"),
            "cache": {"enabled": true, "ttl": "1h"}}}}}),
    )
    .await;
    let basic = base64::engine::general_purpose::STANDARD.encode("client:secret");
    let auth = ("authorization", format!("Basic {basic}"));
    assert_eq!(env.status("/cc/x", (auth.0, &auth.1)).await, 200);
    assert_eq!(env.status("/cc/x", (auth.0, &auth.1)).await, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let other = base64::engine::general_purpose::STANDARD.encode("client:other");
    assert_eq!(
        env.status("/cc/x", ("authorization", &format!("Basic {other}")))
            .await,
        200
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "the secret is part of the key"
    );
    env.advance(30);
    assert_eq!(env.status("/cc/x", (auth.0, &auth.1)).await, 200);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "expires_in (30s) beats ttl (1h)"
    );
}

#[tokio::test]
async fn hydrator_cache_reuses_the_answer_for_the_same_session() {
    let (api, calls) =
        counting_server(json!({"subject": "user-1", "extra": {"plan": "pro"}})).await;
    let env = start(
        &[rule(
            "h",
            "/h/",
            json!({"handler": "cookie_session", "config": {"cache": {"enabled": false}}}),
            json!({"handler": "hydrator"}),
        )],
        json!({"mutators": {"hydrator": {"enabled": true, "config": {
            "api": {"url": format!("{api}/hydrate")},
            "cache": {"enabled": true, "ttl": "5s"}}}}}),
    )
    .await;
    let (h, a) = cookie("a");
    assert_eq!(env.status("/h/x", (h, &a)).await, 200);
    assert_eq!(env.status("/h/x", (h, &a)).await, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    env.advance(5);
    assert_eq!(env.status("/h/x", (h, &a)).await, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}
