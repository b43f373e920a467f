//! Typed config of the proxy role: the Oathkeeper v0.40 keys Quartet implements, under Oathkeeper's key paths.
//! Keys Ory knows but these structs do not are reported by the loader as `not supported yet`.

use serde::Deserialize;

use super::ServeEndpoint;

/// Quartet-only keys of this role (dotted paths relative to the section) that go beyond Ory's
/// schema; the loader accepts them although Ory's schema does not know them.
pub const EXTENSION_KEYS: &[&str] = &[];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyConfig {
    pub version: Option<String>,
    pub serve: ProxyServe,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyServe {
    pub proxy: ServeEndpoint,
    pub api: ServeEndpoint,
    pub prometheus: ServeEndpoint,
}
