//! The reverse proxy on 4455: match, run the pipeline, then stream the request to the rule's
//! upstream (Oathkeeper's path join and `strip_path`, `preserve_host`, `Forwarded`,
//! `X-Forwarded-*` and the other client-claim headers only when `trust_forwarded_headers`) — over the client connection's own upstream connection for
//! HTTP/1, a pooled client for h2 and upgrades — and stream the response back.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Uri};
use axum::response::Response;
use axum::Router;
use hyper::client::conn::http1;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use tokio::time::error::Elapsed;

use super::authorizers::Authz;
use super::error::Error;
use super::request::PipelineRequest;
use super::template::UrlData;
use super::{CompiledRule, Proxy};
use crate::http::connection::ConnectionTasks;

/// How long the upstream may take to send response headers.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);
/// How long opening a connection to the upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The pooled upstream client: plain HTTP, and HTTPS trusting [`crate::crypto::tls`]'s roots
/// (HTTP/2 when the upstream offers it through ALPN, as Go's transport does).
#[derive(Clone)]
pub struct Forwarder {
    client: Client<HttpsConnector<HttpConnector>, Body>,
    trust_forwarded_headers: bool,
}

impl Forwarder {
    pub fn new(trust_forwarded_headers: bool) -> Result<Self, String> {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.enforce_http(false);
        let tls = crate::crypto::tls::client_config()?;
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Self {
            client,
            trust_forwarded_headers,
        })
    }
}

pub fn routes(proxy: Arc<Proxy>) -> Router {
    Router::new().fallback(handle).with_state(proxy)
}

/// Hop-by-hop headers never forwarded (RFC 9110 §7.6.1).
const HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` is a header by which a proxy in front tells the upstream who the client is
/// or what it asked for (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`, client-IP headers of CDNs,
/// and `X-Original-URL` / `X-Rewrite-URL`, which IIS and Symfony read as the request path).
/// Forwarded only under `serve.proxy.trust_forwarded_headers`: a client could otherwise claim
/// any address, scheme, host or path to the upstream.
fn client_claims(name: &HeaderName) -> bool {
    const NAMES: [&str; 8] = [
        "forwarded",
        "x-real-ip",
        "x-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
        "x-cluster-client-ip",
        "x-original-url",
        "x-rewrite-url",
    ];
    let n = name.as_str();
    n.starts_with("x-forwarded-") || n.starts_with("x-original-") || NAMES.contains(&n)
}

/// Oathkeeper's upstream path: base path joined with the request path, then the first
/// occurrence of `/<strip_path>` removed.
pub fn upstream_path(base: &str, request_path: &str, strip_path: &str) -> String {
    let joined = match (base.ends_with('/'), request_path.starts_with('/')) {
        (true, true) => format!("{base}{}", &request_path[1..]),
        (false, false) if !base.is_empty() && !request_path.is_empty() => {
            format!("{base}/{request_path}")
        }
        _ => format!("{base}{request_path}"),
    };
    let strip = strip_path.trim_matches('/');
    if strip.is_empty() {
        return joined;
    }
    joined.replacen(&format!("/{strip}"), "", 1)
}

/// The protocol an HTTP/1.1 request asks to switch to (`Connection: upgrade` + `Upgrade`).
fn upgrade_protocol(request: &Request) -> Option<HeaderValue> {
    if request.version() != axum::http::Version::HTTP_11 {
        return None;
    }
    let asks = request
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if !asks {
        return None;
    }
    request.headers().get(header::UPGRADE).cloned()
}

/// The client's side of an HTTP/1.1 upgrade: the protocol it asks for, and its connection
/// (hyper hands it over once our 101 is sent).
type Upgrade = (HeaderValue, hyper::upgrade::OnUpgrade);

/// What the upstream answered in time (`Err` when it took longer than [`UPSTREAM_TIMEOUT`]).
type Sent = Result<Result<hyper::Response<hyper::body::Incoming>, String>, Elapsed>;

/// One request on 4455: its path checked, its rule found, the pipeline run, then the request
/// forwarded upstream and the answer streamed back.
async fn handle(State(proxy): State<Arc<Proxy>>, mut request: Request) -> Response {
    // WebSocket and other upgrades: the client's side of the connection, taken before the
    // request is split.
    let upgrade: Option<Upgrade> =
        upgrade_protocol(&request).map(|p| (p, hyper::upgrade::on(&mut request)));
    // HTTP/1 client connections (one request at a time) to plain-HTTP upstreams use the
    // connection's own upstream connection; h2 streams share the pooled client.
    let affine = match request.version() {
        axum::http::Version::HTTP_10 | axum::http::Version::HTTP_11 => {
            request.extensions_mut().remove::<ConnectionTasks>()
        }
        _ => None,
    };
    let (mut parts, body) = request.into_parts();
    let (mut req, refused) = pipeline_request(&mut parts);
    let fail = |rule: Option<&CompiledRule>, error: &Error, req: &PipelineRequest| {
        proxy.handle_error(rule, error, req, request_id(req))
    };
    if let Some(reason) = refused {
        return fail(None, &Error::BadRequest(reason.into()), &req);
    }
    let (rule, captures) = match proxy.find(req.method.as_str(), &req.url) {
        Ok(x) => x,
        Err(e) => return fail(None, &e, &req),
    };
    let body = match body_for_authorizer(&rule, body, &mut req).await {
        Ok(body) => body,
        Err(e) => return fail(Some(&rule), &e, &req),
    };
    let session = match super::pipeline::run(
        &proxy.outbound,
        &rule.authenticators,
        &rule.authorizer,
        &rule.mutators,
        &req,
        captures,
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return fail(Some(&rule), &e, &req),
    };
    let Some(upstream) = rule.upstream.as_ref() else {
        return fail(Some(&rule), &Error::NoUpstream, &req);
    };
    let affine = affine.filter(|_| upstream.scheme() == "http");
    let uri = match upstream_uri(upstream, &parts.uri, &rule.rule.upstream.strip_path) {
        Ok(uri) => uri,
        Err(e) => return fail(Some(&rule), &e, &req),
    };
    let host = if rule.rule.upstream.preserve_host {
        req.url.host.as_str()
    } else {
        uri.authority().map(|a| a.as_str()).unwrap_or_default()
    };
    let headers = upstream_headers(
        proxy.forwarder.trust_forwarded_headers,
        &req,
        &session.header,
        upgrade.as_ref().map(|(protocol, _)| protocol),
        host,
    );
    let mut outbound = axum::http::Request::new(match body {
        Some(b) => b,
        None => Body::from(req.body.clone()),
    });
    *outbound.method_mut() = parts.method.clone();
    *outbound.uri_mut() = uri;
    *outbound.headers_mut() = headers;
    let sent = send(
        &proxy.forwarder,
        upstream,
        affine.as_ref().filter(|_| upgrade.is_none()),
        outbound,
    )
    .await;
    answer(sent, upgrade, &rule.rule.id)
}

/// The request as the pipeline judges it (the headers moved out of `parts`, the path
/// percent-decoded), and why its path is refused, if it is ([`checked_path`]).
fn pipeline_request(parts: &mut Parts) -> (PipelineRequest, Option<&'static str>) {
    let https = parts
        .headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or_default()
        .to_string();
    let (path, refused) = match checked_path(parts.uri.path()) {
        Ok(path) => (path, None),
        Err(reason) => (String::new(), Some(reason)),
    };
    let url = UrlData {
        scheme: if https { "https" } else { "http" }.into(),
        host,
        path,
        raw_query: parts.uri.query().unwrap_or_default().to_string(),
    };
    let req = PipelineRequest {
        method: parts.method.clone(),
        url,
        headers: Arc::new(std::mem::take(&mut parts.headers)),
        body: Default::default(),
    };
    (req, refused)
}

/// The body to stream upstream. A remote authorizer receives the original body, so for one the
/// body is buffered into `req.body` first (and sent upstream from there: `None`).
async fn body_for_authorizer(
    rule: &CompiledRule,
    body: Body,
    req: &mut PipelineRequest,
) -> Result<Option<Body>, Error> {
    if !matches!(rule.authorizer, Authz::Remote { .. }) {
        return Ok(Some(body));
    }
    match axum::body::to_bytes(body, 16 * 1024 * 1024).await {
        Ok(b) => {
            req.body = b;
            Ok(None)
        }
        Err(_) => Err(Error::internal(
            "request body too large for the remote authorizer",
        )),
    }
}

/// The upstream's URI: its scheme, host and port, its path joined with the request's
/// ([`upstream_path`]), the request's raw query.
fn upstream_uri(upstream: &url::Url, request: &Uri, strip_path: &str) -> Result<Uri, Error> {
    let path = upstream_path(upstream.path(), request.path(), strip_path);
    let mut target = format!(
        "{}://{}",
        upstream.scheme(),
        upstream.host_str().unwrap_or_default()
    );
    if let Some(port) = upstream.port() {
        target.push_str(&format!(":{port}"));
    }
    target.push_str(&path);
    if let Some(q) = request.query() {
        target.push('?');
        target.push_str(q);
    }
    target
        .parse::<Uri>()
        .map_err(|_| Error::internal(format!("invalid upstream URL {target}")))
}

/// The headers sent upstream: the request's, without hop-by-hop headers, `Host` and (unless
/// `trusted`) client-claim headers; then those the mutators set; the upgrade asked for; `host`.
fn upstream_headers(
    trusted: bool,
    req: &PipelineRequest,
    mutated: &HeaderMap,
    upgrade: Option<&HeaderValue>,
    host: &str,
) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(req.headers.len() + mutated.len());
    for (k, v) in req.headers.iter() {
        if HOP.contains(&k.as_str()) || k == header::HOST || (!trusted && client_claims(k)) {
            continue;
        }
        headers.append(k.clone(), v.clone());
    }
    // What the mutators set (the request's own headers are already in; after a noop mutator
    // they are not copied back, so hop-by-hop and untrusted X-Forwarded-* headers stay out).
    for name in mutated.keys() {
        if HOP.contains(&name.as_str()) {
            continue;
        }
        if let Some(v) = mutated.get(name) {
            headers.insert(name.clone(), v.clone());
        }
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(header::HOST, v);
    }
    headers
}

/// Sends `outbound` within [`UPSTREAM_TIMEOUT`]: over the client connection's own upstream
/// connection when `affine` offers one, else through the pooled client.
async fn send(
    forwarder: &Forwarder,
    upstream: &url::Url,
    affine: Option<&ConnectionTasks>,
    outbound: axum::http::Request<Body>,
) -> Sent {
    match affine {
        Some(tasks) => {
            let key = upstream_key(upstream);
            tokio::time::timeout(UPSTREAM_TIMEOUT, send_affine(tasks, key, outbound)).await
        }
        None => {
            tokio::time::timeout(UPSTREAM_TIMEOUT, async {
                forwarder
                    .client
                    .request(outbound)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
        }
    }
}

/// The upstream's answer streamed back without its hop-by-hop headers; after a 101 to an
/// upgrade, the two connections spliced. 502 when the upstream failed, 504 when it was late.
fn answer(sent: Sent, upgrade: Option<Upgrade>, rule: &str) -> Response {
    match sent {
        Ok(Ok(mut resp)) => {
            let switching = resp.status() == axum::http::StatusCode::SWITCHING_PROTOCOLS;
            if let (true, Some((_, client))) = (switching, upgrade) {
                let upstream = hyper::upgrade::on(&mut resp);
                tokio::spawn(splice(client, upstream, rule.to_owned()));
                let (p, _) = resp.into_parts();
                return Response::from_parts(p, Body::empty());
            }
            let (mut p, b) = resp.into_parts();
            for h in HOP {
                p.headers.remove(h);
            }
            Response::from_parts(p, Body::new(b))
        }
        Ok(Err(e)) => {
            tracing::warn!(rule, error = %e, "upstream request failed");
            empty(axum::http::StatusCode::BAD_GATEWAY)
        }
        Err(_) => empty(axum::http::StatusCode::GATEWAY_TIMEOUT),
    }
}

/// The request id the passthrough service set (or the client sent), for error bodies.
fn request_id(req: &PipelineRequest) -> Option<&str> {
    req.headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
}

/// The upstream connections of one client connection, by upstream host and port (the few
/// upstreams its requests went to; the oldest dropped past [`AFFINE_UPSTREAMS`]).
#[derive(Default)]
struct AffineUpstreams(Mutex<Vec<(UpstreamKey, http1::SendRequest<Body>)>>);

/// An upstream's host and port.
type UpstreamKey = (String, u16);

/// The host (an IPv6 address without its brackets) and port to connect to for `url`.
fn upstream_key(url: &url::Url) -> UpstreamKey {
    let host = url.host_str().unwrap_or_default();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (host.to_owned(), url.port_or_known_default().unwrap_or(80))
}

/// How many upstreams one client connection keeps a connection to.
const AFFINE_UPSTREAMS: usize = 4;

impl AffineUpstreams {
    fn take(&self, key: &UpstreamKey) -> Option<http1::SendRequest<Body>> {
        let mut conns = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let i = conns.iter().position(|(k, _)| k == key)?;
        Some(conns.swap_remove(i).1)
    }

    fn put(&self, key: UpstreamKey, sender: http1::SendRequest<Body>) {
        let mut conns = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if conns.len() >= AFFINE_UPSTREAMS {
            conns.remove(0);
        }
        conns.push((key, sender));
    }
}

/// Sends `request` over the client connection's own HTTP/1 connection to the upstream,
/// opening it (driven by the client connection's task) when there is none or it closed.
async fn send_affine(
    tasks: &ConnectionTasks,
    key: UpstreamKey,
    mut request: axum::http::Request<Body>,
) -> Result<hyper::Response<hyper::body::Incoming>, String> {
    // A connection to the upstream itself takes the origin form (`/path?query`).
    if let Some(origin) = request.uri().path_and_query().cloned() {
        *request.uri_mut() = Uri::from(origin);
    }
    let upstreams = tasks.local::<AffineUpstreams>();
    if let Some(mut sender) = upstreams.take(&key) {
        if sender.ready().await.is_ok() {
            match sender.try_send_request(request).await {
                Ok(response) => {
                    upstreams.put(key, sender);
                    return Ok(response);
                }
                // Closed before the request was written (an idle upstream connection the
                // upstream had just closed): retry on a new connection.
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err(e.into_error().to_string()),
                },
            }
        }
    }
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::TcpStream::connect((key.0.as_str(), key.1)),
    )
    .await
    .map_err(|_| "connecting to the upstream timed out".to_string())?
    .map_err(|e| format!("connecting to the upstream: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tasks.spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "upstream connection ended with an error");
        }
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    upstreams.put(key, sender);
    Ok(response)
}

/// After a 101: copies bytes both ways between the client's and the upstream's upgraded
/// connections until either side closes.
async fn splice(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    rule: String,
) {
    match tokio::try_join!(client, upstream) {
        Ok((client, upstream)) => {
            let mut client = hyper_util::rt::TokioIo::new(client);
            let mut upstream = hyper_util::rt::TokioIo::new(upstream);
            if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
                tracing::debug!(rule, error = %e, "upgraded connection ended");
            }
        }
        Err(e) => tracing::warn!(rule, error = %e, "connection upgrade failed"),
    }
}

fn empty(status: axum::http::StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// The path rules match: percent-decoded, as Go's `URL.Path` — or why the request is refused.
/// The upstream receives the raw path, so a path is refused when its decoded form could reach
/// the upstream as something other than what was matched: an invalid or non-UTF-8
/// percent-encoding, a NUL byte, a dot segment (`.`, `..`, also encoded, also between
/// backslashes, which some servers treat as separators, also with a path parameter such as
/// `..;x=1`, which Tomcat and Spring read as `..`, or trailing spaces, which IIS trims), or an
/// empty segment (`//`, `/\`, which many servers collapse, so that `//admin` would match a
/// rule written for every path but `/admin` and arrive as `/admin`). Oathkeeper forwards such
/// paths unchanged, so `/public/../admin` can match a public rule and reach `/admin`.
pub fn checked_path(raw: &str) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
            if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err("The request path contains an invalid percent-encoding");
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "The request path is not valid UTF-8 once percent-decoded")?;
    if decoded.contains('\0') {
        return Err("The request path contains a NUL byte");
    }
    let segments: Vec<&str> = decoded.split(['/', '\\']).collect();
    if segments.iter().copied().any(is_dot_segment) {
        return Err("The request path contains a dot segment (\".\" or \"..\")");
    }
    // The first segment is the empty one before the leading `/`, the last may be empty after a
    // trailing `/`; any other empty segment is `//`.
    let inner = segments
        .get(1..segments.len().saturating_sub(1))
        .unwrap_or_default();
    if inner.iter().any(|s| s.is_empty()) {
        return Err("The request path contains an empty segment (\"//\")");
    }
    Ok(decoded.into_owned())
}

/// `.` or `..` as some server reads the segment: path parameters (`;…`) cut off, trailing
/// whitespace and dots trimmed (`.. ` and `...` become `..` on Windows servers).
fn is_dot_segment(segment: &str) -> bool {
    let name = segment.split(';').next().unwrap_or_default();
    let name = name.trim_end();
    !name.is_empty() && name.bytes().all(|b| b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_reach_the_upstream_in_another_form_are_refused() {
        assert_eq!(checked_path("/api/a%20b").as_deref(), Ok("/api/a b"));
        assert_eq!(checked_path("/api/a%2Fb").as_deref(), Ok("/api/a/b"));
        assert_eq!(checked_path("/api/..x/.y").as_deref(), Ok("/api/..x/.y"));
        assert_eq!(checked_path("/api/a;b=1/").as_deref(), Ok("/api/a;b=1/"));
        assert_eq!(checked_path("/").as_deref(), Ok("/"));
        assert_eq!(checked_path("").as_deref(), Ok(""));
        for bad in [
            "/api/../admin",
            "/api/./x",
            "/api/..",
            "/api/%2e%2e/admin",
            "/api/%2E%2e%2fadmin",
            "/api%2f..%2fadmin",
            "/api/..%5cadmin",
            "/api/%zz",
            "/api/%4",
            "/api/%c0%ae%c0%ae/admin",
            "/api/%ff",
            "/api/a%00b",
            "/pub/..;/admin",
            "/pub/..;jsessionid=1/admin",
            "/pub/.;/admin",
            "/pub/%2e%2e;/admin",
            "/pub/%2e%2E/admin",
            "/pub/.%2e/admin",
            "/pub/..%3b/admin",
            "/pub/..%3B/admin",
            "/pub/..\\admin",
            "/pub/%5c..%5cadmin",
            "/pub/.../admin",
            "/pub/..%20/admin",
            "//admin",
            "/pub//admin",
            "/pub/%2f/admin",
            "/\\admin",
            "/pub/%5c%5cadmin",
        ] {
            assert!(checked_path(bad).is_err(), "{bad} must be refused");
        }
    }

    /// The property `fuzz/fuzz_targets/proxy_path.rs` checks, replayed here over its seeds and
    /// their prefixes: an accepted path has no dot segment and no inner empty segment.
    #[test]
    fn accepted_paths_have_no_dot_or_empty_segments() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/proxy_path");
        let mut seeds = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            seeds.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
        assert!(seeds.len() >= 3);
        for seed in seeds {
            for end in 0..=seed.len() {
                let Some(raw) = seed.get(..end) else { continue };
                let Ok(decoded) = checked_path(raw) else {
                    continue;
                };
                let segments: Vec<&str> = decoded.split(['/', '\\']).collect();
                for (i, segment) in segments.iter().enumerate() {
                    assert!(!is_dot_segment(segment), "{raw:?}");
                    let inner = i > 0 && i + 1 < segments.len();
                    assert!(!(inner && segment.is_empty()), "{raw:?}");
                }
            }
        }
    }

    #[test]
    fn client_claims_cover_every_forwarding_header() {
        for n in [
            "forwarded",
            "x-forwarded-for",
            "x-forwarded-host",
            "x-forwarded-proto",
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-real-ip",
            "x-original-url",
            "x-original-forwarded-for",
            "x-rewrite-url",
            "true-client-ip",
        ] {
            assert!(client_claims(&HeaderName::from_static(n)), "{n}");
        }
        for n in ["authorization", "cookie", "x-request-id", "x-user"] {
            assert!(!client_claims(&HeaderName::from_static(n)), "{n}");
        }
    }

    #[test]
    fn upstream_keys_name_what_a_socket_connects_to() {
        let key = |u: &str| upstream_key(&url::Url::parse(u).unwrap());
        assert_eq!(key("http://127.0.0.1:8080/x"), ("127.0.0.1".into(), 8080));
        assert_eq!(key("http://[::1]:9000"), ("::1".into(), 9000));
        assert_eq!(key("http://api.internal/"), ("api.internal".into(), 80));
    }

    #[test]
    fn join_and_strip_follow_oathkeeper() {
        assert_eq!(upstream_path("", "/api/me", ""), "/api/me");
        assert_eq!(upstream_path("/", "/api/me", ""), "/api/me");
        assert_eq!(upstream_path("/base", "/req", ""), "/base/req");
        assert_eq!(upstream_path("/base/", "/req", ""), "/base/req");
        assert_eq!(upstream_path("", "/api/v1/x", "/api"), "/v1/x");
        assert_eq!(upstream_path("/base", "/api/x", "api/"), "/base/x");
        // strip runs after the join and may hit the base path
        assert_eq!(upstream_path("/api", "/x", "/api"), "/x");
    }
}
