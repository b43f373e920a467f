//! Resource exhaustion: slow or silent clients cannot hold connections open (the header read
//! timeout), a flood of connections is capped per listener without taking the server down
//! (`http.max_connections`), and rows that anonymous requests create are removed once expired
//! (`quartet janitor` and the background janitor).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::harness::{client, Options, Server};

/// The `host:port` of a base URL.
fn addr(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// A server serving only the permission role (quick to start) with `http` settings.
fn permission_server(http: &str) -> Server {
    Server::start(Options {
        dev: true,
        roles: vec!["permission".into()],
        config: format!("http:\n{http}"),
        ..Options::default()
    })
}

/// What reading from `stream` within `wait` shows.
#[derive(Debug, PartialEq)]
enum Seen {
    /// The server closed the connection (EOF or reset).
    Closed,
    /// Bytes arrived.
    Data(Vec<u8>),
    /// Nothing within `wait`.
    Nothing,
}

fn read_within(stream: &mut TcpStream, wait: Duration) -> Seen {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => Seen::Closed,
        Ok(n) => Seen::Data(buf[..n].to_vec()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Seen::Nothing,
        Err(_) => Seen::Closed,
    }
}

/// Reads until the server closes the connection; how long that took, or `None` if it was
/// still open after `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if read_within(stream, Duration::from_millis(200)) == Seen::Closed {
            return Some(start.elapsed());
        }
    }
    None
}

/// Reads one HTTP/1.1 response (headers and a Content-Length body) within `wait`.
fn read_response(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let start = Instant::now();
    let mut got = Vec::new();
    while start.elapsed() < wait {
        match read_within(stream, Duration::from_millis(100)) {
            Seen::Data(d) => got.extend(d),
            Seen::Closed => return None,
            Seen::Nothing => {}
        }
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return Some(text);
            }
        }
    }
    None
}

const ALIVE: &[u8] = b"GET /health/alive HTTP/1.1\r\nHost: quartet\r\n\r\n";

#[test]
fn a_client_dribbling_its_headers_is_disconnected_after_the_header_timeout() {
    let server = permission_server("  header_read_timeout_seconds: 1\n");
    // As the first request of a connection, and as the second of a kept-alive one.
    for after_a_request in [false, true] {
        let mut stream = TcpStream::connect(addr(&server.url("permission", "read"))).unwrap();
        if after_a_request {
            stream.write_all(ALIVE).unwrap();
            let answer = read_response(&mut stream, Duration::from_secs(5)).expect("no answer");
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
        stream
            .write_all(b"GET /health/alive HTTP/1.1\r\nHost: quartet\r\nX-Slow: ")
            .unwrap();
        let start = Instant::now();
        let mut closed = false;
        // One more header byte every 250 ms, forever: a slowloris client.
        while start.elapsed() < Duration::from_secs(8) {
            if stream.write_all(b"a").is_err() {
                closed = true;
                break;
            }
            if let Seen::Closed | Seen::Data(_) =
                read_within(&mut stream, Duration::from_millis(250))
            {
                closed = closed_within(&mut stream, Duration::from_secs(1)).is_some();
                break;
            }
        }
        assert!(
            closed,
            "a client still sending one header byte at a time was never disconnected (after a request: {after_a_request})"
        );
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(800),
            "closed too early: {took:?}"
        );
        assert!(took < Duration::from_secs(5), "closed too late: {took:?}");
    }
}

#[test]
fn connections_that_send_nothing_are_closed() {
    let server = permission_server("  header_read_timeout_seconds: 1\n");
    let at = addr(&server.url("permission", "read"));

    // Connects and stays silent.
    let mut silent = TcpStream::connect(&at).unwrap();
    // Sends only the HTTP/2 preface and an empty SETTINGS frame, then nothing.
    let mut h2 = TcpStream::connect(&at).unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .unwrap();
    // Sends one request, reads the answer, then keeps the connection idle.
    let mut idle = TcpStream::connect(&at).unwrap();
    idle.write_all(ALIVE).unwrap();
    let answer = read_response(&mut idle, Duration::from_secs(5)).expect("no answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    for (name, stream) in [
        ("silent", &mut silent),
        ("h2 preface only", &mut h2),
        ("idle keep-alive", &mut idle),
    ] {
        assert!(
            closed_within(stream, Duration::from_secs(5)).is_some(),
            "the {name} connection was still open 5 s after a 1 s header timeout"
        );
    }
}

#[test]
fn connections_beyond_max_connections_wait_until_one_closes() {
    let mut server = permission_server("  max_connections: 5\n  header_read_timeout_seconds: 30\n");
    let at = addr(&server.url("permission", "read"));
    // Five kept-alive connections, each served once: the cap is reached.
    let mut held: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut s = TcpStream::connect(&at).unwrap();
            s.write_all(ALIVE).unwrap();
            let answer = read_response(&mut s, Duration::from_secs(5)).expect("no answer");
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            s
        })
        .collect();
    // The sixth connects (the kernel's backlog takes it) but is not served while five are open.
    let mut sixth = TcpStream::connect(&at).unwrap();
    sixth.write_all(ALIVE).unwrap();
    assert_eq!(
        read_within(&mut sixth, Duration::from_millis(1000)),
        Seen::Nothing,
        "a sixth connection was served while max_connections (5) were open"
    );
    // One closes: the sixth is served.
    drop(held.remove(0));
    let answer = read_response(&mut sixth, Duration::from_secs(5))
        .expect("the waiting connection was not served after one closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Everyone gone: the server is alive and serves new connections.
    drop(held);
    drop(sixth);
    assert!(server.alive());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        client()
            .get(format!("{}/health/alive", server.url("permission", "read")))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    assert_eq!(status.ok(), Some(200));
}

/// An identity server on a SQLite file whose login flows expire at once; `janitor` is extra
/// YAML for the `janitor:` section.
fn identity_server(janitor: &str) -> Server {
    Server::start(Options {
        dev: true,
        roles: vec!["identity".into()],
        config: format!(
            "dsn: sqlite://quartet.sqlite\n{janitor}identity:\n  selfservice:\n    flows:\n      login:\n        lifespan: 1ms\n"
        ),
        ..Options::default()
    })
}

/// Creates `n` login flows (anonymous, as anyone can) and one registration flow (which lives
/// an hour); their ids.
async fn create_flows(public: &str, n: usize) -> (Vec<String>, String) {
    let http = client();
    let mut logins = Vec::new();
    for _ in 0..n {
        let flow: serde_json::Value = http
            .get(format!("{public}/self-service/login/api"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        logins.push(flow["id"].as_str().unwrap().to_string());
    }
    let registration: serde_json::Value = http
        .get(format!("{public}/self-service/registration/api"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (logins, registration["id"].as_str().unwrap().to_string())
}

async fn flow_status(public: &str, kind: &str, id: &str) -> u16 {
    client()
        .get(format!("{public}/self-service/{kind}/flows?id={id}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn quartet_janitor_removes_the_expired_flows_an_attacker_created_and_keeps_the_live_ones() {
    let server = identity_server("");
    let public = server.url("identity", "public");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (logins, registration) = runtime.block_on(create_flows(&public, 30));
    for id in &logins {
        // Expired but still stored.
        assert_eq!(runtime.block_on(flow_status(&public, "login", id)), 410);
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quartet"))
        .args([
            "janitor",
            "-c",
            "quartet.yml",
            "--keep-if-younger",
            "0s",
            "--batch-size",
            "7",
        ])
        .current_dir(server.path())
        .env_remove("DSN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("deleted 30 expired self-service flows"),
        "{stdout}"
    );
    for id in &logins {
        assert_eq!(runtime.block_on(flow_status(&public, "login", id)), 404);
    }
    assert_eq!(
        runtime.block_on(flow_status(&public, "registration", &registration)),
        200,
        "the janitor deleted an unexpired flow"
    );
}

#[test]
fn the_background_janitor_removes_expired_flows_on_its_interval() {
    let server = identity_server("janitor:\n  interval: 200ms\n  keep_if_younger: 0s\n");
    let public = server.url("identity", "public");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (logins, registration) = runtime.block_on(create_flows(&public, 10));
    let start = Instant::now();
    loop {
        let mut left = 0;
        for id in &logins {
            if runtime.block_on(flow_status(&public, "login", id)) != 404 {
                left += 1;
            }
        }
        if left == 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{left} expired flows still stored after 10 s with a 200 ms janitor interval"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        runtime.block_on(flow_status(&public, "registration", &registration)),
        200
    );
}
