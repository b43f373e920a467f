//! Typed config of the proxy role: the Oathkeeper v0.40 keys Quartet implements, under Oathkeeper's key paths.
//! Keys Ory knows but these structs do not are reported by the loader as `not supported yet`.
//! Handler configs stay JSON values: they are deep-merged with each rule's `config` and
//! validated against Oathkeeper's per-handler schema when rules load (`proxy::handlers`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::ServeEndpoint;

/// Quartet-only keys of this role (dotted paths relative to the section) that go beyond Ory's
/// schema; the loader accepts them although Ory's schema does not know them. The session cache
/// of cookie_session and bearer_token (`cache.{enabled, ttl, max_cost}`, docs/proxy.md) is
/// checked with the handler config when rules load (`proxy::handlers`).
pub const EXTENSION_KEYS: &[&str] = &[
    "authenticators.cookie_session.config.cache",
    "authenticators.bearer_token.config.cache",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyConfig {
    pub version: Option<String>,
    pub serve: ProxyServe,
    pub access_rules: AccessRulesConfig,
    pub authenticators: BTreeMap<String, HandlerSwitch>,
    pub authorizers: BTreeMap<String, HandlerSwitch>,
    pub mutators: BTreeMap<String, HandlerSwitch>,
    pub errors: ErrorsConfig,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyServe {
    pub proxy: ProxyEndpoint,
    pub api: ServeEndpoint,
    pub prometheus: ServeEndpoint,
}

/// `serve.proxy`: where the reverse proxy binds, and whether inbound `X-Forwarded-*` are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProxyEndpoint {
    #[serde(flatten)]
    pub endpoint: ServeEndpoint,
    pub trust_forwarded_headers: bool,
}

/// `access_rules`: where rules come from and how `match.url` is read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccessRulesConfig {
    pub repositories: Vec<String>,
    pub matching_strategy: Option<String>,
}

/// `<kind>.<id>`: `{enabled, config}` of one pipeline handler.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HandlerSwitch {
    pub enabled: bool,
    pub config: Option<Value>,
}

/// `errors`: the fallback list and the error handlers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ErrorsConfig {
    pub fallback: Vec<String>,
    pub handlers: BTreeMap<String, HandlerSwitch>,
}

impl Default for ErrorsConfig {
    fn default() -> Self {
        Self {
            fallback: vec!["json".into()],
            handlers: BTreeMap::new(),
        }
    }
}

impl ErrorsConfig {
    /// The switch of an error handler; `json` is enabled unless the config says otherwise.
    pub fn handler(&self, id: &str) -> HandlerSwitch {
        match self.handlers.get(id) {
            Some(h) => h.clone(),
            None if id == "json" => HandlerSwitch {
                enabled: true,
                config: None,
            },
            None => HandlerSwitch::default(),
        }
    }
}
