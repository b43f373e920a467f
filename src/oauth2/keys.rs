//! The role's JSON Web Key sets: sealed at rest with the system secret, read newest first; the
//! two default sets (ID tokens, JWT access tokens) created once per process — in the
//! background at role start, awaited by every endpoint that needs a key — and the newest key
//! of a set kept ready to sign while the database still names it newest. Also the checks a
//! key written through the admin API must pass, and the trusted keys of RFC 7523 issuers.

use std::collections::HashMap;
use std::sync::Arc;

use josekit::jwk::Jwk;
use serde_json::Value;

use super::error::{Error, Result};
use super::jose;
use super::settings::{ACCESS_TOKEN_SET, ID_TOKEN_SET};
use super::store::Store;
use super::trust::Grant;
use crate::store::time::Clock;

/// Generates a private JWK: `(alg, kid)` → key. Injected so that tests can hold generation
/// back; runs on a blocking thread.
pub type KeyGenerator = Arc<dyn Fn(&str, &str) -> Result<Jwk> + Send + Sync>;

/// The default generator: Hydra's sizes, or 2048-bit RSA under `--dev`.
pub fn key_generator(dev: bool) -> KeyGenerator {
    let bits = if dev {
        jose::DEV_RSA_BITS
    } else {
        jose::RSA_BITS
    };
    Arc::new(move |alg: &str, kid: &str| jose::generate(alg, kid, "sig", bits))
}

/// The key sets of the role (see the module docs).
pub struct Keys {
    store: Store,
    /// Seal and open the stored keys (the first seals).
    secrets: Vec<String>,
    clock: Clock,
    /// Held while a set's first key is generated, so that concurrent first uses make one.
    lock: tokio::sync::Mutex<()>,
    keygen: KeyGenerator,
    /// Set once the default key sets exist (created in the background at role start;
    /// endpoints that need keys await the same cell, so generation happens once).
    default_keys: tokio::sync::OnceCell<()>,
    /// The newest key of each set with its signer, by its sealed form: reused while the
    /// database still names it newest (checked on every use), so nothing here goes stale.
    signers: std::sync::Mutex<HashMap<String, (String, Arc<jose::SigningKey>)>>,
}

fn is_default_set(set: &str) -> bool {
    set == ID_TOKEN_SET || set == ACCESS_TOKEN_SET
}

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("a stored key is corrupt: {e}"))
}

impl Keys {
    pub fn new(store: Store, secrets: Vec<String>, clock: Clock, keygen: KeyGenerator) -> Keys {
        Keys {
            store,
            secrets,
            clock,
            lock: tokio::sync::Mutex::new(()),
            keygen,
            default_keys: tokio::sync::OnceCell::new(),
            signers: Default::default(),
        }
    }

    fn open(&self, sealed: &str) -> Result<Jwk> {
        Jwk::from_bytes(jose::unseal(&self.secrets, sealed)?).map_err(corrupt)
    }

    /// The private keys of a set, newest first.
    pub async fn key_set(&self, set: &str) -> Result<Vec<Jwk>> {
        let rows = self.store.keys(set).await?;
        rows.iter().map(|(_, sealed)| self.open(sealed)).collect()
    }

    /// The public keys of a set, newest first (what its tokens verify with).
    pub async fn public_keys(&self, set: &str) -> Result<Vec<Jwk>> {
        Ok(self
            .key_set(set)
            .await?
            .iter()
            .filter_map(jose::public)
            .collect())
    }

    /// Seals a value with the first system secret.
    pub fn seal(&self, plain: &[u8]) -> Result<String> {
        jose::seal(&self.secrets, plain)
    }

    /// The keys that trust `issuer` for `subject` (the assertion's unverified claims), by the
    /// header's `kid` when it names one; trust relationships expired at `now` grant nothing.
    pub async fn trusted_keys(
        &self,
        issuer: &str,
        subject: &str,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Vec<(Grant, Jwk)>> {
        let grants = self
            .store
            .trusting_grants(issuer, subject, kid, now)
            .await?;
        let mut out = Vec::new();
        for g in grants {
            let rows = self.store.keys(&g.key_set).await?;
            if let Some((_, sealed)) = rows.iter().find(|(k, _)| *k == g.key_id) {
                let jwk = self.open(sealed)?;
                out.push((g, jwk));
            }
        }
        Ok(out)
    }

    /// Seals and stores keys in a set.
    pub async fn store_keys(&self, set: &str, keys: &[Jwk], replace: bool) -> Result<()> {
        // A default set's generated key must not land after (and so above) the keys written
        // here: the generation that runs at start is awaited first.
        if is_default_set(set) {
            self.ensure_default_keys().await?;
        }
        self.put_sealed_keys(set, keys, replace).await
    }

    async fn put_sealed_keys(&self, set: &str, keys: &[Jwk], replace: bool) -> Result<()> {
        let mut sealed = Vec::new();
        for k in keys {
            let kid = k.key_id().unwrap_or_default().to_string();
            sealed.push((kid, jose::seal(&self.secrets, k.to_string().as_bytes())?));
        }
        self.store
            .put_keys(set, &sealed, replace, self.clock.now())
            .await
    }

    /// Deletes a set, or one key of it.
    pub async fn delete(&self, set: &str, kid: Option<&str>) -> Result<bool> {
        self.store.delete_keys(set, kid).await
    }

    /// Generates a key with the role's generator on a blocking thread.
    pub async fn generate_key(&self, alg: &str, kid: &str) -> Result<Jwk> {
        let keygen = self.keygen.clone();
        let (alg, kid) = (alg.to_string(), kid.to_string());
        tokio::task::spawn_blocking(move || keygen(&alg, &kid))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
    }

    /// The newest private key of `set`, generating an RS256 key first if the set is empty.
    /// The default sets are awaited from the background generation started at role start.
    pub async fn signing_key(&self, set: &str) -> Result<Jwk> {
        if is_default_set(set) {
            self.ensure_default_keys().await?;
        }
        if let Some(k) = self.key_set(set).await?.into_iter().next() {
            return Ok(k);
        }
        let _guard = self.lock.lock().await;
        if let Some(k) = self.key_set(set).await?.into_iter().next() {
            return Ok(k);
        }
        let jwk = self
            .generate_key("RS256", &uuid::Uuid::new_v4().to_string())
            .await?;
        self.put_sealed_keys(set, std::slice::from_ref(&jwk), false)
            .await?;
        // Another instance may have raced us: the newest stored key wins for everyone.
        Ok(self.key_set(set).await?.into_iter().next().unwrap_or(jwk))
    }

    /// The newest key of `set` ready to sign: one indexed read of its sealed form, the
    /// unsealed key and its signer reused while that stays the newest.
    pub async fn signer(&self, set: &str) -> Result<Arc<jose::SigningKey>> {
        if is_default_set(set) {
            self.ensure_default_keys().await?;
        }
        let Some(sealed) = self.store.newest_key(set).await? else {
            return Ok(Arc::new(jose::SigningKey::new(
                self.signing_key(set).await?,
            )?));
        };
        if let Some((s, key)) = self.signers().get(set) {
            if *s == sealed {
                return Ok(key.clone());
            }
        }
        let key = Arc::new(jose::SigningKey::new(self.open(&sealed)?)?);
        self.signers()
            .insert(set.to_string(), (sealed, key.clone()));
        Ok(key)
    }

    fn signers(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (String, Arc<jose::SigningKey>)>> {
        self.signers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Creates the default sets if they are missing — once per process: the background task
    /// started at role start and every endpoint that needs a key await the same cell. A set
    /// deleted later through the admin API is re-created on first use by [`Self::signing_key`].
    pub async fn ensure_default_keys(&self) -> Result<()> {
        self.default_keys
            .get_or_try_init(|| async {
                for set in [ID_TOKEN_SET, ACCESS_TOKEN_SET] {
                    if !self.store.keys(set).await?.is_empty() {
                        continue;
                    }
                    let _guard = self.lock.lock().await;
                    if !self.store.keys(set).await?.is_empty() {
                        continue;
                    }
                    let jwk = self
                        .generate_key("RS256", &uuid::Uuid::new_v4().to_string())
                        .await?;
                    self.put_sealed_keys(set, std::slice::from_ref(&jwk), false)
                        .await?;
                }
                Ok::<(), Error>(())
            })
            .await?;
        Ok(())
    }

    /// Whether the default key sets have been created by this process.
    #[cfg(test)]
    pub fn default_keys_ready(&self) -> bool {
        self.default_keys.initialized()
    }

    /// The public keys published at `/.well-known/jwks.json`: those of the `broadcast` sets
    /// and of the access-token set.
    pub async fn published(&self, broadcast: &[String]) -> Result<Vec<Value>> {
        let mut sets: Vec<String> = broadcast.to_vec();
        if !sets.iter().any(|s| s == ACCESS_TOKEN_SET) {
            sets.push(ACCESS_TOKEN_SET.into());
        }
        let mut out = Vec::new();
        for set in sets {
            if is_default_set(&set) {
                self.signing_key(&set).await?;
            }
            for k in self.key_set(&set).await? {
                if let Some(p) = jose::public(&k) {
                    out.push(jose::to_value(&p));
                }
            }
        }
        Ok(out)
    }
}

/// A signing key written to `set` must be usable: its material fits its `alg` (a verifier
/// builds from it, and a signer too when it has a private part), and the sets Quartet signs
/// with (`hydra.openid.id-token`, `hydra.jwt.access-token`) take private keys only — a public
/// key there would be the newest and fail every token with a 500 (Hydra would generate a new
/// private key behind it; Quartet refuses the write instead, docs/oauth2.md).
pub fn check_usable(set: &str, jwk: &Jwk) -> Result<()> {
    if jwk.key_use() != Some("sig") || jwk.key_type() == "oct" {
        return Ok(());
    }
    let kid = jwk.key_id().unwrap_or_default();
    let alg = jwk.algorithm().unwrap_or_default();
    let private = jwk.parameter("d").is_some();
    let public = jose::public(jwk);
    let verifies = public
        .as_ref()
        .is_some_and(|p| jose::verifier(p, alg).is_some());
    if !verifies || (private && jose::SigningKey::new(jwk.clone()).is_err()) {
        return Err(Error::BadRequest(format!(
            "The JSON Web Key '{kid}' is not a usable {alg} key: its key material is missing or \
             malformed."
        )));
    }
    if !private && is_default_set(set) {
        return Err(Error::BadRequest(format!(
            "The JSON Web Key '{kid}' has no private part, but set '{set}' signs tokens: write \
             its private key (the public one is published from it)."
        )));
    }
    Ok(())
}

/// A JSON Web Key of an admin request: an object with `kid`, `alg` and `use`.
pub fn parse_jwk(v: &Value) -> Result<Jwk> {
    let map = v
        .as_object()
        .cloned()
        .ok_or_else(|| Error::BadRequest("A JSON Web Key must be an object.".into()))?;
    let jwk =
        Jwk::from_map(map).map_err(|e| Error::BadRequest(format!("Invalid JSON Web Key: {e}")))?;
    if jwk.key_id().is_none_or(str::is_empty)
        || jwk.algorithm().is_none_or(str::is_empty)
        || jwk.key_use().is_none_or(str::is_empty)
    {
        return Err(Error::BadRequest(
            "A JSON Web Key needs kid, alg and use.".into(),
        ));
    }
    Ok(jwk)
}

/// A key set as the admin API answers it.
pub fn jwks(keys: &[Jwk]) -> Value {
    serde_json::json!({ "keys": keys.iter().map(jose::to_value).collect::<Vec<_>>() })
}
