//! The reverse proxy on the wire: WebSocket upgrade to a real WebSocket echo upstream, HTTP/2
//! with prior knowledge (h2c) from the client, and hostile input — request smuggling
//! (conflicting Content-Length / Transfer-Encoding), oversized headers, path traversal and
//! invalid percent-encoding, forged `X-User-*` headers — written as raw bytes where a client
//! library would refuse to send them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::routing::any;
use axum::{Json, Router};
use base64::Engine as _;
use quartet::config::{Loader, Role};
use quartet::Stack;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the recording upstream saw: method, path and query, headers, body.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    uri: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// An upstream that records every request and answers with its path.
async fn recording_upstream() -> (String, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let app = Router::new().fallback(any(move |req: Request| {
        let l = l.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            l.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                uri: parts.uri.to_string(),
                headers: parts.headers.clone(),
                body: body.to_vec(),
            });
            Json(json!({"path": parts.uri.path()}))
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), log)
}

/// A WebSocket echo server written from RFC 6455: answers the handshake with the computed
/// `Sec-WebSocket-Accept`, then echoes every text frame as `echo: <text>` until a close frame.
async fn websocket_upstream() -> (String, Arc<Mutex<usize>>) {
    let handshakes = Arc::new(Mutex::new(0usize));
    let h = handshakes.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let h = h.clone();
            tokio::spawn(async move {
                let head = read_head(&mut s).await;
                let key = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("sec-websocket-key")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap();
                assert!(head.to_ascii_lowercase().contains("upgrade: websocket"));
                *h.lock().unwrap() += 1;
                let accept = accept_key(&key);
                s.write_all(
                    format!(
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                         Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await
                .unwrap();
                loop {
                    let (opcode, payload) = read_frame(&mut s).await;
                    if opcode == 8 {
                        s.write_all(&frame(8, b"", None)).await.unwrap();
                        return;
                    }
                    let mut reply = b"echo: ".to_vec();
                    reply.extend_from_slice(&payload);
                    s.write_all(&frame(1, &reply, None)).await.unwrap();
                }
            });
        }
    });
    (format!("http://{addr}"), handshakes)
}

fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// One frame (payload < 126 bytes), masked when `mask` is given (client → server).
fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut out = vec![0x80 | opcode];
    match mask {
        Some(m) => {
            out.push(0x80 | payload.len() as u8);
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => {
            out.push(payload.len() as u8);
            out.extend_from_slice(payload);
        }
    }
    out
}

async fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await.unwrap();
    let masked = head[1] & 0x80 != 0;
    let len = (head[1] & 0x7f) as usize;
    assert!(len < 126);
    let mut mask = [0u8; 4];
    if masked {
        s.read_exact(&mut mask).await.unwrap();
    }
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.unwrap();
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    (head[0] & 0x0f, payload)
}

/// Reads up to the end of an HTTP head (`\r\n\r\n`), byte by byte so that nothing after it is
/// consumed.
async fn read_head(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.unwrap() == 0 {
            break;
        }
        buf.push(b[0]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Everything the server sends until it closes (or 5 s pass).
async fn read_all(s: &mut TcpStream) -> (String, bool) {
    let mut out = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

struct Env {
    stack: Stack,
    proxy: String,
    addr: String,
}

/// A proxy-only stack: `/api/` and `/ws/` open (noop/allow/noop), `/admin/` and `/locked/`
/// behind the unauthorized authenticator, `/me/` setting X-User-Id from the anonymous subject.
async fn start(upstream: &str, ws_upstream: &str) -> Env {
    let rule = |id: &str, pattern: &str, authn: &str, mutator: Value, up: &str| {
        json!({"id": id, "match": {"url": format!("http://<[^/]+>{pattern}"),
                "methods": ["GET", "POST", "PUT"]},
               "authenticators": [{"handler": authn}], "authorizer": {"handler": "allow"},
               "mutators": [mutator], "upstream": {"url": up}})
    };
    let rules = json!([
        rule(
            "api",
            "/api/<.*>",
            "noop",
            json!({"handler": "noop"}),
            upstream
        ),
        rule(
            "admin",
            "/admin<.*>",
            "unauthorized",
            json!({"handler": "noop"}),
            upstream
        ),
        rule(
            "ws",
            "/ws/<.*>",
            "noop",
            json!({"handler": "noop"}),
            ws_upstream
        ),
        rule(
            "locked",
            "/locked/<.*>",
            "unauthorized",
            json!({"handler": "noop"}),
            ws_upstream
        ),
        rule(
            "me",
            "/me/<.*>",
            "anonymous",
            json!({"handler": "header", "config": {"headers": {
                 "X-User-Id": "{{ print .Subject }}", "X-User-Email": ""}}}),
            upstream
        ),
    ]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(rules.to_string());
    let doc = json!({"dsn": "memory", "proxy": {
        "serve": {"proxy": {"host": "127.0.0.1", "port": 0},
                  "api": {"host": "127.0.0.1", "port": 0},
                  "prometheus": {"host": "127.0.0.1", "port": 0}},
        "access_rules": {"repositories": [format!("base64://{b64}")]},
        "authenticators": {"noop": {"enabled": true}, "unauthorized": {"enabled": true},
                           "anonymous": {"enabled": true, "config": {"subject": "guest"}}},
        "authorizers": {"allow": {"enabled": true}},
        "mutators": {"noop": {"enabled": true}, "header": {"enabled": true,
                     "config": {"headers": {}}}},
    }});
    let loaded = Loader::new()
        .text(doc.to_string())
        .dev(true)
        .load()
        .unwrap();
    let stack = Stack::start_roles(loaded.config, &[Role::Proxy])
        .await
        .unwrap();
    let proxy = stack.url(Role::Proxy, "proxy").unwrap();
    let addr = proxy
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    Env { stack, proxy, addr }
}

async fn raw(env: &Env, request: &[u8]) -> (String, bool) {
    let mut s = TcpStream::connect(&env.addr).await.unwrap();
    s.write_all(request).await.unwrap();
    read_all(&mut s).await
}

#[tokio::test]
async fn websocket_upgrade_passes_after_the_pipeline_and_carries_frames_both_ways() {
    let (up, _) = recording_upstream().await;
    let (ws, handshakes) = websocket_upstream().await;
    let env = start(&up, &ws).await;

    let mut s = TcpStream::connect(&env.addr).await.unwrap();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    s.write_all(
        format!(
            "GET /ws/chat HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\n\
             Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let head = read_head(&mut s).await;
    assert_eq!(status_of(&head), 101, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket"), "{head}");
    assert!(lower.contains("connection: upgrade"), "{head}");
    assert!(
        head.contains(&format!("Sec-WebSocket-Accept: {}", accept_key(key)))
            || lower.contains(&format!(
                "sec-websocket-accept: {}",
                accept_key(key).to_ascii_lowercase()
            )),
        "{head}"
    );
    for text in ["hello", "second message"] {
        s.write_all(&frame(1, text.as_bytes(), Some([1, 2, 3, 4])))
            .await
            .unwrap();
        let (opcode, payload) = read_frame(&mut s).await;
        assert_eq!(opcode, 1);
        assert_eq!(payload, format!("echo: {text}").as_bytes());
    }
    s.write_all(&frame(8, b"", Some([9, 9, 9, 9])))
        .await
        .unwrap();
    let (opcode, _) = read_frame(&mut s).await;
    assert_eq!(opcode, 8);
    assert_eq!(*handshakes.lock().unwrap(), 1);

    // A rule that denies: 401, the upstream never sees the handshake.
    let (response, _) = raw(
        &env,
        format!(
            "GET /locked/chat HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&response), 401, "{response}");
    assert_eq!(*handshakes.lock().unwrap(), 1);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served_on_the_proxy_port() {
    let (up, log) = recording_upstream().await;
    let env = start(&up, &up).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = h2
        .post(format!("{}/api/items?x=1", env.proxy))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["path"], "/api/items");
    // HTTP/1.1 still works on the same port.
    let r = reqwest::get(format!("{}/api/items", env.proxy))
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_11);
    assert_eq!(r.status(), 200);
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].uri, "/api/items?x=1");
    assert_eq!(seen[0].body, b"payload");
    // Denials over h2 keep Oathkeeper's JSON.
    let r = h2
        .get(format!("{}/admin/x", env.proxy))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], 401);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn conflicting_content_length_and_transfer_encoding_never_smuggle_a_request() {
    let (up, log) = recording_upstream().await;
    let env = start(&up, &up).await;

    // CL.TE: a front end trusting Content-Length would pass the whole thing on; a back end
    // trusting Transfer-Encoding would then read `GET /admin` as a second request.
    let smuggled = "GET /admin/secret HTTP/1.1\r\nHost: app.test\r\n\r\n";
    let body = format!("0\r\n\r\n{smuggled}");
    let (response, closed) = raw(
        &env,
        format!(
            "POST /api/x HTTP/1.1\r\nHost: app.test\r\nContent-Length: {}\r\n\
             Transfer-Encoding: chunked\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await;
    // Transfer-Encoding wins (RFC 9112 §6.3), Content-Length is dropped, and the connection is
    // closed after the response (§6.1), so the trailing bytes are never read as a request.
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(response.matches("HTTP/1.1").count(), 1, "{response}");
    assert!(closed, "the connection must close after a CL+TE request");

    // TE.CL: the chunk holds what a Content-Length back end would take as the next request.
    let chunk = format!("{smuggled}X");
    let (response, closed) = raw(
        &env,
        format!(
            "POST /api/y HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\
             Content-Length: 4\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert!(closed);

    {
        let seen = log.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert!(
            seen.iter().all(|s| !s.uri.starts_with("/admin")),
            "{seen:?}"
        );
        assert_eq!(seen[0].uri, "/api/x");
        assert!(seen[0].body.is_empty());
        assert_eq!(seen[1].uri, "/api/y");
        assert_eq!(seen[1].body, chunk.as_bytes());
        // The upstream gets one framing only.
        for s in seen.iter() {
            assert!(
                !(s.headers.contains_key("content-length")
                    && s.headers.contains_key("transfer-encoding")),
                "{s:?}"
            );
        }
    }

    // Framings that cannot be read unambiguously are refused with 400 and never forwarded.
    for bad in [
        "POST /api/z HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST /api/z HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        "POST /api/z HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        "POST /api/z HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        "POST /api/z HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "POST /api/z HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ] {
        let (response, _) = raw(&env, bad.as_bytes()).await;
        assert_eq!(status_of(&response), 400, "{bad:?} → {response}");
    }
    assert_eq!(
        log.lock().unwrap().len(),
        2,
        "nothing refused was forwarded"
    );
    env.stack.shutdown().await;
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let (up, log) = recording_upstream().await;
    let env = start(&up, &up).await;
    let huge = "a".repeat(512 * 1024);
    let (response, _) = raw(
        &env,
        format!("GET /api/x HTTP/1.1\r\nHost: a\r\nX-Big: {huge}\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(
        status_of(&response),
        431,
        "{}",
        &response[..response.len().min(200)]
    );
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let (response, _) = raw(
        &env,
        format!("GET /api/x HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&response), 431, "{response}");
    assert!(log.lock().unwrap().is_empty());
    // The proxy is still serving.
    let r = reqwest::get(format!("{}/api/ok", env.proxy)).await.unwrap();
    assert_eq!(r.status(), 200);
    env.stack.shutdown().await;
}

#[tokio::test]
async fn traversal_and_bad_percent_encoding_never_reach_the_upstream() {
    let (up, log) = recording_upstream().await;
    let env = start(&up, &up).await;
    for path in [
        "/api/../admin/secret",
        "/api/./../admin",
        "/api/%2e%2e/admin/secret",
        "/api/%2E%2E%2Fadmin",
        "/api%2f..%2fadmin",
        "/api/..%5cadmin",
        "/api/..\\admin",
        "/api/%zz",
        "/api/%c0%ae%c0%ae/admin",
        "/api/%ff",
        "/api/a%00b",
    ] {
        let (response, _) = raw(
            &env,
            format!("GET {path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
        let status = status_of(&response);
        assert_eq!(status, 400, "{path} → {response}");
        assert!(
            response.contains("\"code\":400"),
            "{path}: Oathkeeper's JSON: {response}"
        );
    }
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
    // Encoded characters that stay inside the matched segment are fine; the upstream gets the
    // path as sent.
    let (response, _) = raw(
        &env,
        b"GET /api/a%20b/..c HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&response), 200, "{response}");
    assert_eq!(log.lock().unwrap()[0].uri, "/api/a%20b/..c");
    env.stack.shutdown().await;
}

#[tokio::test]
async fn forged_user_headers_are_overwritten_by_the_header_mutator() {
    let (up, log) = recording_upstream().await;
    let env = start(&up, &up).await;
    let (response, _) = raw(
        &env,
        b"GET /me/x HTTP/1.1\r\nHost: app.test\r\nX-User-Id: admin\r\nx-user-id: root\r\n\
          X-USER-EMAIL: boss@example.com\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status_of(&response), 200, "{response}");
    let seen = log.lock().unwrap()[0].clone();
    let ids: Vec<_> = seen.headers.get_all("x-user-id").iter().collect();
    assert_eq!(ids, ["guest"], "one value, the mutator's");
    let emails: Vec<_> = seen.headers.get_all("x-user-email").iter().collect();
    assert_eq!(
        emails,
        [""],
        "an empty rendering still replaces the forged value"
    );
    env.stack.shutdown().await;
}

/// An HTTP/1.1 upstream written on raw TCP: answers every request with
/// `<connection number> <request line>` and closes each connection after two requests
/// (without `Connection: close`, as an upstream whose keep-alive ran out does).
async fn two_requests_per_connection_upstream() -> (String, Arc<Mutex<usize>>) {
    let accepted = Arc::new(Mutex::new(0usize));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let n = {
                let mut c = count.lock().unwrap();
                *c += 1;
                *c
            };
            tokio::spawn(async move {
                for _ in 0..2 {
                    let head = read_head(&mut s).await;
                    let Some(line) = head.lines().next().filter(|l| !l.is_empty()) else {
                        return;
                    };
                    let body = format!("{n} {line}");
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    s.write_all(answer.as_bytes()).await.unwrap();
                }
            });
        }
    });
    (format!("http://{addr}"), accepted)
}

/// Reads one response with a Content-Length body from a keep-alive connection.
async fn read_response(s: &mut TcpStream) -> (u16, String) {
    let head = read_head(s).await;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).await.unwrap();
    (
        status_of(&head),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn a_client_connection_reuses_its_upstream_connection_and_reopens_it_when_closed() {
    let (upstream, accepted) = two_requests_per_connection_upstream().await;
    let env = start(&upstream, &upstream).await;
    let mut client = TcpStream::connect(&env.addr).await.unwrap();
    let mut answers = Vec::new();
    for i in 0..5 {
        let request = format!("GET /api/{i}?q={i} HTTP/1.1\r\nHost: app.test\r\n\r\n");
        client.write_all(request.as_bytes()).await.unwrap();
        answers.push(read_response(&mut client).await);
        // Let the upstream's close arrive before the next request (the common case); a close
        // racing the request is covered by the retry of an unsent request.
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let expected: Vec<(u16, String)> = [(1, 0), (1, 1), (2, 2), (2, 3), (3, 4)]
        .iter()
        .map(|(conn, i)| (200, format!("{conn} GET /api/{i}?q={i} HTTP/1.1")))
        .collect();
    // Origin-form request lines, two requests per upstream connection, no 502 when the
    // upstream closed the connection the client connection was using.
    assert_eq!(answers, expected);
    assert_eq!(*accepted.lock().unwrap(), 3);

    // Another client connection gets its own upstream connection.
    let mut other = TcpStream::connect(&env.addr).await.unwrap();
    other
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: app.test\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut other).await,
        (200, "4 GET /api/x HTTP/1.1".to_string())
    );
    env.stack.shutdown().await;
}
