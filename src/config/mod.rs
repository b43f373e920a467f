//! Unified configuration: the top-level `dsn`, `log`, `http` and `janitor` keys plus one section per role
//! holding that Ory service's own config keys (inline or as a `file://` Ory config file).
//!
//! Loading is layered — serde defaults → file → env → flags — then validated twice: against
//! Ory's own JSON schema (wrong types and unknown keys, named by key path) and by deserializing
//! into the typed tree of each role. A key Ory knows but Quartet does not implement yet becomes
//! a `not supported yet: <role>.<path>` warning; it is never silently dropped.

mod dev;
pub mod duration;
pub mod identity;
mod load;
pub mod oauth2;
pub mod permission;
pub mod proxy;
pub mod schema;
mod serve;
mod validate;
pub mod yaml;

use std::fmt;

use serde::Deserialize;

pub use identity::IdentityConfig;
pub use load::{ConfigError, Loaded, Loader};
pub use oauth2::Oauth2Config;
pub use permission::PermissionConfig;
pub use proxy::ProxyConfig;
pub use serve::{CorsConfig, ServeEndpoint};

/// The four roles, named as in the config file and on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Identity,
    Oauth2,
    Permission,
    Proxy,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Identity, Role::Oauth2, Role::Permission, Role::Proxy];

    /// The config section name, also the CLI name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Identity => "identity",
            Role::Oauth2 => "oauth2",
            Role::Permission => "permission",
            Role::Proxy => "proxy",
        }
    }

    /// The Ory service whose behaviour the role reproduces.
    pub fn ory_name(self) -> &'static str {
        match self {
            Role::Identity => "kratos",
            Role::Oauth2 => "hydra",
            Role::Permission => "keto",
            Role::Proxy => "oathkeeper",
        }
    }

    /// Prefix of this role's env overrides, e.g. `IDENTITY_`.
    pub fn env_prefix(self) -> String {
        format!("{}_", self.name().to_uppercase())
    }

    /// Quartet-only keys of the role's section (see each role's `EXTENSION_KEYS`).
    pub fn extension_keys(self) -> &'static [&'static str] {
        match self {
            Role::Identity => identity::EXTENSION_KEYS,
            Role::Oauth2 => oauth2::EXTENSION_KEYS,
            Role::Permission => permission::EXTENSION_KEYS,
            Role::Proxy => proxy::EXTENSION_KEYS,
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A secret value: usable, but never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where the single database lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Dsn {
    /// SQLite in memory, one shared database for the process (`dsn: memory`).
    Memory,
    /// A SQLite file (`sqlite:///var/lib/quartet/db.sqlite`).
    Sqlite(String),
    /// PostgreSQL (`postgres://user:pw@host:5432/db`); CockroachDB speaks the same protocol.
    Postgres(Secret<String>),
}

impl Dsn {
    /// Parses a DSN as Ory writes them; `sqlite://` with an absolute or relative path,
    /// `postgres://` or `postgresql://`, or `memory`.
    pub fn parse(text: &str) -> Result<Dsn, String> {
        let text = text.trim();
        if text == "memory" || text.starts_with("sqlite://:memory:") || text == "sqlite::memory:" {
            return Ok(Dsn::Memory);
        }
        if let Some(rest) = text.strip_prefix("sqlite://") {
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(
                    "a sqlite DSN needs a file path, e.g. sqlite:///var/lib/quartet/db.sqlite"
                        .into(),
                );
            }
            return Ok(Dsn::Sqlite(path.to_string()));
        }
        if text.starts_with("postgres://")
            || text.starts_with("postgresql://")
            || text.starts_with("cockroach://")
        {
            let normalized = text.replacen("cockroach://", "postgres://", 1);
            url::Url::parse(&normalized).map_err(|e| format!("not a valid postgres URL: {e}"))?;
            return Ok(Dsn::Postgres(Secret::new(normalized)));
        }
        Err("expected `memory`, `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`".into())
    }

    /// The DSN with any password replaced, safe for logs and error messages.
    pub fn redacted(&self) -> String {
        match self {
            Dsn::Memory => "memory".into(),
            Dsn::Sqlite(path) => format!("sqlite://{path}"),
            Dsn::Postgres(url) => match url::Url::parse(url.expose()) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("xxxxx"));
                    }
                    u.to_string()
                }
                Err(_) => "postgres://<unparseable>".into(),
            },
        }
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `log: { level, format }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub level: LogLevel,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    #[serde(alias = "warning")]
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `http: { body_limit }` — limits shared by every listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes; larger bodies get 413 in the error envelope.
    pub body_limit: usize,
    /// Seconds given to in-flight requests after a shutdown signal.
    pub shutdown_grace_seconds: u64,
    /// Networks (CIDR, e.g. `10.0.0.0/8`, or single addresses) of reverse proxies whose
    /// `X-Forwarded-For` is believed; from anyone else the peer address counts. None by default.
    pub trusted_proxies: Vec<String>,
    /// Seconds a client has to send a request's headers before the connection is closed
    /// (slowloris).
    pub header_read_timeout_seconds: u64,
    /// Most connections one listener holds open at once; further ones wait in the backlog.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            shutdown_grace_seconds: 10,
            trusted_proxies: Vec::new(),
            header_read_timeout_seconds: 10,
            max_connections: 10_000,
        }
    }
}

/// `janitor: { interval, keep_if_younger, batch_size, limit }` — the background cleanup that
/// `serve` runs: every `interval` it deletes what has expired (self-service flows, sessions,
/// OAuth2 challenges, tokens, codes, ...) and is older than `keep_if_younger`, in batches of
/// `batch_size` rows, reading at most `limit` keys per pass over a table (passes repeat until
/// the table is clean). `interval: 0s` turns it off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JanitorConfig {
    pub interval: duration::GoDuration,
    pub keep_if_younger: duration::GoDuration,
    pub batch_size: usize,
    pub limit: usize,
}

impl Default for JanitorConfig {
    fn default() -> Self {
        Self {
            interval: duration::GoDuration::hours(1),
            keep_if_younger: duration::GoDuration::hours(1),
            batch_size: 100,
            limit: 100_000,
        }
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub dsn: Dsn,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub janitor: JanitorConfig,
    /// `--dev`: relaxed cookies, plain-HTTP issuer, verbose errors.
    pub dev: bool,
    pub identity: IdentityConfig,
    pub oauth2: Oauth2Config,
    pub permission: PermissionConfig,
    pub proxy: ProxyConfig,
}

impl Config {
    /// A configuration for in-process tests and the `Stack` fixture: `--dev` with its defaults
    /// (identity schema, issuer, generated secrets), a fresh in-memory database, and every
    /// listener on `127.0.0.1:0` (an ephemeral port).
    pub fn ephemeral() -> Config {
        let mut config = Config {
            dsn: Dsn::Memory,
            log: LogConfig::default(),
            http: HttpConfig::default(),
            janitor: JanitorConfig::default(),
            dev: true,
            identity: IdentityConfig::default(),
            oauth2: Oauth2Config::default(),
            permission: PermissionConfig::default(),
            proxy: ProxyConfig::default(),
        };
        for endpoint in config.endpoints_mut() {
            endpoint.host = Some("127.0.0.1".into());
            endpoint.port = Some(0);
        }
        config.apply_dev_defaults();
        config
    }

    fn endpoints_mut(&mut self) -> Vec<&mut ServeEndpoint> {
        let Config {
            identity,
            oauth2,
            permission,
            proxy,
            ..
        } = self;
        vec![
            &mut identity.serve.public,
            &mut identity.serve.admin,
            &mut oauth2.serve.public,
            &mut oauth2.serve.admin,
            &mut permission.serve.read,
            &mut permission.serve.write,
            &mut permission.serve.metrics,
            &mut permission.serve.opl,
            &mut proxy.serve.proxy.endpoint,
            &mut proxy.serve.api,
            &mut proxy.serve.prometheus,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsn_parses_every_backend_and_redacts_passwords() {
        assert_eq!(Dsn::parse("memory").unwrap(), Dsn::Memory);
        assert_eq!(
            Dsn::parse("sqlite:///tmp/x.db?_fk=true").unwrap(),
            Dsn::Sqlite("/tmp/x.db".into())
        );
        let pg =
            Dsn::parse("postgres://kratos:secret@postgres:5432/kratos?sslmode=disable").unwrap();
        assert!(!pg.redacted().contains("secret"));
        assert!(!format!("{pg:?}").contains("secret"));
        assert!(Dsn::parse("mysql://x").is_err());
        assert!(Dsn::parse("sqlite://").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2".to_string());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
