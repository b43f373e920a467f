//! The permission role's public read port and the proxy: reverse lookups bounded per request,
//! paths that an upstream would read as another path never forwarded, client-claim headers
//! (`Forwarded`, …) dropped, backtracking access-rule patterns bounded and reported, deeply
//! nested OPL and templates answered with errors instead of crashing the process.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::Router;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::harness::{client, Options, Server};

// --- permission ------------------------------------------------------------------------------

const PERMISSION_CONFIG: &str = "dsn: memory\npermission:\n  namespaces:\n    - name: Doc\n";

/// Writes `n` tuples `Doc:d<i>#viewer@u<i>`: `n` distinct objects and `n` distinct subjects.
async fn seed_tuples(server: &Server, n: usize) {
    let patches: Vec<Value> = (0..n)
        .map(|i| {
            json!({"action": "insert", "relation_tuple": {
                "namespace": "Doc", "object": format!("d{i:05}"), "relation": "viewer",
                "subject_id": format!("u{i:05}")}})
        })
        .collect();
    let r = client()
        .patch(format!(
            "{}/admin/relation-tuples",
            server.url("permission", "write")
        ))
        .json(&patches)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
}

/// A lookup whose page needs more checks than `lookup.max_candidates` (default 1000) is a 400
/// naming the key, answered quickly — not a scan of the whole store on the public port.
#[tokio::test]
async fn a_reverse_lookup_above_the_candidate_bound_is_refused_quickly() {
    let server = Server::dev_with(PERMISSION_CONFIG);
    seed_tuples(&server, 1500).await;
    let read = server.url("permission", "read");
    let c = client();
    for query in [
        "/quartet/lookup/objects?namespace=Doc&relation=viewer&subject_id=nobody",
        "/quartet/lookup/subjects?namespace=Doc&object=none&relation=viewer",
    ] {
        let started = Instant::now();
        let r = c.get(format!("{read}{query}")).send().await.unwrap();
        let took = started.elapsed();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 400, "{query}: {body}");
        let text = body.to_string();
        assert!(
            text.contains("permission.lookup.max_candidates") && text.contains("1000"),
            "{query}: the error names the limit: {text}"
        );
        assert!(took < Duration::from_secs(10), "{query} took {took:?}");
    }
    // a page filled within the bound is still answered
    let r = c
        .get(format!(
            "{read}/quartet/lookup/objects?namespace=Doc&relation=viewer&subject_id=u00007&page_size=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["objects"], json!(["d00007"]));
}

/// The bound is configurable (`permission.lookup.max_candidates`), and the other read paths
/// stay bounded: `max-depth` far above `limit.max_read_depth` and `page_size` far above the
/// maximum do not buy more work.
#[tokio::test]
async fn the_lookup_bound_is_configurable_and_other_reads_are_capped() {
    let server = Server::dev_with(&format!(
        "{PERMISSION_CONFIG}  lookup:\n    max_candidates: 10\n"
    ));
    seed_tuples(&server, 20).await;
    let read = server.url("permission", "read");
    let c = client();
    let r = c
        .get(format!(
            "{read}/quartet/lookup/objects?namespace=Doc&relation=viewer&subject_id=nobody"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("more than 10 checks"));
    let r = c
        .get(format!(
            "{read}/relation-tuples?namespace=Doc&page_size=1000000000"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "page_size above the maximum is refused");
    let r = c
        .get(format!(
            "{read}/relation-tuples/check/openapi?namespace=Doc&object=d00001&relation=viewer&subject_id=u00001&max-depth=9223372036854775807"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"allowed": true}));
}

/// `POST /opl/syntax/check` with deeply nested parentheses and `!`: an error report (Keto
/// answers syntax errors as a 200 with an `errors` list), and the process is still alive.
#[tokio::test]
async fn deeply_nested_opl_is_an_error_not_a_crash() {
    let mut server = Server::dev_with(PERMISSION_CONFIG);
    let opl = server.url("permission", "opl");
    let c = client();
    for nested in [
        "(".repeat(200_000),
        "!".repeat(200_000),
        "!(".repeat(100_000),
    ] {
        let body = format!(
            "import {{ Namespace, Context }} from \"@ory/keto-namespace-types\"\n\
             class User implements Namespace {{}}\n\
             class Doc implements Namespace {{\n  related: {{ viewers: User[] }}\n  \
             permits = {{ view: (ctx: Context): boolean => {nested}this.related.viewers.includes(ctx.subject) }}\n}}\n"
        );
        let r = c
            .post(format!("{opl}/opl/syntax/check"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success() || r.status().is_client_error());
        let b: Value = r.json().await.unwrap();
        assert!(
            b["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "nesting is reported as an error: {b}"
        );
    }
    assert!(server.alive());
}

// --- proxy -----------------------------------------------------------------------------------

/// What the upstream received: (path and query, headers).
type Seen = Arc<Mutex<Vec<(String, Vec<(String, String)>)>>>;

/// An upstream on a free port that records every request.
async fn recording_upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let app = Router::new().fallback(move |req: Request| {
        let sink = Arc::clone(&sink);
        async move {
            let headers = req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect();
            sink.lock().unwrap().push((req.uri().to_string(), headers));
            "upstream"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

/// The proxy role with `rules` (YAML) in `rules.yml` and the handlers they use enabled.
fn proxy_with(rules: &str) -> Server {
    Server::start(Options {
        dev: true,
        config:
            "dsn: memory\nproxy:\n  access_rules:\n    repositories: [\"file://./rules.yml\"]\n  \
                 authenticators: { anonymous: { enabled: true } }\n  \
                 authorizers: { allow: { enabled: true } }\n  \
                 mutators: { noop: { enabled: true }, header: { enabled: true } }\n"
                .into(),
        files: vec![("rules.yml".into(), rules.into())],
        roles: vec!["proxy".into()],
        ..Options::default()
    })
}

/// One access rule: `GET` on `url_pattern`, anonymous, allowed, forwarded to `upstream`.
fn rule(id: &str, url_pattern: &str, upstream: &str) -> String {
    format!(
        "- id: {id}\n  match: {{ url: '{url_pattern}', methods: [GET] }}\n  \
         upstream: {{ url: '{upstream}' }}\n  authenticators: [{{ handler: anonymous }}]\n  \
         authorizer: {{ handler: allow }}\n  mutators: [{{ handler: noop }}]\n"
    )
}

/// Sends `GET <target>` byte for byte (HTTP clients normalise dot segments before sending);
/// answers the status code (0 when the connection closed without a response).
async fn raw_get(base: &str, target: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// `/pub/<.*>` must not let `..;`, encoded dot segments, backslashes or `//` carry a request
/// to `/admin` on an upstream that reads them as Tomcat, Spring, IIS or a path-cleaning router
/// does: such paths are refused, and the upstream never sees them.
#[tokio::test]
async fn paths_an_upstream_would_read_as_another_path_never_reach_it() {
    let (upstream, seen) = recording_upstream().await;
    let rules = rule("pub", "http://<[^/]+>/pub/<.*>", &upstream)
        + &rule(
            "all-but-admin",
            "http://<[^/]+>/<(?!admin|pub/).*>",
            &upstream,
        );
    let server = proxy_with(&rules);
    let proxy = server.url("proxy", "proxy");
    assert_eq!(raw_get(&proxy, "/pub/ok").await, 200, "control request");
    assert_eq!(seen.lock().unwrap().len(), 1);
    seen.lock().unwrap().clear();
    for attack in [
        "/pub/..;/admin",
        "/pub/..;jsessionid=x/admin",
        "/pub/.;/..;/admin",
        "/pub/%2e%2e;/admin",
        "/pub/%2e%2E/admin",
        "/pub/.%2e/admin",
        "/pub/%2e./admin",
        "/pub/..%3b/admin",
        "/pub/..%3B/admin",
        "/pub/%2e%2e%3b/admin",
        "/pub/..%5cadmin",
        "/pub/..%5c..%5cadmin",
        "/pub/..\\admin",
        "/pub/...;/admin",
        "/pub/..%20/admin",
        "/pub/../admin",
        "//admin",
        "/%2fadmin",
        "/%5cadmin",
        "/pub//../admin",
    ] {
        let status = raw_get(&proxy, attack).await;
        assert!(!(200..300).contains(&status), "{attack} answered {status}");
        let got = seen.lock().unwrap().clone();
        assert!(got.is_empty(), "{attack} reached the upstream as {got:?}");
    }
}

/// `Forwarded` (RFC 7239) and the other headers by which a proxy tells the upstream who the
/// client is or what it asked for are dropped unless `trust_forwarded_headers` is on.
#[tokio::test]
async fn client_claim_headers_are_not_forwarded_by_default() {
    let (upstream, seen) = recording_upstream().await;
    // (X-Forwarded-Proto sets the scheme rules match, as in Oathkeeper)
    let server = proxy_with(&rule("pub", "<https?>://<[^/]+>/pub/<.*>", &upstream));
    let proxy = server.url("proxy", "proxy");
    let claims = [
        ("forwarded", "for=10.0.0.1;host=admin.internal;proto=https"),
        ("x-forwarded-for", "10.0.0.1"),
        ("x-forwarded-host", "admin.internal"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-prefix", "/admin"),
        ("x-real-ip", "10.0.0.1"),
        ("x-original-url", "/admin"),
        ("x-rewrite-url", "/admin"),
        ("true-client-ip", "10.0.0.1"),
    ];
    let mut request = client().get(format!("{proxy}/pub/x"));
    for (k, v) in claims {
        request = request.header(k, v);
    }
    let r = request.header("x-kept", "yes").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let headers = &got[0].1;
    assert!(
        headers.iter().any(|(k, v)| k == "x-kept" && v == "yes"),
        "{headers:?}"
    );
    for (name, _) in claims {
        assert!(
            headers.iter().all(|(k, _)| k != name),
            "{name} reached the upstream: {headers:?}"
        );
    }
}

/// A rule whose pattern needs the backtracking engine is reported at load (naming the rule),
/// and a URL that makes it backtrack is answered with an error within a bounded time, not a
/// crash; the same shape without look-around is matched in linear time.
#[tokio::test]
async fn a_backtracking_rule_is_reported_and_bounded() {
    let (upstream, _seen) = recording_upstream().await;
    let rules = rule(
        "evil-lookahead",
        "http://<[^/]+>/x/<(?=a)(a|aa)+b>",
        &upstream,
    ) + &rule("linear-nested", "http://<[^/]+>/y/<(a|aa)+b>", &upstream);
    let mut server = proxy_with(&rules);
    let log = server.log_text();
    assert!(
        log.lines().any(|l| l.contains("\"evil-lookahead\"")
            && l.contains("backtracking")
            && l.contains("WARN")),
        "a warning names the rule: {log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("\"linear-nested\"") && l.contains("backtracking")),
        "a linear pattern is not reported"
    );
    let proxy = server.url("proxy", "proxy");
    let c = client();
    let evil = "a".repeat(40);
    for path in [format!("/x/{evil}"), format!("/y/{evil}")] {
        let started = Instant::now();
        let r = c.get(format!("{proxy}{path}")).send().await.unwrap();
        let took = started.elapsed();
        assert!(!r.status().is_success(), "{path}: {}", r.status());
        assert!(took < Duration::from_secs(2), "{path} took {took:?}");
    }
    assert!(server.alive());
}

/// A mutator template nested 100 000 blocks deep is refused when the rules load (the process
/// stays up and serves its other rules); a template that would render exponentially is cut off
/// at run time.
#[tokio::test]
async fn deeply_nested_or_exploding_templates_are_refused() {
    let (upstream, seen) = recording_upstream().await;
    let deep = "{{if 1}}".repeat(100_000) + &"{{end}}".repeat(100_000);
    // 8 bytes doubled 24 times: 128 MiB without the value limit
    let exploding = r#"{{with "aaaaaaaa"}}"#.to_string()
        + &"{{with cat . .}}".repeat(24)
        + "{{.}}"
        + &"{{end}}".repeat(25);
    let with_header = |id: &str, path: &str, template: &str| {
        rule(id, &format!("http://<[^/]+>/{path}"), &upstream).replace(
            "mutators: [{ handler: noop }]",
            &format!(
                "mutators: [{{ handler: header, config: {{ headers: {{ X-T: {} }} }} }}]",
                serde_json::to_string(template).unwrap()
            ),
        )
    };
    let rules = with_header("deep", "deep", &deep)
        + &with_header("exploding", "exploding", &exploding)
        + &rule("ok", "http://<[^/]+>/ok", &upstream);
    let mut server = proxy_with(&rules);
    assert!(server.alive());
    let log = server.log_text();
    assert!(
        log.contains("nest more than"),
        "the deep template is refused at load: {log}"
    );
    let proxy = server.url("proxy", "proxy");
    let c = client();
    let r = c.get(format!("{proxy}/deep")).send().await.unwrap();
    assert_eq!(r.status(), 404, "the refused rule does not serve");
    let started = Instant::now();
    let r = c.get(format!("{proxy}/exploding")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert!(started.elapsed() < Duration::from_secs(5));
    let r = c.get(format!("{proxy}/ok")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(server.alive());
}
