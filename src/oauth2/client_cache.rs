//! The clients this process has read, so that a client_credentials request can skip reading
//! its client again: the token it issues is inserted only if the client's row still has the
//! revision that was read (`Store::insert_token_if_client_is`, checked in the INSERT itself).
//! A client changed or deleted anywhere — on this instance or another sharing the database —
//! therefore never gets a token from an old copy: the insert stores nothing and the request is
//! answered again from a fresh read. Nothing else trusts this cache: every answer other than
//! a token stored under a still-current revision comes from a fresh read. Bounded; no I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::store::StoredClient;

/// How many clients are kept by default (a full cache starts over).
pub const DEFAULT_CAPACITY: usize = 1_024;

/// See the module docs.
pub struct ClientCache {
    capacity: usize,
    clients: Mutex<HashMap<String, Arc<StoredClient>>>,
}

impl ClientCache {
    pub fn new(capacity: usize) -> ClientCache {
        ClientCache {
            capacity,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The copy last read of this client, if any.
    pub fn get(&self, client_id: &str) -> Option<Arc<StoredClient>> {
        self.lock().get(client_id).cloned()
    }

    /// Keeps `client` as read just now (replacing an older copy).
    pub fn remember(&self, client: Arc<StoredClient>) {
        let mut clients = self.lock();
        if clients.len() >= self.capacity && !clients.contains_key(&client.client.client_id) {
            clients.clear();
        }
        clients.insert(client.client.client_id.clone(), client);
    }

    /// Drops the copy of this client (changed or deleted, or found stale).
    pub fn forget(&self, client_id: &str) {
        self.lock().remove(client_id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<StoredClient>>> {
        // A panic while holding this lock leaves a map that is still consistent.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth2::client::Client;

    fn stored(id: &str, revision: i64) -> Arc<StoredClient> {
        let client = Client {
            client_id: id.into(),
            ..Client::default()
        };
        Arc::new(StoredClient {
            client,
            secret_hash: "hash".into(),
            registration_key: String::new(),
            revision,
        })
    }

    #[test]
    fn keeps_the_newest_copy_and_forgets_on_request() {
        let cache = ClientCache::new(8);
        assert!(cache.get("a").is_none());
        cache.remember(stored("a", 1));
        cache.remember(stored("a", 2));
        assert_eq!(cache.get("a").map(|c| c.revision), Some(2));
        cache.forget("a");
        assert!(cache.get("a").is_none());
    }

    #[test]
    fn bounded() {
        let cache = ClientCache::new(2);
        cache.remember(stored("a", 1));
        cache.remember(stored("b", 1));
        cache.remember(stored("b", 2));
        assert_eq!(cache.len(), 2);
        cache.remember(stored("c", 1));
        assert!(cache.len() <= 2);
        assert_eq!(cache.get("c").map(|c| c.revision), Some(1));
    }
}
