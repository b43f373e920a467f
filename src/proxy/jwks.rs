//! JSON Web Key sets fetched from `file://`, `http(s)://` and `base64://`/`inline://` locations
//! (the `jwt` authenticator's `jwks_urls`, the `id_token` mutator's `jwks_url`), cached per
//! location for `jwks_ttl` (Oathkeeper: global `authenticators.jwt.config.jwks_ttl`, 30s).
//! A location that fails to refresh keeps serving its last good set; the cache holds one entry
//! per configured location, so it is bounded by the config.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use josekit::jwk::Jwk;
use tokio::time::Instant;

use super::http_client::HttpClient;
use super::jose;
use super::repository::{self, Source};

/// Oathkeeper's default `jwks_ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// One cached set: when it was fetched, and its keys.
type Entry = (Instant, Arc<Vec<Jwk>>);

/// The per-location key cache.
pub struct KeyCache {
    http: HttpClient,
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl KeyCache {
    pub fn new(http: HttpClient, ttl: Duration) -> Self {
        Self {
            http,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, location: &str) -> Option<Entry> {
        let guard = match self.entries.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.get(location).cloned()
    }

    /// The keys at one location.
    pub async fn get(&self, location: &str) -> Result<Arc<Vec<Jwk>>, String> {
        let stale = match self.cached(location) {
            Some((at, keys)) if at.elapsed() < self.ttl => return Ok(keys),
            other => other.map(|(_, k)| k),
        };
        match fetch(location, &self.http).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                let mut guard = match self.entries.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                guard.insert(location.to_string(), (Instant::now(), keys.clone()));
                Ok(keys)
            }
            Err(e) => match stale {
                Some(keys) => {
                    tracing::warn!(
                        location = location,
                        error = e,
                        "JSON Web Key Set could not be refreshed; using the last good set"
                    );
                    Ok(keys)
                }
                None => Err(e),
            },
        }
    }

    /// The union of the keys at every location; locations that fail are logged and skipped.
    /// `Err` only when none yields a key set.
    pub async fn union(&self, locations: &[String]) -> Result<Vec<Jwk>, String> {
        let results = futures::future::join_all(locations.iter().map(|l| self.get(l))).await;
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        let mut any = false;
        for (loc, r) in locations.iter().zip(results) {
            match r {
                Ok(k) => {
                    any = true;
                    keys.extend(k.iter().cloned());
                }
                Err(e) => {
                    tracing::warn!(location = loc, error = e, "JSON Web Key Set unavailable");
                    errors.push(e);
                }
            }
        }
        if any {
            Ok(keys)
        } else {
            Err(errors.join("; "))
        }
    }
}

async fn fetch(location: &str, http: &HttpClient) -> Result<Vec<Jwk>, String> {
    let source = Source::parse(location)?;
    if matches!(source, Source::Dir(_)) {
        return Err(format!(
            "{location}: is a directory, not a JSON Web Key Set"
        ));
    }
    let docs = repository::read(&source, http).await?;
    let (_, text) = docs
        .into_iter()
        .next()
        .ok_or_else(|| format!("{location}: empty"))?;
    jose::parse_set(text.as_bytes()).map_err(|e| format!("{location}: {e}"))
}
