//! Startup and idle-memory benchmark of the real binary: exec → every API listener answers
//! `GET /health/ready` with 200 for `quartet serve --dev`, and the resident memory of the idle
//! process. Run with `cargo bench --bench startup` (release profile); figures go to
//! `docs/benchmarks.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 20;

/// `N` distinct ports that were free a moment ago: every listener is held until all are
/// chosen, so the kernel cannot hand the same port out twice.
fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<_> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// A config with every listener on a free port; returns it and the ready URLs (host, port, path).
fn config() -> (String, Vec<(u16, &'static str)>) {
    let p: [u16; 11] = free_ports();
    let yaml = format!(
        "identity:\n  serve:\n    public: {{host: 127.0.0.1, port: {}}}\n    admin: {{port: {}}}\n\
         oauth2:\n  serve:\n    public: {{host: 127.0.0.1, port: {}}}\n    admin: {{port: {}}}\n\
         permission:\n  serve:\n    read: {{host: 127.0.0.1, port: {}}}\n    write: {{port: {}}}\n    metrics: {{port: {}}}\n    opl: {{port: {}}}\n\
         proxy:\n  serve:\n    proxy: {{host: 127.0.0.1, port: {}}}\n    api: {{port: {}}}\n    prometheus: {{port: {}}}\n",
        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10]
    );
    let ready = vec![
        (p[0], "/health/ready"),
        (p[1], "/admin/health/ready"),
        (p[2], "/health/ready"),
        (p[3], "/health/ready"),
        (p[4], "/health/ready"),
        (p[5], "/health/ready"),
        (p[7], "/health/ready"),
        (p[9], "/health/ready"),
    ];
    (yaml, ready)
}

fn is_ready(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let bin = env!("CARGO_BIN_EXE_quartet");
    let dir = std::env::temp_dir().join(format!("quartet-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` one run is a smoke test.
    let runs = if std::env::args().any(|a| a == "--bench") {
        RUNS
    } else {
        1
    };
    let mut times = Vec::new();
    let mut rss = 0;
    for run in 0..runs {
        let (yaml, ready) = config();
        let file = dir.join("quartet.yml");
        std::fs::write(&file, yaml).unwrap();
        let log = dir.join("stderr.log");
        let started = Instant::now();
        let mut child = Command::new(bin)
            .args(["serve", "--dev", "-c"])
            .arg(&file)
            .env("LOG_LEVEL", "error")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut pending = ready.clone();
        while !pending.is_empty() {
            pending.retain(|(port, path)| !is_ready(*port, path));
            let exited = child.try_wait().unwrap();
            if exited.is_some() || started.elapsed() > Duration::from_secs(30) {
                let stderr = std::fs::read_to_string(&log).unwrap_or_default();
                stop(child);
                panic!("not ready ({exited:?}), still waiting for {pending:?}; stderr:\n{stderr}");
            }
        }
        times.push(started.elapsed());
        if run == runs - 1 {
            std::thread::sleep(Duration::from_secs(2));
            rss = rss_kib(child.id());
        }
        stop(child);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "startup (exec -> 8 API listeners ready), {runs} runs: min {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        ms(times[0]),
        ms(times[runs / 2]),
        ms(times[runs * 95 / 100]),
        ms(times[runs - 1])
    );
    println!(
        "idle resident memory (VmRSS, 2 s after ready): {:.1} MiB",
        rss as f64 / 1024.0
    );
    println!(
        "binary: {bin} ({:.1} MiB)",
        std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
