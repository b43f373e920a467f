//! A bounded, TTL'd in-memory cache of successful client-secret verifications, so that a
//! client presenting the same secret again skips PBKDF2 (25 000 rounds ≈ 10 ms of CPU).
//!
//! Keyed by the client id and an HMAC of the presented secret under a per-process random key
//! (never the secret itself, and useless to anyone without this process's memory). An entry
//! also remembers *which stored hash* it was verified against and only answers when the
//! client's current stored hash (read from the database on every request anyway) is the same:
//! a secret rotated or a client deleted on another instance therefore takes effect at once;
//! the TTL only bounds how long a verification is trusted at all. No I/O; time is passed in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Default bounds: how long a verification is trusted, and how many are kept.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
pub const DEFAULT_CAPACITY: usize = 10_000;

struct Entry {
    client_id: String,
    stored_hash: String,
    at: Instant,
}

/// See the module docs.
pub struct SecretCache {
    key: [u8; 32],
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl SecretCache {
    pub fn new(ttl: Duration, capacity: usize) -> SecretCache {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        SecretCache {
            key,
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fingerprint(&self, client_id: &str, secret: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()));
        mac.update(&(client_id.len() as u64).to_be_bytes());
        mac.update(client_id.as_bytes());
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether `secret` was verified for `client_id` against `stored_hash` within the TTL.
    pub fn verified(&self, client_id: &str, secret: &str, stored_hash: &str, now: Instant) -> bool {
        let fp = self.fingerprint(client_id, secret);
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        match entries.get(&fp) {
            Some(e) if now.saturating_duration_since(e.at) < self.ttl => {
                e.client_id == client_id && e.stored_hash == stored_hash
            }
            Some(_) => {
                entries.remove(&fp);
                false
            }
            None => false,
        }
    }

    /// Records a successful verification.
    pub fn remember(&self, client_id: &str, secret: &str, stored_hash: &str, now: Instant) {
        let fp = self.fingerprint(client_id, secret);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(&fp) {
            let ttl = self.ttl;
            entries.retain(|_, e| now.saturating_duration_since(e.at) < ttl);
            if entries.len() >= self.capacity {
                if let Some(oldest) = entries.iter().min_by_key(|(_, e)| e.at).map(|(k, _)| *k) {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(
            fp,
            Entry {
                client_id: client_id.to_string(),
                stored_hash: stored_hash.to_string(),
                at: now,
            },
        );
    }

    /// Forgets every verification of a client (updated or deleted here).
    pub fn forget_client(&self, client_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, e| e.client_id != client_id);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_for_the_same_secret_and_stored_hash_within_the_ttl() {
        let cache = SecretCache::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        assert!(!cache.verified("c", "s3cret", "h1", t0));
        cache.remember("c", "s3cret", "h1", t0);
        assert!(cache.verified("c", "s3cret", "h1", t0 + Duration::from_secs(59)));
        assert!(!cache.verified("c", "wrong", "h1", t0), "another secret");
        assert!(!cache.verified("d", "s3cret", "h1", t0), "another client");
        assert!(
            !cache.verified("c", "s3cret", "h2", t0),
            "the secret was rotated (on any instance)"
        );
        assert!(
            !cache.verified("c", "s3cret", "h1", t0 + Duration::from_secs(60)),
            "expired"
        );
        assert_eq!(cache.len(), 0, "expired entries are dropped on sight");
    }

    #[test]
    fn bounded_and_invalidated_per_client() {
        let cache = SecretCache::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for i in 0..5u64 {
            cache.remember(&format!("c{i}"), "s", "h", t0 + Duration::from_secs(i));
        }
        assert_eq!(cache.len(), 3);
        assert!(
            !cache.verified("c0", "s", "h", t0 + Duration::from_secs(5)),
            "oldest evicted"
        );
        assert!(cache.verified("c4", "s", "h", t0 + Duration::from_secs(5)));
        cache.forget_client("c4");
        assert!(!cache.verified("c4", "s", "h", t0 + Duration::from_secs(5)));
    }

    #[test]
    fn the_secret_is_never_stored() {
        let cache = SecretCache::new(DEFAULT_TTL, DEFAULT_CAPACITY);
        cache.remember("c", "plain-text-secret", "h", Instant::now());
        let entries = cache.entries.lock().unwrap_or_else(|e| e.into_inner());
        for (k, e) in entries.iter() {
            assert!(!k.windows(5).any(|w| w == b"plain"));
            assert_ne!(e.stored_hash, "plain-text-secret");
        }
    }
}
