//! Typed config of the permission role: the Keto v0.14 keys Quartet implements, under Keto's key paths.
//! Keys Ory knows but these structs do not are reported by the loader as `not supported yet`.

use serde::Deserialize;

use super::ServeEndpoint;

/// Quartet-only keys of this role (dotted paths relative to the section) that go beyond Ory's
/// schema; the loader accepts them although Ory's schema does not know them.
pub const EXTENSION_KEYS: &[&str] = &[];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PermissionConfig {
    pub version: Option<String>,
    #[serde(rename = "$schema")]
    pub schema: Option<String>,
    pub serve: PermissionServe,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PermissionServe {
    pub read: ServeEndpoint,
    pub write: ServeEndpoint,
    pub metrics: ServeEndpoint,
    pub opl: ServeEndpoint,
}
