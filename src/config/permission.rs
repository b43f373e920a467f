//! Typed config of the permission role: the Keto v0.14 keys Quartet implements, under Keto's key paths.
//! Keys Ory knows but these structs do not are reported by the loader as `not supported yet`.

use serde::Deserialize;

use super::ServeEndpoint;

/// Quartet-only keys of this role (dotted paths relative to the section) that go beyond Ory's
/// schema; the loader accepts them although Ory's schema does not know them.
/// `check_cache`: the optional check-result cache (off unless `check_cache.ttl_ms > 0`);
/// `lookup`: bounds of the reverse lookup (`/quartet/lookup/*`) and of expand.
pub const EXTENSION_KEYS: &[&str] = &["check_cache", "lookup"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PermissionConfig {
    pub version: Option<String>,
    #[serde(rename = "$schema")]
    pub schema: Option<String>,
    pub serve: PermissionServe,
    pub namespaces: NamespacesConfig,
    pub limit: LimitConfig,
    pub check_cache: CheckCacheConfig,
    pub lookup: LookupConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PermissionServe {
    pub read: ServeEndpoint,
    pub write: ServeEndpoint,
    pub metrics: ServeEndpoint,
    pub opl: ServeEndpoint,
}

/// Keto's three `namespaces` shapes (`K:internal/driver/config/provider.go`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NamespacesConfig {
    /// `namespaces: [{name: videos}, …]` — names only, any relation accepted.
    Legacy(Vec<LegacyNamespace>),
    /// `namespaces: file:///etc/keto/namespaces` — a file or directory of legacy namespace files.
    LegacyUri(String),
    /// `namespaces: {location: file://…/namespaces.keto.ts, experimental_strict_mode: false}`.
    Opl(OplNamespaces),
}

/// Keto's default `namespaces`: a directory of legacy namespace files beside the process.
const DEFAULT_LOCATION: &str = "file://./keto_namespaces";

impl Default for NamespacesConfig {
    fn default() -> Self {
        NamespacesConfig::LegacyUri(DEFAULT_LOCATION.into())
    }
}

impl NamespacesConfig {
    /// True when no namespaces are configured: Keto's default location, and nothing there
    /// (Keto then starts without namespaces and refuses every tuple). Reads the file system.
    pub fn is_unconfigured(&self) -> bool {
        matches!(self, NamespacesConfig::LegacyUri(uri) if uri == DEFAULT_LOCATION)
            && !std::path::Path::new(DEFAULT_LOCATION.trim_start_matches("file://")).exists()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyNamespace {
    /// Deprecated in Keto; accepted and ignored.
    pub id: Option<i64>,
    pub name: String,
    /// Ignored by Keto.
    pub config: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OplNamespaces {
    pub location: String,
    #[serde(default)]
    pub experimental_strict_mode: bool,
}

/// `limit.*` with Keto's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LimitConfig {
    pub max_read_depth: u32,
    pub max_read_width: u32,
    pub max_batch_check_size: u32,
    pub batch_check_max_parallelization: u32,
}

impl Default for LimitConfig {
    fn default() -> Self {
        Self {
            max_read_depth: 5,
            max_read_width: 100,
            max_batch_check_size: 10,
            batch_check_max_parallelization: 5,
        }
    }
}

/// Quartet extension: an in-process cache of check results. Off by default (Keto has none).
/// With several instances on one database an answer may be stale for at most `ttl_ms` after
/// a write on another instance; writes on this instance clear the cache.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckCacheConfig {
    /// Time to live of a cached answer in milliseconds; 0 disables the cache.
    pub ttl_ms: u64,
    /// Maximum number of cached answers (default 100 000 when the cache is on).
    pub max_entries: Option<usize>,
}

/// Quartet extension: the work one reverse-lookup request may do. A lookup runs one check per
/// candidate (distinct object or subject id); a request that would need more checks than
/// `max_candidates` to fill its page answers 400 naming this key instead of scanning on.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LookupConfig {
    /// Candidates one lookup request may check (default 1000).
    pub max_candidates: usize,
}

impl Default for LookupConfig {
    fn default() -> Self {
        Self {
            max_candidates: DEFAULT_LOOKUP_MAX_CANDIDATES,
        }
    }
}

/// Default of `permission.lookup.max_candidates`.
pub const DEFAULT_LOOKUP_MAX_CANDIDATES: usize = 1000;
