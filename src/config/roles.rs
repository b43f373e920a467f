//! The typed config tree of each role: the subset of Ory's keys Quartet implements, under
//! Ory's key paths. Keys Ory knows but these trees do not are reported by the loader as
//! `not supported yet`; keys Ory does not know are errors.

use serde::Deserialize;

use super::Secret;

/// `serve.<name>.{host,port}` (plus `base_url` where Ory has it) of one listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ServeEndpoint {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub base_url: Option<String>,
}

impl ServeEndpoint {
    /// The socket address to bind: the configured host or the role's safe default, and the
    /// configured port or Ory's default.
    pub fn bind_addr(&self, default_host: &str, default_port: u16) -> String {
        let host = match self.host.as_deref() {
            Some(h) if !h.is_empty() => h,
            _ => default_host,
        };
        let port = self.port.unwrap_or(default_port);
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

// ---------------------------------------------------------------- identity (Kratos v1.1)

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

// ---------------------------------------------------------------- oauth2 (Hydra v2.2)

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Config {
    pub version: Option<String>,
    pub serve: Oauth2Serve,
    pub urls: Oauth2Urls,
    pub secrets: Oauth2Secrets,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Serve {
    pub public: ServeEndpoint,
    pub admin: ServeEndpoint,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Urls {
    #[serde(rename = "self")]
    pub self_: Oauth2SelfUrls,
    pub login: Option<String>,
    pub consent: Option<String>,
    pub logout: Option<String>,
    pub error: Option<String>,
    pub post_logout_redirect: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2SelfUrls {
    pub issuer: Option<String>,
    pub public: Option<String>,
    pub admin: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Oauth2Secrets {
    pub system: Vec<Secret<String>>,
    pub cookie: Vec<Secret<String>>,
}

// ---------------------------------------------------------------- permission (Keto v0.14)

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

// ---------------------------------------------------------------- proxy (Oathkeeper v0.40)

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
