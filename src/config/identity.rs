//! Typed config of the identity role: the Kratos v1.1 keys Quartet implements, under Kratos' key paths.
//! Keys Ory knows but these structs do not are reported by the loader as `not supported yet`.

use serde::Deserialize;

use super::{Secret, ServeEndpoint};

/// Quartet-only keys of this role (dotted paths relative to the section) that go beyond Ory's
/// schema; the loader accepts them although Ory's schema does not know them.
pub const EXTENSION_KEYS: &[&str] = &[];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IdentityConfig {
    pub version: Option<String>,
    pub serve: IdentityServe,
    pub secrets: IdentitySecrets,
    pub identity: IdentitySchemas,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IdentityServe {
    pub public: ServeEndpoint,
    pub admin: ServeEndpoint,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IdentitySecrets {
    pub default: Vec<Secret<String>>,
    pub cookie: Vec<Secret<String>>,
    pub cipher: Vec<Secret<String>>,
}

/// `identity.default_schema_id` and `identity.schemas`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IdentitySchemas {
    pub default_schema_id: Option<String>,
    pub schemas: Vec<IdentitySchemaRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdentitySchemaRef {
    pub id: String,
    pub url: String,
}
