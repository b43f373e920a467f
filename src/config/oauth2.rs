//! Typed config of the oauth2 role: the Hydra v2.2 keys Quartet implements, under Hydra's key paths.
//! Keys Ory knows but these structs do not are reported by the loader as `not supported yet`.

use serde::Deserialize;

use super::{Secret, ServeEndpoint};

/// Quartet-only keys of this role (dotted paths relative to the section) that go beyond Ory's
/// schema; the loader accepts them although Ory's schema does not know them.
pub const EXTENSION_KEYS: &[&str] = &[];

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
