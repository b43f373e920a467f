//! Typed config of the identity role: the Kratos v1.1 keys Quartet implements, under Kratos' key paths.
//! Keys Ory knows but these structs do not are reported by the loader as `not supported yet`.

use serde::Deserialize;

use super::{Secret, ServeEndpoint};

/// Quartet-only keys of this role (dotted paths relative to the section) that go beyond Ory's
/// schema; the loader accepts them although Ory's schema does not know them.
/// `quartet.brute_force.*`: failed-login throttling (Kratos has none); `quartet.session_cache.*`:
/// an opt-in whoami cache with a bounded TTL; see `docs/identity.md`.
pub const EXTENSION_KEYS: &[&str] = &["quartet"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct IdentityConfig {
    pub version: Option<String>,
    pub serve: IdentityServe,
    pub secrets: IdentitySecrets,
    pub identity: IdentitySchemas,
    pub selfservice: SelfService,
    pub session: SessionConfig,
    pub cookies: CookiesConfig,
    pub hashers: Hashers,
    pub feature_flags: FeatureFlags,
    pub quartet: QuartetExtensions,
}

/// `feature_flags.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FeatureFlags {
    /// whoami answers carry `Ory-Session-Cache-For` (seconds a caller may cache the answer).
    pub cacheable_sessions: bool,
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

pub use super::duration::GoDuration;

/// `selfservice.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SelfService {
    pub default_browser_return_url: Option<String>,
    pub allowed_return_urls: Vec<String>,
    pub methods: Methods,
    pub flows: Flows,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Methods {
    pub password: PasswordMethod,
    pub profile: ProfileMethod,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PasswordMethod {
    pub enabled: bool,
    pub config: PasswordPolicy,
}

impl Default for PasswordMethod {
    fn default() -> Self {
        Self {
            enabled: true,
            config: PasswordPolicy::default(),
        }
    }
}

/// `selfservice.methods.password.config`. The breached-password check runs offline (a list
/// in the binary), so the keys of Kratos' online lookup — `haveibeenpwned_host`,
/// `max_breaches`, `ignore_network_errors` — are not read and are reported as not supported.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PasswordPolicy {
    pub min_password_length: usize,
    pub identifier_similarity_check_enabled: bool,
    pub haveibeenpwned_enabled: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_password_length: 8,
            identifier_similarity_check_enabled: true,
            haveibeenpwned_enabled: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ProfileMethod {
    pub enabled: bool,
}

impl Default for ProfileMethod {
    fn default() -> Self {
        Self { enabled: true }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Flows {
    pub login: LoginFlowConfig,
    pub registration: RegistrationFlowConfig,
    pub settings: SettingsFlowConfig,
    pub logout: LogoutFlowConfig,
    pub error: ErrorFlowConfig,
}

/// `after` of a flow: the global redirect, hooks, and per-method overrides.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(from = "AfterKeys")]
pub struct AfterConfig {
    pub default_browser_return_url: Option<String>,
    pub hooks: Vec<HookConfig>,
    pub password: AfterMethod,
    pub profile: AfterMethod,
    /// Whether the config gives a hook list here (`hooks`, `password.hooks` or
    /// `profile.hooks`), even an empty one: `--dev` adds a hook only where none is given.
    pub hooks_given: bool,
}

/// `after` as written in the config: each hook list may be left out, or given (even empty).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct AfterKeys {
    default_browser_return_url: Option<String>,
    hooks: Option<Vec<HookConfig>>,
    password: AfterMethodKeys,
    profile: AfterMethodKeys,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct AfterMethodKeys {
    default_browser_return_url: Option<String>,
    hooks: Option<Vec<HookConfig>>,
}

impl From<AfterKeys> for AfterConfig {
    fn from(keys: AfterKeys) -> Self {
        let hooks_given =
            keys.hooks.is_some() || keys.password.hooks.is_some() || keys.profile.hooks.is_some();
        let method = |m: AfterMethodKeys| AfterMethod {
            default_browser_return_url: m.default_browser_return_url,
            hooks: m.hooks.unwrap_or_default(),
        };
        Self {
            default_browser_return_url: keys.default_browser_return_url,
            hooks: keys.hooks.unwrap_or_default(),
            password: method(keys.password),
            profile: method(keys.profile),
            hooks_given,
        }
    }
}

impl AfterConfig {
    /// The hooks that run after `method` (`password`, `profile`): the method's own when it has
    /// any, else the flow's global ones — Kratos never merges the two.
    pub fn hooks_for(&self, method: &str) -> &[HookConfig] {
        let own = match method {
            "password" => &self.password.hooks,
            "profile" => &self.profile.hooks,
            _ => &self.hooks,
        };
        if own.is_empty() {
            &self.hooks
        } else {
            own
        }
    }

    /// Whether `hook` runs after `method`.
    pub fn runs(&self, method: &str, hook: &str) -> bool {
        self.hooks_for(method).iter().any(|h| h.hook == hook)
    }

    /// `not supported yet` warnings for hooks of this `after` block (at `path`) that Quartet
    /// does not run, given the ones it does.
    fn unsupported_hooks(&self, path: &str, supported: &[&str]) -> Vec<String> {
        let lists = [
            ("hooks", &self.hooks),
            ("password.hooks", &self.password.hooks),
            ("profile.hooks", &self.profile.hooks),
        ];
        let mut out = Vec::new();
        for (list, hooks) in lists {
            for (i, h) in hooks.iter().enumerate() {
                if !supported.contains(&h.hook.as_str()) {
                    out.push(format!(
                        "not supported yet: identity.{path}.{list}.{i} (hook {:?} is not run)",
                        h.hook
                    ));
                }
            }
        }
        out
    }
}

impl IdentityConfig {
    /// Warnings for configured self-service hooks Quartet does not run: registration runs
    /// `session`, login and settings run `revoke_active_sessions`.
    pub fn unsupported_hooks(&self) -> Vec<String> {
        let flows = &self.selfservice.flows;
        let mut out = flows
            .registration
            .after
            .unsupported_hooks("selfservice.flows.registration.after", &["session"]);
        out.extend(
            flows
                .login
                .after
                .unsupported_hooks("selfservice.flows.login.after", &["revoke_active_sessions"]),
        );
        out.extend(flows.settings.after.unsupported_hooks(
            "selfservice.flows.settings.after",
            &["revoke_active_sessions"],
        ));
        out
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AfterMethod {
    pub default_browser_return_url: Option<String>,
    pub hooks: Vec<HookConfig>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HookConfig {
    pub hook: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LoginFlowConfig {
    pub ui_url: String,
    pub lifespan: GoDuration,
    pub after: AfterConfig,
}

impl Default for LoginFlowConfig {
    fn default() -> Self {
        Self {
            ui_url: "https://www.ory.sh/kratos/docs/fallback/login".into(),
            lifespan: GoDuration::hours(1),
            after: AfterConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RegistrationFlowConfig {
    pub enabled: bool,
    pub ui_url: String,
    pub lifespan: GoDuration,
    pub after: AfterConfig,
}

impl Default for RegistrationFlowConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ui_url: "https://www.ory.sh/kratos/docs/fallback/registration".into(),
            lifespan: GoDuration::hours(1),
            after: AfterConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SettingsFlowConfig {
    pub ui_url: String,
    pub lifespan: GoDuration,
    pub privileged_session_max_age: GoDuration,
    pub after: AfterConfig,
}

impl Default for SettingsFlowConfig {
    fn default() -> Self {
        Self {
            ui_url: "https://www.ory.sh/kratos/docs/fallback/settings".into(),
            lifespan: GoDuration::hours(1),
            privileged_session_max_age: GoDuration::hours(1),
            after: AfterConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LogoutFlowConfig {
    pub after: AfterMethod,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ErrorFlowConfig {
    pub ui_url: String,
}

impl Default for ErrorFlowConfig {
    fn default() -> Self {
        Self {
            ui_url: "https://www.ory.sh/kratos/docs/fallback/error".into(),
        }
    }
}

/// `session.*`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SessionConfig {
    pub lifespan: GoDuration,
    pub earliest_possible_extend: Option<GoDuration>,
    pub cookie: SessionCookie,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            lifespan: GoDuration::hours(24),
            earliest_possible_extend: None,
            cookie: SessionCookie::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SessionCookie {
    pub name: String,
    pub persistent: bool,
    pub domain: Option<String>,
    pub path: Option<String>,
    pub same_site: Option<String>,
}

impl Default for SessionCookie {
    fn default() -> Self {
        Self {
            name: "ory_kratos_session".into(),
            persistent: true,
            domain: None,
            path: None,
            same_site: None,
        }
    }
}

/// `cookies.*`: defaults for the CSRF and session cookies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CookiesConfig {
    pub domain: Option<String>,
    pub path: Option<String>,
    pub same_site: Option<String>,
}

/// `hashers.*`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Hashers {
    pub algorithm: Option<String>,
    pub bcrypt: BcryptConfig,
    pub argon2: Argon2Config,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct BcryptConfig {
    pub cost: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Argon2Config {
    /// A byte size such as `128MB`.
    pub memory: Option<String>,
    pub iterations: Option<u32>,
    pub parallelism: Option<u32>,
    pub salt_length: Option<u32>,
    pub key_length: Option<u32>,
}

/// `quartet.*`: Quartet-only keys of the identity role.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuartetExtensions {
    pub brute_force: BruteForceConfig,
    pub session_cache: SessionCacheConfig,
}

/// `quartet.session_cache`: whoami answers kept in memory for at most `ttl` (`0s`, the default,
/// turns the cache off). A session revoked through another instance sharing the database is
/// still accepted here for up to `ttl`; revocations through this instance take effect at once.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionCacheConfig {
    pub ttl: GoDuration,
    pub max_entries: usize,
}

impl Default for SessionCacheConfig {
    fn default() -> Self {
        Self {
            ttl: GoDuration(0),
            max_entries: 100_000,
        }
    }
}

/// `quartet.brute_force`: failed-login throttling per identifier and per client IP. After
/// `free_failures` failures within `window`, each further attempt must wait
/// `base_delay * 2^(failures - free_failures)`, capped at `max_delay`; the counters reset after
/// a successful login or once `window` has passed without failures — never a permanent lockout.
///
/// On unless `enabled: false` is configured — except under `--dev`, which turns an `enabled` the
/// config does not give off (`Config::apply_dev_defaults`), so that test suites trying wrong
/// passwords are not throttled; an explicit `enabled` wins either way.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "BruteForceKeys")]
pub struct BruteForceConfig {
    pub enabled: bool,
    /// Whether the config gives `enabled` (file or env); `--dev` changes only an ungiven one.
    pub enabled_given: bool,
    pub free_failures_per_identifier: u32,
    pub free_failures_per_ip: u32,
    pub base_delay: GoDuration,
    pub max_delay: GoDuration,
    pub window: GoDuration,
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        BruteForceKeys::default().into()
    }
}

/// `quartet.brute_force` as written in the config: `enabled` may be left out.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct BruteForceKeys {
    enabled: Option<bool>,
    free_failures_per_identifier: u32,
    free_failures_per_ip: u32,
    base_delay: GoDuration,
    max_delay: GoDuration,
    window: GoDuration,
}

impl Default for BruteForceKeys {
    fn default() -> Self {
        Self {
            enabled: None,
            free_failures_per_identifier: 5,
            free_failures_per_ip: 50,
            base_delay: GoDuration(1_000_000_000),
            max_delay: GoDuration(15 * 60_000_000_000),
            window: GoDuration::hours(1),
        }
    }
}

impl From<BruteForceKeys> for BruteForceConfig {
    fn from(keys: BruteForceKeys) -> Self {
        Self {
            enabled: keys.enabled.unwrap_or(true),
            enabled_given: keys.enabled.is_some(),
            free_failures_per_identifier: keys.free_failures_per_identifier,
            free_failures_per_ip: keys.free_failures_per_ip,
            base_delay: keys.base_delay,
            max_delay: keys.max_delay,
            window: keys.window,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(GoDuration::parse("24h").unwrap(), GoDuration::hours(24));
        assert_eq!(GoDuration::parse("1h30m").unwrap().0, 5_400_000_000_000);
        assert_eq!(GoDuration::parse("500ms").unwrap().0, 500_000_000);
        assert!(GoDuration::parse("5d").is_err());
        assert!(GoDuration::parse("h").is_err());
    }
}
