//! The pipeline's result caches: bounded in entries, every entry with its own expiry read from
//! the injected clock ([`super::outbound::Clock`]), keys are SHA-256 digests (a raw token or
//! cookie never sits in a cache as a key). One [`Caches`] is shared by every rule, as
//! Oathkeeper shares its introspection cache.
//!
//! Oathkeeper's caches (ristretto, cost 1 per entry, so `max_cost` = entries):
//! `oauth2_introspection.cache` (the introspection JSON of a token that passed every check;
//! checks re-run on every hit), `oauth2_client_credentials.cache` (the issued access token),
//! `hydrator.cache` (the hydrated session). Quartet adds an opt-in session cache for
//! `cookie_session` and `bearer_token` (`cache.{enabled, ttl, max_cost}`, see docs/proxy.md).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

/// A cache key: the digest of the parts that make two lookups the same.
pub type Key = [u8; 32];

/// Digest of `parts`, each length-prefixed so that `("ab","c")` and `("a","bc")` differ.
pub fn key(parts: &[&[u8]]) -> Key {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// A bounded map whose entries expire.
pub struct TtlCache<V> {
    entries: Mutex<HashMap<Key, (V, SystemTime)>>,
}

impl<V: Clone> Default for TtlCache<V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> TtlCache<V> {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, (V, SystemTime)>> {
        match self.entries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The value stored under `key` unless it expired at or before `now` (an expired entry is
    /// removed).
    pub fn get(&self, key: &Key, now: SystemTime) -> Option<V> {
        let mut entries = self.lock();
        match entries.get(key) {
            Some((v, expires)) if *expires > now => Some(v.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` until `expires` (nothing is stored when that is not after `now`), keeping
    /// at most `max_entries` entries: when full, expired entries go first, then arbitrary ones
    /// (an eighth of the cache, so eviction work is amortised).
    pub fn put(&self, key: Key, value: V, expires: SystemTime, now: SystemTime, max_entries: u64) {
        if expires <= now || max_entries == 0 {
            return;
        }
        let max = usize::try_from(max_entries).unwrap_or(usize::MAX);
        let mut entries = self.lock();
        if entries.len() >= max && !entries.contains_key(&key) {
            entries.retain(|_, (_, e)| *e > now);
            if entries.len() >= max {
                let target = max - (max / 8).max(1).min(max);
                let excess = entries.len() - target;
                let victims: Vec<Key> = entries.keys().take(excess).copied().collect();
                for k in victims {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(key, (value, expires));
    }

    /// Drops one entry.
    pub fn remove(&self, key: &Key) {
        self.lock().remove(key);
    }

    /// Entries held (expired ones included until they are touched or evicted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `now + ttl`, saturating.
pub fn after(now: SystemTime, ttl: Duration) -> SystemTime {
    now.checked_add(ttl)
        .unwrap_or(now + Duration::from_secs(365 * 24 * 3600))
}

/// Unix seconds as a time.
pub fn unix(secs: i64) -> SystemTime {
    if secs <= 0 {
        return SystemTime::UNIX_EPOCH;
    }
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(secs.unsigned_abs()))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Every cache of the pipeline.
#[derive(Default)]
pub struct Caches {
    /// oauth2_introspection: introspection URL + token → the introspection JSON.
    pub introspection: TtlCache<std::sync::Arc<serde_json::Value>>,
    /// oauth2_client_credentials: token URL + scopes + client id:secret → the access token.
    pub client_credentials: TtlCache<String>,
    /// hydrator: API URL + session JSON → the hydrator's answer.
    pub hydrator: TtlCache<bytes::Bytes>,
    /// cookie_session / bearer_token (Quartet extension): the session request and the rule's
    /// `subject_from` / `extra_from` → the session they read from the endpoint's 200 answer.
    pub sessions: TtlCache<SessionFound>,
}

/// What cookie_session / bearer_token read from a session: shared, never copied, per hit.
#[derive(Debug, Clone)]
pub struct SessionFound {
    pub subject: String,
    pub extra: Option<std::sync::Arc<serde_json::Map<String, serde_json::Value>>>,
}

/// The `cache` object of a handler config, decoded.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct CacheCfg {
    pub enabled: bool,
    pub ttl: Option<String>,
    pub max_cost: Option<u64>,
    pub max_tokens: Option<u64>,
}

/// A decoded `cache` object with its ttl parsed.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    pub ttl: Option<Duration>,
    pub max_entries: u64,
}

impl CacheCfg {
    /// `None` when disabled; `Err` names the key of a ttl that is not a duration.
    pub fn policy(&self, default_max: u64) -> Result<Option<CachePolicy>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let ttl = match self.ttl.as_deref() {
            None | Some("") => None,
            Some(t) => Some(
                super::handlers::go_duration(t)
                    .ok_or_else(|| format!("config.cache.ttl: {t:?} is not a duration"))?,
            ),
        };
        Ok(Some(CachePolicy {
            ttl,
            max_entries: self.max_cost.or(self.max_tokens).unwrap_or(default_max),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn entries_expire_at_their_time() {
        let c: TtlCache<u32> = TtlCache::default();
        let k = key(&[b"a"]);
        c.put(k, 1, t(110), t(100), 10);
        assert_eq!(c.get(&k, t(109)), Some(1));
        assert_eq!(c.get(&k, t(110)), None);
        assert!(c.is_empty(), "an expired entry is dropped when read");
        c.put(k, 1, t(100), t(100), 10);
        assert!(c.is_empty(), "nothing is stored that is already expired");
    }

    #[test]
    fn size_is_bounded() {
        let c: TtlCache<u32> = TtlCache::default();
        for i in 0..1000u32 {
            c.put(key(&[&i.to_be_bytes()]), i, t(200), t(100), 64);
            assert!(c.len() <= 64);
        }
        // expired entries are evicted before live ones
        let c: TtlCache<u32> = TtlCache::default();
        c.put(key(&[b"old"]), 0, t(101), t(100), 2);
        c.put(key(&[b"live"]), 1, t(300), t(100), 2);
        c.put(key(&[b"new"]), 2, t(300), t(150), 2);
        assert_eq!(c.get(&key(&[b"live"]), t(150)), Some(1));
        assert_eq!(c.get(&key(&[b"new"]), t(150)), Some(2));
    }

    #[test]
    fn keys_are_length_prefixed() {
        assert_ne!(key(&[b"ab", b"c"]), key(&[b"a", b"bc"]));
    }
}
