//! Starts the real `quartet` binary for one test: every listener on a free loopback port (set
//! through the env overrides, so a test's config file needs no ports), JSON logs read until
//! `ready`, the listeners' URLs by role and listener, and the process killed on drop.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

/// Every listener's port override, by env var.
const PORT_VARS: [&str; 11] = [
    "IDENTITY_SERVE_PUBLIC_PORT",
    "IDENTITY_SERVE_ADMIN_PORT",
    "OAUTH2_SERVE_PUBLIC_PORT",
    "OAUTH2_SERVE_ADMIN_PORT",
    "PERMISSION_SERVE_READ_PORT",
    "PERMISSION_SERVE_WRITE_PORT",
    "PERMISSION_SERVE_METRICS_PORT",
    "PERMISSION_SERVE_OPL_PORT",
    "PROXY_SERVE_PROXY_PORT",
    "PROXY_SERVE_API_PORT",
    "PROXY_SERVE_PROMETHEUS_PORT",
];

/// How to start the binary.
#[derive(Default, Clone)]
pub struct Options {
    /// The config file's text (YAML), written to `quartet.yml` in a fresh directory; empty for
    /// none.
    pub config: String,
    /// Files written beside the config before start: (name, contents).
    pub files: Vec<(String, String)>,
    /// Pass `--dev`.
    pub dev: bool,
    /// Roles to serve (all when empty).
    pub roles: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// A running `quartet serve`.
pub struct Server {
    child: Child,
    /// (role, listener) → base URL, e.g. ("oauth2", "public") → "http://127.0.0.1:4444".
    pub urls: HashMap<(String, String), String>,
    /// Every log line the server wrote so far (stderr, JSON).
    pub log: Arc<Mutex<Vec<String>>>,
    pub dir: tempfile::TempDir,
}

/// `N` distinct ports that were free a moment ago: every listener is held until all are
/// chosen, so the kernel cannot hand the same port out twice.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<_> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

impl Server {
    /// `quartet serve --dev` with no config file.
    pub fn dev() -> Self {
        Self::start(Options {
            dev: true,
            ..Options::default()
        })
    }

    /// `quartet serve --dev -c quartet.yml` with `config`.
    pub fn dev_with(config: &str) -> Self {
        Self::start(Options {
            dev: true,
            config: config.to_string(),
            ..Options::default()
        })
    }

    pub fn start(opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, contents) in &opts.files {
            std::fs::write(dir.path().join(name), contents).unwrap();
        }
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_quartet"));
        cmd.arg("serve");
        cmd.args(&opts.roles);
        if opts.dev {
            cmd.arg("--dev");
        }
        if !opts.config.is_empty() {
            std::fs::write(dir.path().join("quartet.yml"), &opts.config).unwrap();
            cmd.args(["-c", "quartet.yml"]);
        }
        let ports: [u16; 11] = free_ports();
        for (var, port) in PORT_VARS.iter().zip(ports) {
            cmd.env(var, port.to_string());
        }
        cmd.env_remove("DSN")
            .env_remove("LOG_LEVEL")
            .env("LOG_FORMAT", "json");
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut urls = HashMap::new();
        let mut ready = false;
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.lock().unwrap().push(line.clone());
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let f = &event["fields"];
            if f["message"] == "listening" {
                urls.insert(
                    (
                        f["role"].as_str().unwrap().to_string(),
                        f["listener"].as_str().unwrap().to_string(),
                    ),
                    f["url"].as_str().unwrap().to_string(),
                );
            }
            if f["message"] == "ready" {
                ready = true;
                break;
            }
        }
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "quartet never got ready:\n{}",
                log.lock().unwrap().join("\n")
            );
        }
        // Keep draining stderr so the server never blocks on a full pipe.
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Server {
            child,
            urls,
            log,
            dir,
        }
    }

    /// The base URL of `role`'s `listener` (e.g. `url("oauth2", "admin")`).
    pub fn url(&self, role: &str, listener: &str) -> String {
        self.urls
            .get(&(role.to_string(), listener.to_string()))
            .cloned()
            .unwrap_or_else(|| panic!("no listener {role}/{listener}: {:?}", self.urls))
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The log so far, one string.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Whether the process is still running (a crash ends it).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reqwest client with redirects off and no cookie store (tests carry cookies by hand, as an
/// attacker replays them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A smoke test of the harness itself: every role answers health on its listener.
#[tokio::test]
async fn the_harness_starts_every_role() {
    let server = Server::dev();
    let c = client();
    for (role, listener) in [
        ("identity", "public"),
        ("oauth2", "public"),
        ("permission", "read"),
        ("proxy", "api"),
    ] {
        let url = format!("{}/health/alive", server.url(role, listener));
        let status = c.get(&url).send().await.unwrap().status();
        assert_eq!(status, 200, "{url}");
    }
}
