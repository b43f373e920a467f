//! The built-in defaults that make every role usable at once under `--dev` (and for the
//! in-process fixture): an email + password identity schema, the password method, an issuer on
//! the public OAuth2 port, and generated secrets — each reported so that nobody mistakes them
//! for configured values.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::identity::IdentitySchemaRef;
use super::{Config, Secret};
use crate::crypto::random_token;

const DEFAULT_IDENTITY_SCHEMA: &str = include_str!("default_identity.schema.json");

impl Config {
    /// Fills what `--dev` provides when the config leaves it out; returns one note per default
    /// applied (secret values are never part of a note).
    pub fn apply_dev_defaults(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        let ids = &mut self.identity.identity;
        if ids.schemas.is_empty() {
            ids.schemas.push(IdentitySchemaRef {
                id: "default".into(),
                url: format!("base64://{}", STANDARD.encode(DEFAULT_IDENTITY_SCHEMA)),
            });
            ids.default_schema_id
                .get_or_insert_with(|| "default".into());
            notes.push("dev default: identity.identity.schemas = the built-in email + password schema (id `default`)".into());
        }
        let issuer = &mut self.oauth2.urls.self_.issuer;
        if issuer.is_none() {
            let port = self.oauth2.serve.public.port.unwrap_or(4444);
            *issuer = Some(format!("http://localhost:{port}/"));
            notes.push(format!(
                "dev default: oauth2.urls.self.issuer = http://localhost:{port}/"
            ));
        }
        if self.identity.secrets.cipher.is_empty() {
            self.identity
                .secrets
                .cipher
                .push(Secret::new(random_token(32)));
            notes.push("dev default: identity.secrets.cipher = a generated random secret (changes at every start)".into());
        }
        // The session cookie's and the oauth2 role's secrets are left to the roles, which take
        // a secret generated once and kept in the database (`store::secrets`): one generated
        // here at every start could not open the keys an earlier start sealed in a persistent
        // database (every JWKS, discovery and token request was then a 500), nor verify the
        // cookies another instance on that database signed.
        for (path, secrets) in [
            ("identity.secrets.cookie", &self.identity.secrets.cookie),
            ("oauth2.secrets.system", &self.oauth2.secrets.system),
        ] {
            if secrets.is_empty() {
                notes.push(format!("dev default: {path} = a random secret generated once and kept in the database (shared by every instance on it; set one in production)"));
            }
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_defaults_fill_only_what_is_missing_and_never_print_secrets() {
        let mut config = Config::ephemeral();
        config.identity.identity.schemas.clear();
        config.identity.secrets.cookie.clear();
        config.identity.secrets.cipher.clear();
        config.oauth2.secrets.system.clear();
        config.oauth2.urls.self_.issuer = Some("https://auth.example.com/".into());
        let notes = config.apply_dev_defaults();
        assert_eq!(
            config.oauth2.urls.self_.issuer.as_deref(),
            Some("https://auth.example.com/")
        );
        assert_eq!(config.identity.identity.schemas.len(), 1);
        let secret = config.identity.secrets.cipher[0].expose().clone();
        assert!(notes.iter().all(|n| !n.contains(&secret)));
        assert_eq!(notes.len(), 4);
        // The cookie and system secrets come from the database when the roles start.
        assert!(config.identity.secrets.cookie.is_empty());
        assert!(config.oauth2.secrets.system.is_empty());
        assert_eq!(config.apply_dev_defaults().len(), 2);
    }
}
