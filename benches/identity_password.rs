//! The raw password-hash rate on this machine — the yardstick for login and registration
//! throughput (issue 4: a login's overhead over the hash itself must stay under 5 %).
//!
//! For bcrypt (cost 12) and argon2id (Kratos' defaults: 128 MB, 1 iteration, parallelism
//! 2 × CPUs, 16-byte salt, 32-byte key) — the hashers `identity.hashers` builds without `--dev`,
//! taken from `quartet::identity::service::hasher_from` — one thread per CPU verifies a stored
//! hash (what a login does) and hashes fresh passwords (what a registration does) for
//! `QUARTET_HASH_SECS` seconds (default 10), and prints operations per second for the whole
//! machine. `benches/identity_login.sh` then measures logins and registrations per second
//! through the HTTP API with the same parameters and compares.
//!
//! Run: `cargo bench --bench identity_password` (or `--profile fastrelease`: the hash functions
//! live in their crates, link-time optimisation changes nothing measurable). Under
//! `cargo test --benches` it runs one operation per case at bcrypt cost 4 as a smoke test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quartet::config::identity::IdentityConfig;
use quartet::crypto::password::{verify, Hasher};

/// The allocator of the `quartet` binary (docs/decisions/0004-allocator.md), so that the raw
/// rate and the server's login rate allocate argon2's memory the same way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &[u8] = b"correct horse battery staple 42";

fn hashers(smoke: bool) -> Vec<(&'static str, Hasher)> {
    let mut bcrypt = IdentityConfig::default();
    if smoke {
        bcrypt.hashers.bcrypt.cost = Some(4);
    }
    let mut argon2 = IdentityConfig::default();
    argon2.hashers.algorithm = Some("argon2".into());
    if smoke {
        argon2.hashers.argon2.memory = Some("1MB".into());
    }
    let dev = smoke;
    vec![
        (
            "bcrypt",
            quartet::identity::service::hasher_from(&bcrypt, dev).unwrap(),
        ),
        (
            "argon2id",
            quartet::identity::service::hasher_from(&argon2, dev).unwrap(),
        ),
    ]
}

/// Runs `op` on every CPU until `secs` have passed; operations per second for the machine.
fn rate(secs: f64, op: impl Fn() + Send + Sync + 'static) -> (f64, u64) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let op = Arc::new(op);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (op, stop, done) = (op.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || loop {
                op();
                done.fetch_add(1, Ordering::Relaxed);
                if stop.load(Ordering::Relaxed) {
                    break;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let n = done.load(Ordering::Relaxed);
    (n as f64 / start.elapsed().as_secs_f64(), n)
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let secs: f64 = if smoke {
        0.01
    } else {
        std::env::var("QUARTET_HASH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(10.0)
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("raw hash rate, {cpus} threads, {secs} s per case");
    println!("| hasher | parameters | verify/s | hash/s |");
    println!("|---|---|---|---|");
    for (name, hasher) in hashers(smoke) {
        let stored = hasher.hash(PASSWORD).unwrap();
        let check = stored.clone();
        let (verify_rate, n) = rate(secs, move || {
            assert!(verify(PASSWORD, &check).unwrap());
        });
        assert!(n > 0);
        let h = hasher.clone();
        let (hash_rate, n) = rate(secs, move || {
            h.hash(PASSWORD).unwrap();
        });
        assert!(n > 0);
        println!("| {name} | `{hasher:?}` | {verify_rate:.2} | {hash_rate:.2} |");
    }
}
