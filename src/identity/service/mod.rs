//! The identity role's service: the state every handler shares (config, store, schemas,
//! hasher, clock, secrets), its construction, the role's URLs and password hashing off the
//! runtime; the operations the handlers compose live beside it, one file per capability:
//! `identities` (building identities from admin or self-service input), `sessions`,
//! `cookies` (the session and anti-CSRF cookies) and `brute_force` (failed-login throttling).
//! It knows no HTTP: the handlers read headers and cookies (`request.rs`) and pass plain
//! values — the host, a cookie's value, a token; the cookies it makes are `Set-Cookie` texts.

mod brute_force;
mod cookies;
pub mod identities;
mod sessions;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use rand::distributions::Alphanumeric;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::error::{Error, Result};
use super::model::{Clock, Micros};
use super::schema::Schemas;
use super::session_cache::SessionCache;
use super::store::IdentityStore;
use crate::config::IdentityConfig;
use crate::crypto::password::{self, Hasher};

/// The URLs the role's listeners were actually bound to (`"public"`, `"admin"`), filled in by
/// the composition root after binding. They stand in for `serve.*.base_url` when it is unset,
/// so that a port 0 in the config still yields the real port in `schema_url`, `ui.action`,
/// logout URLs and the public↔admin redirects (Kratos guesses `http://<host>:<port>/`).
#[derive(Clone, Debug, Default)]
pub struct BoundUrls(Arc<RwLock<BTreeMap<String, String>>>);

impl BoundUrls {
    pub fn set(&self, listener: &str, url: &str) {
        if let Ok(mut map) = self.0.write() {
            map.insert(listener.to_string(), url.trim_end_matches('/').to_string());
        }
    }

    pub fn get(&self, listener: &str) -> Option<String> {
        self.0.read().ok().and_then(|m| m.get(listener).cloned())
    }
}

/// Shared state of the role.
#[derive(Clone)]
pub struct Service(pub Arc<Inner>);

pub struct Inner {
    pub config: IdentityConfig,
    pub store: IdentityStore,
    pub schemas: Schemas,
    pub hasher: Hasher,
    /// A hash of a random password with the configured hasher: verified against when the
    /// identifier is unknown so that both cases cost the same. Computed in the background at
    /// start (a bcrypt cost-12 hash takes ~250 ms, which must not delay readiness).
    dummy_hash: Arc<tokio::sync::OnceCell<String>>,
    pub clock: Clock,
    pub dev: bool,
    pub bound: BoundUrls,
    cookie_secrets: Vec<Vec<u8>>,
    /// `quartet.session_cache`; `None` when off (the default).
    session_cache: Option<SessionCache>,
    /// Password hashes computed at once: one per CPU. More cannot finish sooner, and argon2id
    /// holds `memory` (128 MB by default) per hash, so a burst of logins must queue here rather
    /// than allocate without bound.
    hashing: Arc<tokio::sync::Semaphore>,
}

impl std::ops::Deref for Service {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn random_alnum(n: usize) -> String {
    rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

pub fn sha256_hex(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads `128MB`-style sizes into KiB.
fn kib(text: &str) -> Option<u32> {
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().ok()?;
    let bytes = match &text[digits.len()..] {
        "B" => n,
        "KB" => n * 1024,
        "MB" => n * 1024 * 1024,
        "GB" => n * 1024 * 1024 * 1024,
        _ => return None,
    };
    u32::try_from(bytes / 1024).ok()
}

/// The configured hasher: bcrypt cost 12 unless `--dev` allows less; argon2id with Kratos' keys.
pub fn hasher_from(config: &IdentityConfig, dev: bool) -> Result<Hasher> {
    match config.hashers.algorithm.as_deref().unwrap_or("bcrypt") {
        "bcrypt" => {
            let cost = config.hashers.bcrypt.cost.unwrap_or(12);
            let cost = if dev {
                cost.clamp(4, 31)
            } else {
                cost.clamp(12, 31)
            };
            Ok(Hasher::Bcrypt { cost })
        }
        "argon2" => {
            let a = &config.hashers.argon2;
            let cpus = std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1);
            Ok(Hasher::Argon2id {
                memory_kib: match &a.memory {
                    Some(m) => kib(m).ok_or_else(|| {
                        Error::Config(format!("identity.hashers.argon2.memory: cannot read `{m}`"))
                    })?,
                    None => 128 * 1024,
                },
                iterations: a.iterations.unwrap_or(1),
                parallelism: a.parallelism.unwrap_or(2 * cpus),
                salt_length: a.salt_length.unwrap_or(16),
                key_length: a.key_length.unwrap_or(32),
            })
        }
        other => Err(Error::Config(format!(
            "identity.hashers.algorithm: unknown `{other}`"
        ))),
    }
}

impl Service {
    pub async fn new(
        config: IdentityConfig,
        store: IdentityStore,
        dev: bool,
        clock: Clock,
        bound: BoundUrls,
    ) -> Result<Service> {
        let schemas = Schemas::load(
            &config.identity.schemas,
            config.identity.default_schema_id.as_deref(),
        )
        .await?;
        let hasher = hasher_from(&config, dev)?;
        let dummy_hash = Arc::new(tokio::sync::OnceCell::new());
        let (warm, h) = (dummy_hash.clone(), hasher.clone());
        tokio::spawn(async move {
            if let Err(e) = compute_dummy_hash(&warm, &h).await {
                tracing::warn!(error = %e, "could not precompute the dummy password hash yet");
            }
        });
        let mut cookie_secrets: Vec<Vec<u8>> = config
            .secrets
            .cookie
            .iter()
            .chain(config.secrets.default.iter())
            .map(|s| s.expose().as_bytes().to_vec())
            .collect();
        if cookie_secrets.is_empty() {
            let generated =
                crate::store::secrets::get_or_create(store.db(), "identity.secrets.cookie", || {
                    crate::crypto::random_token(32)
                })
                .await?;
            cookie_secrets.push(generated.into_bytes());
        }
        let cache = &config.quartet.session_cache;
        let session_cache = SessionCache::new(
            std::time::Duration::from_nanos(u64::try_from(cache.ttl.0).unwrap_or(u64::MAX)),
            cache.max_entries,
        );
        Ok(Service(Arc::new(Inner {
            config,
            store,
            schemas,
            hasher,
            dummy_hash,
            clock,
            dev,
            bound,
            cookie_secrets,
            session_cache,
            hashing: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
            )),
        })))
    }

    pub fn now(&self) -> Micros {
        self.clock.now()
    }

    /// `serve.public.base_url`, or the URL a request came to by its `host` (Kratos guesses
    /// from host:port).
    pub fn public_base(&self, host: Option<&str>) -> String {
        if let Some(b) = &self.config.serve.public.base_url {
            return b.trim_end_matches('/').to_string();
        }
        format!("http://{}", host.unwrap_or("localhost:4433"))
    }

    /// The public URL without a request to the public port: `serve.public.base_url`, else the
    /// URL the public listener is bound to, else Kratos' guess `http://<host>:<port>`.
    pub fn configured_public_base(&self) -> String {
        self.configured_base("public", 4433)
    }

    /// The admin URL (for the public port's 307 to admin routes): `serve.admin.base_url`, else
    /// the bound admin listener, else `http://<host>:<port>`.
    pub fn configured_admin_base(&self) -> String {
        self.configured_base("admin", 4434)
    }

    fn configured_base(&self, listener: &str, default_port: u16) -> String {
        let endpoint = match listener {
            "admin" => &self.config.serve.admin,
            _ => &self.config.serve.public,
        };
        if let Some(b) = &endpoint.base_url {
            return b.trim_end_matches('/').to_string();
        }
        if let Some(bound) = self.bound.get(listener) {
            return bound;
        }
        let host = match endpoint.host.as_deref() {
            None | Some("") | Some("0.0.0.0") => "127.0.0.1",
            Some(h) => h,
        };
        format!("http://{host}:{}", endpoint.port.unwrap_or(default_port))
    }

    // --- passwords ----------------------------------------------------------------------------

    pub async fn hash_password(&self, password: String) -> Result<String> {
        let h = self.hasher.clone();
        self.off_runtime(move || h.hash(password.as_bytes()))
            .await?
            .map_err(Error::from)
    }

    /// Runs a password hash or verification on the blocking pool, at most one per CPU at once.
    async fn off_runtime<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        // The permit moves into the blocking task: a request cancelled mid-hash still holds it
        // until the hash is done.
        let permit = self
            .hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let done = work();
            drop(permit);
            done
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Verifies off the runtime; `None` as hash verifies against the dummy hash (and fails).
    pub async fn verify_password(&self, password: String, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = match hash {
            Some(h) => h,
            None => compute_dummy_hash(&self.dummy_hash, &self.hasher)
                .await?
                .clone(),
        };
        let ok = self
            .off_runtime(move || password::verify(password.as_bytes(), &hash))
            .await?;
        Ok(known && matches!(ok, Ok(true)))
    }
}

/// The dummy hash, computed once (concurrent callers wait for the same computation).
async fn compute_dummy_hash<'a>(
    cell: &'a tokio::sync::OnceCell<String>,
    hasher: &Hasher,
) -> Result<&'a String> {
    cell.get_or_try_init(|| async {
        let h = hasher.clone();
        tokio::task::spawn_blocking(move || h.hash(random_alnum(24).as_bytes()))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(Error::from)
    })
    .await
}
