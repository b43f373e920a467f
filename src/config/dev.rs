//! The built-in defaults that make every role usable at once under `--dev` (and for the
//! in-process fixture): an email + password identity schema, the `session` hook after
//! registration, brute-force protection off, an issuer on the public OAuth2 port, generated
//! secrets and the seed's permission model — each reported so that nobody mistakes them for
//! configured values — and the development-grade settings that a start without `--dev` runs on
//! anyway, as Ory does, named in one warning.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::identity::{HookConfig, IdentitySchemaRef};
use super::permission::{NamespacesConfig, OplNamespaces};
use super::{Config, Dsn, Role, Secret};
use crate::crypto::random_token;

const DEFAULT_IDENTITY_SCHEMA: &str = include_str!("default_identity.schema.json");

/// The permission model `--dev` serves when no namespaces are configured: the seed deployment's
/// OPL file (`User`, `Organization`, `Gateway`), embedded at build time.
pub const DEV_NAMESPACES_OPL: &str = include_str!("../../config/imprun/namespaces.keto.ts");

impl Config {
    /// Fills what `--dev` provides when the config leaves it out; returns one note per default
    /// applied (secret values are never part of a note).
    pub fn apply_dev_defaults(&mut self) -> Vec<String> {
        let mut notes = self.identity_dev_defaults();
        let issuer = &mut self.oauth2.urls.self_.issuer;
        if issuer.is_none() {
            let port = self.oauth2.serve.public.port.unwrap_or(4444);
            *issuer = Some(format!("http://localhost:{port}/"));
            notes.push(format!(
                "dev default: oauth2.urls.self.issuer = http://localhost:{port}/"
            ));
        }
        if self.permission.namespaces.is_unconfigured() {
            self.permission.namespaces = NamespacesConfig::Opl(OplNamespaces {
                location: format!("base64://{}", STANDARD.encode(DEV_NAMESPACES_OPL)),
                experimental_strict_mode: false,
            });
            notes.push("dev default: permission.namespaces = the seed's OPL model (config/imprun/namespaces.keto.ts: User, Organization, Gateway)".into());
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

    /// The identity role's part of [`Config::apply_dev_defaults`].
    fn identity_dev_defaults(&mut self) -> Vec<String> {
        let mut notes = Vec::new();
        let identity = &mut self.identity;
        let ids = &mut identity.identity;
        if ids.schemas.is_empty() {
            ids.schemas.push(IdentitySchemaRef {
                id: "default".into(),
                url: format!("base64://{}", STANDARD.encode(DEFAULT_IDENTITY_SCHEMA)),
            });
            ids.default_schema_id
                .get_or_insert_with(|| "default".into());
            notes.push("dev default: identity.identity.schemas = the built-in email + password schema (id `default`)".into());
        }
        let after = &mut identity.selfservice.flows.registration.after;
        let no_hooks = after.hooks.is_empty()
            && after.password.hooks.is_empty()
            && after.profile.hooks.is_empty();
        if !after.hooks_given && no_hooks {
            after.hooks.push(HookConfig {
                hook: "session".into(),
            });
            notes.push("dev default: identity.selfservice.flows.registration.after.hooks = [session] (a registration signs the new identity in)".into());
        }
        let brute_force = &mut identity.quartet.brute_force;
        if !brute_force.enabled_given && brute_force.enabled {
            brute_force.enabled = false;
            notes.push("dev default: identity.quartet.brute_force.enabled = false (wrong passwords are not throttled; set it to true to try the protection, on by default without --dev)".into());
        }
        if identity.secrets.cipher.is_empty() {
            identity.secrets.cipher.push(Secret::new(random_token(32)));
            notes.push("dev default: identity.secrets.cipher = a generated random secret (changes at every start)".into());
        }
        notes
    }
}

/// The bcrypt cost Kratos raises a lower configured cost to outside development mode.
const MIN_BCRYPT_COST: u32 = 12;

impl Config {
    /// Every development-grade setting that serving `roles` without `--dev` runs on, one phrase
    /// each (for one warning at start; Ory starts on them too, and so does Quartet). Empty under
    /// `--dev`, which asks for them. Secrets are never part of a phrase; URLs are.
    ///
    /// Cookies need no phrase: every cookie carries `Secure` unless `--dev` is set.
    pub fn development_grade_settings(&self, roles: &[Role]) -> Vec<String> {
        let mut found = Vec::new();
        if self.dev {
            return found;
        }
        if self.dsn == Dsn::Memory {
            found.push("dsn is memory (every record is lost when the process ends)".to_string());
        }
        let plain_http = |found: &mut Vec<String>, path: &str, url: Option<&String>| {
            if let Some(url) = url.filter(|u| is_plain_http(u)) {
                found.push(format!("{path} is plain HTTP ({url})"));
            }
        };
        if roles.contains(&Role::Identity) {
            let identity = &self.identity;
            plain_http(
                &mut found,
                "identity.serve.public.base_url",
                identity.serve.public.base_url.as_ref(),
            );
            plain_http(
                &mut found,
                "identity.selfservice.default_browser_return_url",
                identity.selfservice.default_browser_return_url.as_ref(),
            );
            let algorithm = identity.hashers.algorithm.as_deref().unwrap_or("bcrypt");
            if let Some(cost) = identity.hashers.bcrypt.cost {
                if algorithm == "bcrypt" && cost < MIN_BCRYPT_COST {
                    found.push(format!(
                        "identity.hashers.bcrypt.cost {cost} is below {MIN_BCRYPT_COST} (raised to {MIN_BCRYPT_COST})"
                    ));
                }
            }
            if !identity.quartet.brute_force.enabled {
                found.push("identity.quartet.brute_force.enabled is false (wrong passwords are not throttled)".to_string());
            }
            if identity.secrets.cookie.is_empty() && identity.secrets.default.is_empty() {
                found.push("identity.secrets.cookie is unset (a secret generated once and kept in the database signs session cookies)".to_string());
            }
        }
        if roles.contains(&Role::Oauth2) {
            let oauth2 = &self.oauth2;
            match oauth2.urls.self_.issuer.as_ref().filter(|i| !i.is_empty()) {
                Some(issuer) => plain_http(&mut found, "oauth2.urls.self.issuer", Some(issuer)),
                None => found.push(
                    "oauth2.urls.self.issuer is unset (the plain-HTTP URL of the public listener is used)"
                        .to_string(),
                ),
            }
            if oauth2.secrets.system.is_empty() {
                found.push("oauth2.secrets.system is unset (a secret generated once and kept in the database seals keys and tokens)".to_string());
            }
        }
        found
    }
}

/// `http://…` in any letter case.
fn is_plain_http(url: &str) -> bool {
    url.trim_start()
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
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

    #[test]
    fn dev_turns_brute_force_off_adds_the_session_hook_and_serves_the_seed_model() {
        let mut config = Config::ephemeral();
        config.identity = Default::default();
        config.permission = Default::default();
        assert!(config.identity.quartet.brute_force.enabled);
        let notes = config.apply_dev_defaults();
        let identity = &config.identity;
        assert!(!identity.quartet.brute_force.enabled);
        assert!(identity
            .selfservice
            .flows
            .registration
            .after
            .runs("password", "session"));
        let NamespacesConfig::Opl(opl) = &config.permission.namespaces else {
            panic!("{:?}", config.permission.namespaces)
        };
        assert!(opl.location.starts_with("base64://"));
        for key in [
            "identity.quartet.brute_force.enabled",
            "identity.selfservice.flows.registration.after.hooks",
            "permission.namespaces",
        ] {
            assert!(
                notes
                    .iter()
                    .any(|n| n.starts_with(&format!("dev default: {key} = "))),
                "{key} missing from {notes:?}"
            );
        }
        // Applied once: a second pass finds nothing of these left to fill.
        assert_eq!(config.apply_dev_defaults().len(), 2);
    }

    #[test]
    fn explicit_brute_force_hooks_and_namespaces_win_over_dev() {
        let keys: crate::config::identity::IdentityConfig = serde_json::from_value(serde_json::json!({
            "quartet": {"brute_force": {"enabled": true}},
            "selfservice": {"flows": {"registration": {"after": {"password": {"hooks": [{"hook": "web_hook"}]}}}}}
        }))
        .unwrap();
        assert!(keys.quartet.brute_force.enabled_given);
        let mut config = Config::ephemeral();
        config.identity = keys;
        config.permission.namespaces = NamespacesConfig::LegacyUri("file:///etc/keto".into());
        let notes = config.apply_dev_defaults();
        assert!(config.identity.quartet.brute_force.enabled);
        assert!(!config
            .identity
            .selfservice
            .flows
            .registration
            .after
            .runs("password", "session"));
        assert!(matches!(
            &config.permission.namespaces,
            NamespacesConfig::LegacyUri(uri) if uri == "file:///etc/keto"
        ));
        assert!(
            notes.iter().all(|n| !n.contains("brute_force")
                && !n.contains("registration")
                && !n.contains("namespaces")),
            "{notes:?}"
        );
        // An empty hook list given for registration means "no hook", under --dev too.
        let none: crate::config::identity::IdentityConfig = serde_json::from_value(
            serde_json::json!({"selfservice": {"flows": {"registration": {"after": {"hooks": []}}}}}),
        )
        .unwrap();
        let mut config = Config::ephemeral();
        config.identity = none;
        config.apply_dev_defaults();
        assert!(!config
            .identity
            .selfservice
            .flows
            .registration
            .after
            .runs("password", "session"));
        // `enabled: false` is kept too, and without --dev it is a development-grade setting.
        let off: crate::config::identity::IdentityConfig = serde_json::from_value(
            serde_json::json!({"quartet": {"brute_force": {"enabled": false}}}),
        )
        .unwrap();
        let mut config = production();
        config.identity.quartet = off.quartet;
        assert_eq!(
            config.development_grade_settings(&[Role::Identity]),
            vec![
                "identity.quartet.brute_force.enabled is false (wrong passwords are not throttled)"
                    .to_string()
            ]
        );
    }

    /// A configuration as an operator writes it for production: every setting set and secure.
    fn production() -> Config {
        let mut config = Config::ephemeral();
        config.dev = false;
        config.dsn = Dsn::Sqlite("/var/lib/quartet/db.sqlite".into());
        config.oauth2.urls.self_.issuer = Some("https://auth.example.com/".into());
        config.oauth2.secrets.system = vec![Secret::new("a".repeat(32))];
        config.identity.secrets.cookie = vec![Secret::new("b".repeat(32))];
        config.identity.serve.public.base_url = Some("https://id.example.com/".into());
        config.identity.selfservice.default_browser_return_url =
            Some("https://app.example.com/".into());
        config.identity.hashers.bcrypt.cost = Some(12);
        // `Config::ephemeral()` took the `--dev` default (off); production keeps it on.
        config.identity.quartet.brute_force.enabled = true;
        config
    }

    #[test]
    fn a_production_config_has_no_development_grade_setting() {
        assert_eq!(
            production().development_grade_settings(&Role::ALL),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_development_grade_setting_is_named_and_no_secret_is() {
        let mut config = production();
        config.dsn = Dsn::Memory;
        config.oauth2.urls.self_.issuer = Some("HTTP://auth.example.com/".into());
        config.oauth2.secrets.system.clear();
        config.identity.secrets.cookie.clear();
        config.identity.secrets.cipher = vec![Secret::new("cipher-secret".into())];
        config.identity.serve.public.base_url = Some("http://id.example.com/".into());
        config.identity.selfservice.default_browser_return_url =
            Some("http://app.example.com/".into());
        config.identity.hashers.bcrypt.cost = Some(4);
        let found = config.development_grade_settings(&Role::ALL);
        for expected in [
            "dsn is memory",
            "oauth2.urls.self.issuer is plain HTTP (HTTP://auth.example.com/)",
            "oauth2.secrets.system is unset",
            "identity.secrets.cookie is unset",
            "identity.serve.public.base_url is plain HTTP (http://id.example.com/)",
            "identity.selfservice.default_browser_return_url is plain HTTP (http://app.example.com/)",
            "identity.hashers.bcrypt.cost 4 is below 12",
        ] {
            assert!(
                found.iter().any(|f| f.starts_with(expected)),
                "{expected} missing from {found:?}"
            );
        }
        assert_eq!(found.len(), 7, "{found:?}");
        assert!(found.iter().all(|f| !f.contains("cipher-secret")));
        // `secrets.default` signs cookies too.
        config.identity.secrets.default = vec![Secret::new("c".repeat(32))];
        assert_eq!(config.development_grade_settings(&Role::ALL).len(), 6);
        // `--dev` asks for all of this.
        config.dev = true;
        assert!(config.development_grade_settings(&Role::ALL).is_empty());
    }

    #[test]
    fn only_the_served_roles_and_an_unset_issuer_count() {
        let mut config = production();
        config.oauth2.urls.self_.issuer = None;
        config.identity.hashers.bcrypt.cost = Some(10);
        assert_eq!(
            config.development_grade_settings(&[Role::Oauth2]),
            vec!["oauth2.urls.self.issuer is unset (the plain-HTTP URL of the public listener is used)".to_string()]
        );
        assert_eq!(
            config.development_grade_settings(&[Role::Identity]),
            vec!["identity.hashers.bcrypt.cost 10 is below 12 (raised to 12)".to_string()]
        );
        assert!(config
            .development_grade_settings(&[Role::Permission, Role::Proxy])
            .is_empty());
        // argon2 has no cost to raise.
        config.identity.hashers.algorithm = Some("argon2".into());
        assert!(config
            .development_grade_settings(&[Role::Identity])
            .is_empty());
    }
}
