//! An opt-in read cache for `whoami`: token hash → the session and its identity, as the
//! database answered them, for at most `quartet.session_cache.ttl` (off by default: Kratos reads
//! the database on every whoami, and so do we unless told otherwise).
//!
//! Consistency: within this process an entry is never used after a write that can end or change
//! a session or identity (logout, revocation, disable, extend, identity update or delete) — every
//! entry carries the store's write generation and is dropped once it differs. A write made by
//! *another* instance on the same database is seen here at the latest `ttl` later; that bounded
//! staleness is the price of the cache and is documented in `docs/identity.md`. Only answers
//! that found a session are cached (an unknown token always reaches the database), and an entry
//! is re-checked for expiry on every hit. No I/O here; the caller supplies the clock's reading.

use std::sync::Arc;

use dashmap::DashMap;

use super::model::{Identity, Micros, Session};

/// The cached answer for one token.
struct Entry {
    found: Arc<(Session, Identity)>,
    stored_at: Micros,
    generation: u64,
}

/// Bounded in entries and age; keys are SHA-256 hex digests of tokens, never tokens.
pub struct SessionCache {
    entries: DashMap<String, Entry>,
    ttl_micros: Micros,
    max_entries: usize,
}

impl SessionCache {
    /// `None` when `ttl` is zero: the cache is off.
    pub fn new(ttl: std::time::Duration, max_entries: usize) -> Option<SessionCache> {
        let ttl_micros = Micros::try_from(ttl.as_micros()).unwrap_or(Micros::MAX);
        (ttl_micros > 0 && max_entries > 0).then(|| SessionCache {
            entries: DashMap::new(),
            ttl_micros,
            max_entries,
        })
    }

    /// A fresh entry for `token_hash`, if one was stored after the last local write.
    pub fn get(
        &self,
        token_hash: &str,
        now: Micros,
        generation: u64,
    ) -> Option<Arc<(Session, Identity)>> {
        let fresh = {
            let entry = self.entries.get(token_hash)?;
            (entry.generation == generation && now - entry.stored_at < self.ttl_micros)
                .then(|| entry.found.clone())
        };
        if fresh.is_none() {
            self.entries.remove(token_hash);
        }
        fresh
    }

    /// Remembers what the database answered; `generation` is the store's write generation
    /// read *before* the query, so an answer that raced a write is never used.
    pub fn put(
        &self,
        token_hash: String,
        found: Arc<(Session, Identity)>,
        now: Micros,
        generation: u64,
    ) {
        if self.entries.len() >= self.max_entries {
            self.evict(now, generation);
        }
        self.entries.insert(
            token_hash,
            Entry {
                found,
                stored_at: now,
                generation,
            },
        );
    }

    /// Drops stale entries; when everything is fresh and the cache is still full, drops all
    /// (rare, and cheaper than tracking recency on every hit).
    fn evict(&self, now: Micros, generation: u64) {
        self.entries
            .retain(|_, e| e.generation == generation && now - e.stored_at < self.ttl_micros);
        if self.entries.len() >= self.max_entries {
            self.entries.clear();
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::model::{Aal, IdentityState};
    use serde_json::json;
    use std::time::Duration;

    fn found(id: &str) -> Arc<(Session, Identity)> {
        let identity = Identity {
            id: format!("i-{id}"),
            schema_id: "default".into(),
            state: IdentityState::Active,
            state_changed_at: None,
            traits: json!({}),
            metadata_public: None,
            metadata_admin: None,
            verifiable_addresses: vec![],
            recovery_addresses: vec![],
            created_at: 0,
            updated_at: 0,
        };
        let session = Session {
            id: id.into(),
            identity_id: identity.id.clone(),
            active: true,
            aal: Aal::Aal1,
            authenticated_at: 0,
            issued_at: 0,
            expires_at: 10_000_000,
            methods: vec![],
            devices: vec![],
            logout_token: "ory_lo_x".into(),
        };
        Arc::new((session, identity))
    }

    #[test]
    fn zero_ttl_means_off() {
        assert!(SessionCache::new(Duration::ZERO, 10).is_none());
        assert!(SessionCache::new(Duration::from_secs(1), 0).is_none());
    }

    #[test]
    fn entries_expire_after_ttl_and_after_a_local_write() {
        let cache = SessionCache::new(Duration::from_secs(5), 10).expect("on");
        cache.put("h".into(), found("s"), 1_000_000, 7);
        assert!(cache.get("h", 5_999_999, 7).is_some(), "within ttl");
        assert!(cache.get("h", 6_000_000, 7).is_none(), "at ttl");
        assert!(cache.is_empty(), "a stale entry is dropped on sight");
        cache.put("h".into(), found("s"), 1_000_000, 7);
        assert!(
            cache.get("h", 1_000_001, 8).is_none(),
            "a write happened since"
        );
        assert!(cache.get("other", 1_000_001, 7).is_none());
    }

    #[test]
    fn stays_bounded() {
        let cache = SessionCache::new(Duration::from_secs(60), 3).expect("on");
        for i in 0..10 {
            cache.put(format!("h{i}"), found("s"), 0, 1);
            assert!(cache.len() <= 3, "{}", cache.len());
        }
        assert!(cache.get("h9", 0, 1).is_some(), "the newest entry survives");
    }
}
