//! `serve.<listener>` of every role: where a listener binds.

use serde::Deserialize;

/// `serve.<name>.{host,port}` (plus `base_url` where Ory has it) of one listener.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ServeEndpoint {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub base_url: Option<String>,
    /// `serve.<name>.cors` (public listeners of Kratos and Hydra, every Keto REST listener,
    /// Oathkeeper's proxy and API).
    pub cors: Option<CorsConfig>,
}

/// `serve.<name>.cors`: unset lists and flags take the role's own Ory defaults. `debug` (CORS
/// decision logging) and `options_passthrough` are not implemented and so are reported as not
/// supported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CorsConfig {
    pub enabled: bool,
    pub allowed_origins: Option<Vec<String>>,
    pub allowed_methods: Option<Vec<String>>,
    pub allowed_headers: Option<Vec<String>>,
    pub exposed_headers: Option<Vec<String>>,
    pub allow_credentials: Option<bool>,
    pub max_age: Option<u64>,
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
