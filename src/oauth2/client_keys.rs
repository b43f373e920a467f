//! A client's public keys and the JWS it signs with them (`private_key_jwt` assertions,
//! request objects): its inline `jwks`, or the set fetched from its `jwks_uri` through the
//! guarded outbound client and kept for [`JWKS_CACHE_TTL`]; a key rotated at the URI gets one
//! more fetch, bypassing the cache (fosite's JWKS fetcher does the same). Also the unverified
//! parts of a JWS, read before the key that verifies it is known.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use serde_json::{Map, Value};

use super::client::Client;
use super::error::{Error, Result};
use super::jose;
use crate::http::outbound::Outbound;

/// The largest JWK set read from a client's `jwks_uri`.
pub const JWKS_LIMIT: usize = 1 << 20;

/// How long a client's JWK set fetched from `jwks_uri` is reused.
pub const JWKS_CACHE_TTL: Duration = Duration::from_secs(300);

/// Most `jwks_uri` sets kept (a full cache starts over).
const JWKS_CACHE_CAPACITY: usize = 1_000;

/// The header and the claims of a verified JWS.
pub type Verified = (Map<String, Value>, Map<String, Value>);

/// Client JWK sets fetched from `jwks_uri`, by URI (see the module docs).
pub struct ClientKeys {
    outbound: Outbound,
    cache: std::sync::Mutex<BTreeMap<String, (Instant, Value)>>,
}

impl ClientKeys {
    pub fn new(outbound: Outbound) -> ClientKeys {
        ClientKeys {
            outbound,
            cache: std::sync::Mutex::new(BTreeMap::new()),
        }
    }

    /// A JWS verified with one of the client's keys: its header and claims, `None` when no key
    /// verifies it.
    pub async fn verify(&self, client: &Client, token: &str) -> Result<Option<Verified>> {
        let keys = self.keys(client, false).await?;
        Ok(match jose::verify(token, &keys) {
            Some(v) => Some(v),
            None if !client.jwks_uri.is_empty() => {
                jose::verify(token, &self.keys(client, true).await?)
            }
            None => None,
        })
    }

    /// The client's public keys: inline `jwks`, or fetched from `jwks_uri` (cached per URI;
    /// `refresh` bypasses the cache).
    async fn keys(&self, client: &Client, refresh: bool) -> Result<Vec<Jwk>> {
        let set = if client.jwks_uri.is_empty() {
            client.jwks.clone()
        } else {
            self.fetch(&client.jwks_uri, refresh).await?
        };
        Ok(set
            .get("keys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| k.as_object().and_then(|m| Jwk::from_map(m.clone()).ok()))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn fetch(&self, uri: &str, refresh: bool) -> Result<Value> {
        let now = Instant::now();
        if !refresh {
            if let Ok(cache) = self.cache.lock() {
                if let Some((at, set)) = cache.get(uri) {
                    if now.saturating_duration_since(*at) < JWKS_CACHE_TTL {
                        return Ok(set.clone());
                    }
                }
            }
        }
        let failed = |why: String| {
            Error::InvalidClient(format!(
                "Unable to fetch JSON Web Keys from location '{uri}': {why}"
            ))
        };
        let response = self
            .outbound
            .get(uri, JWKS_LIMIT)
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status.is_success() {
            return Err(failed(format!("status {}", response.status)));
        }
        let set: Value = serde_json::from_slice(&response.body)
            .map_err(|e| failed(format!("the body is not a JSON Web Key Set: {e}")))?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= JWKS_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(uri.to_string(), (now, set.clone()));
        }
        Ok(set)
    }
}

/// The JSON object in part `index` of a JWS (0 the header, 1 the claims), unverified.
fn unverified_part(token: &str, index: usize) -> Option<Map<String, Value>> {
    let part = token.split('.').nth(index)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// A JWS's header, unverified.
pub fn unverified_header(token: &str) -> Option<Map<String, Value>> {
    unverified_part(token, 0)
}

/// A JWS's claims, unverified.
pub fn unverified_claims(token: &str) -> Option<Map<String, Value>> {
    unverified_part(token, 1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unverified_parts_are_read_without_a_key() {
        let token = format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"iss":"app"}"#)
        );
        assert_eq!(unverified_header(&token).unwrap()["alg"], "none");
        assert_eq!(unverified_claims(&token).unwrap()["iss"], "app");
        assert!(unverified_claims("a.!!.c").is_none());
        assert!(unverified_claims("nodots").is_none());
    }
}
