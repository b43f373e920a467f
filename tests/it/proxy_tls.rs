//! The reverse proxy to an `https://` upstream, with the release binary: the upstream's
//! certificate is issued by a private CA that `SSL_CERT_FILE` names (as it would for
//! Oathkeeper's Go binary), HTTP/2 is negotiated through ALPN, and without that CA the
//! upstream is not trusted (502).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::routing::any;
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::{json, Value};
use tokio_rustls::rustls;

/// A private CA (PEM) and a `localhost` server certificate it issued, with its key.
struct Pki {
    ca_pem: String,
    server: rustls::ServerConfig,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Pki {
        ca_pem: ca.pem(),
        server,
    }
}

/// An HTTPS upstream answering with the path, Host (or `:authority`) and HTTP version it saw.
async fn tls_upstream(config: rustls::ServerConfig) -> SocketAddr {
    let app = Router::new().fallback(any(|req: Request| async move {
        let host = req
            .headers()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.uri().authority().map(|a| a.to_string()));
        Json(json!({
            "path": req.uri().path(),
            "host": host,
            "version": format!("{:?}", req.version()),
        }))
    }));
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return; // the proxy refused our certificate
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

/// `N` distinct ports that were free a moment ago: every listener is held until all are
/// chosen, so the kernel cannot hand the same port out twice.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<_> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// The proxy role of the binary, with one noop/allow/noop rule to `upstream`; `ca_file` is
/// handed over as `SSL_CERT_FILE`.
struct Quartet {
    child: Child,
    proxy: String,
}

impl Drop for Quartet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn quartet(dir: &Path, upstream: &str, ca_file: Option<&Path>) -> Quartet {
    let [proxy, api, metrics] = free_ports();
    let rules = json!([{
        "id": "tls",
        "match": {"url": "http://<.*>/<.*>", "methods": ["GET"]},
        "upstream": {"url": upstream},
        "authenticators": [{"handler": "noop"}],
        "authorizer": {"handler": "allow"},
        "mutators": [{"handler": "noop"}]
    }]);
    let rules_path = dir.join("rules.json");
    std::fs::write(&rules_path, rules.to_string()).unwrap();
    let config = format!(
        "dsn: memory\nproxy:\n  serve:\n    proxy: {{host: 127.0.0.1, port: {proxy}}}\n    \
         api: {{host: 127.0.0.1, port: {api}}}\n    prometheus: {{host: 127.0.0.1, port: {metrics}}}\n  \
         access_rules:\n    repositories: [\"file://{}\"]\n  \
         authenticators: {{noop: {{enabled: true}}}}\n  authorizers: {{allow: {{enabled: true}}}}\n  \
         mutators: {{noop: {{enabled: true}}}}\n",
        rules_path.display()
    );
    let config_path = dir.join("quartet.yml");
    std::fs::write(&config_path, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_quartet"));
    command
        .args(["serve", "proxy", "-c"])
        .arg(&config_path)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("DSN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(ca) = ca_file {
        command.env("SSL_CERT_FILE", ca);
    }
    let quartet = Quartet {
        child: command.spawn().unwrap(),
        proxy: format!("http://127.0.0.1:{proxy}"),
    };
    let ready = format!("http://127.0.0.1:{api}/health/ready");
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(&ready).await {
            if r.status() == 200 {
                return quartet;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("quartet did not become ready within 15 s");
}

#[tokio::test]
async fn an_https_upstream_is_trusted_through_ssl_cert_file_and_spoken_to_over_h2() {
    let pki = pki();
    let upstream = tls_upstream(pki.server).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let url = format!("https://localhost:{}/base", upstream.port());
    let q = quartet(dir.path(), &url, Some(&ca_file)).await;

    let response = reqwest::get(format!("{}/hello", q.proxy)).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["path"], "/base/hello");
    assert_eq!(seen["host"], format!("localhost:{}", upstream.port()));
    assert_eq!(seen["version"], "HTTP/2.0", "ALPN offers h2: {seen}");
}

#[tokio::test]
async fn an_https_upstream_signed_by_an_untrusted_ca_is_a_502() {
    let pki = pki();
    let upstream = tls_upstream(pki.server).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("https://localhost:{}/", upstream.port());
    let q = quartet(dir.path(), &url, None).await;

    let response = reqwest::get(format!("{}/hello", q.proxy)).await.unwrap();
    assert_eq!(response.status(), 502);
}
