//! The config loading pipeline: read the file, inline `file://` role sections (Ory config
//! files), resolve `${ENV}` placeholders, apply env overrides, validate against Ory's schemas,
//! then deserialize into the typed tree, collecting warnings and errors with their key paths.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::schema::{RoleSchema, SchemaProblem};
use super::{Config, Dsn, HttpConfig, JanitorConfig, LogConfig, Role};

/// Why a configuration cannot be used. Each variant names what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("cannot parse {path}: {reason}")]
    Syntax { path: String, reason: String },
    #[error("unknown key {path}")]
    UnknownKey { path: String },
    #[error("invalid value at {path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("invalid DSN {dsn}: {reason}")]
    Dsn { dsn: String, reason: String },
    #[error("no dsn set: use `dsn: memory`, `sqlite://PATH` or `postgres://...` (or the env DSN), or run with --dev")]
    MissingDsn,
    #[error("internal: embedded Ory schema for {role} failed to load: {reason}")]
    Schema { role: Role, reason: String },
}

/// A loaded configuration and the warnings to print once at start.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// Builds a [`Config`] from a file, the environment and flags.
#[derive(Debug, Clone, Default)]
pub struct Loader {
    file: Option<PathBuf>,
    text: Option<String>,
    env: BTreeMap<String, String>,
    dev: bool,
}

impl Loader {
    pub fn new() -> Self {
        Self::default()
    }

    /// The config file (`-c FILE`), YAML or JSON.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// The config document itself instead of a file (tests, fuzzing); `file://` references
    /// in it resolve against the current directory.
    pub fn text(mut self, document: impl Into<String>) -> Self {
        self.text = Some(document.into());
        self
    }

    /// The environment to read overrides and `${ENV}` placeholders from (the process
    /// environment in `main`; an explicit map in tests).
    pub fn env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env = vars.into_iter().collect();
        self
    }

    /// `--dev`.
    pub fn dev(mut self, dev: bool) -> Self {
        self.dev = dev;
        self
    }

    /// Runs the whole pipeline; on failure returns every error found, not just the first.
    pub fn load(&self) -> Result<Loaded, Vec<ConfigError>> {
        let mut run = Run {
            loader: self,
            warnings: Vec::new(),
            errors: Vec::new(),
        };
        let config = run.load();
        if run.errors.is_empty() {
            if let Some(config) = config {
                return Ok(Loaded {
                    config,
                    warnings: run.warnings,
                });
            }
        }
        let mut errors = run.errors;
        errors.dedup();
        Err(errors)
    }
}

struct Run<'a> {
    loader: &'a Loader,
    warnings: Vec<String>,
    errors: Vec<ConfigError>,
}

const TOP_LEVEL_KEYS: [&str; 8] = [
    "dsn",
    "log",
    "http",
    "janitor",
    "identity",
    "oauth2",
    "permission",
    "proxy",
];

impl Run<'_> {
    fn load(&mut self) -> Option<Config> {
        let (mut root, base_dir) = match &self.loader.file {
            Some(path) => {
                let value = self.read_document(path)?;
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (value, dir)
            }
            None => match &self.loader.text {
                Some(text) => (
                    self.parse_document("(config text)", text)?,
                    PathBuf::from("."),
                ),
                None => (Value::Object(Map::new()), PathBuf::from(".")),
            },
        };
        let Some(top) = root.as_object_mut() else {
            self.errors.push(ConfigError::Invalid {
                path: "(root)".into(),
                reason: "the config file must hold a mapping of keys".into(),
            });
            return None;
        };
        for key in top.keys() {
            if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
                self.errors
                    .push(ConfigError::UnknownKey { path: key.clone() });
            }
        }
        let dsn = self.dsn(top.get("dsn"));
        let log = self.top_level::<LogConfig>(top.get("log"), "log");
        let http = self.top_level::<HttpConfig>(top.get("http"), "http");
        if let Some(http) = &http {
            if let Err((i, reason)) =
                crate::http::client_ip::TrustedProxies::parse(&http.trusted_proxies)
            {
                self.errors.push(ConfigError::Invalid {
                    path: format!("http.trusted_proxies[{i}]"),
                    reason,
                });
            }
        }
        let janitor = self.top_level::<JanitorConfig>(top.get("janitor"), "janitor");
        if let Some(j) = &janitor {
            if j.batch_size == 0 || j.limit == 0 {
                self.errors.push(ConfigError::Invalid {
                    path: "janitor".into(),
                    reason: "batch_size and limit must both be greater than 0".into(),
                });
            }
        }
        let mut sections = BTreeMap::new();
        for role in Role::ALL {
            let section = self.role_section(role, top.get(role.name()), &base_dir);
            sections.insert(role, section);
        }
        let identity = self.role_config::<crate::config::IdentityConfig>(
            Role::Identity,
            sections.remove(&Role::Identity).flatten(),
        );
        if let Some(identity) = &identity {
            self.warnings.extend(identity.unsupported_hooks());
        }
        let oauth2 = self.role_config(Role::Oauth2, sections.remove(&Role::Oauth2).flatten());
        let permission = self.role_config(
            Role::Permission,
            sections.remove(&Role::Permission).flatten(),
        );
        let proxy = self.role_config(Role::Proxy, sections.remove(&Role::Proxy).flatten());
        let mut log = log?;
        self.log_env(&mut log);
        Some(Config {
            dsn: dsn?,
            log,
            http: http?,
            janitor: janitor?,
            dev: self.loader.dev,
            identity: identity?,
            oauth2: oauth2?,
            permission: permission?,
            proxy: proxy?,
        })
    }

    /// Reads and parses one YAML or JSON document, resolving `${ENV}` placeholders.
    fn read_document(&mut self, path: &Path) -> Option<Value> {
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.errors.push(ConfigError::Unreadable {
                    path: shown,
                    reason: e.to_string(),
                });
                return None;
            }
        };
        self.parse_document(&shown, &text)
    }

    fn parse_document(&mut self, shown: &str, text: &str) -> Option<Value> {
        let parsed: Result<Value, String> = super::yaml::from_str(text);
        match parsed {
            Ok(Value::Null) => Some(Value::Object(Map::new())),
            Ok(mut value) => {
                self.expand_placeholders(&mut value);
                Some(value)
            }
            Err(reason) => {
                self.errors.push(ConfigError::Syntax {
                    path: shown.to_string(),
                    reason,
                });
                None
            }
        }
    }

    /// Replaces `${NAME}` in every string with the env value (empty with a warning when unset).
    fn expand_placeholders(&mut self, value: &mut Value) {
        match value {
            Value::String(s) if s.contains("${") => {
                let mut out = String::new();
                let mut rest = s.as_str();
                while let Some(start) = rest.find("${") {
                    let Some(len) = rest[start + 2..].find('}') else {
                        break;
                    };
                    let name = &rest[start + 2..start + 2 + len];
                    out.push_str(&rest[..start]);
                    match self.loader.env.get(name) {
                        Some(v) => out.push_str(v),
                        None => self.warnings.push(format!(
                            "env {name} is not set; ${{{name}}} became an empty string"
                        )),
                    }
                    rest = &rest[start + 3 + len..];
                }
                out.push_str(rest);
                *s = out;
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.expand_placeholders(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.expand_placeholders(v)),
            _ => {}
        }
    }

    fn dsn(&mut self, from_file: Option<&Value>) -> Option<Dsn> {
        let text = match (self.loader.env.get("DSN"), from_file) {
            (Some(env), _) if !env.is_empty() => env.clone(),
            (_, Some(Value::String(s))) => s.clone(),
            (_, Some(other)) => {
                self.errors.push(ConfigError::Invalid {
                    path: "dsn".into(),
                    reason: format!("expected a string, got {other}"),
                });
                return None;
            }
            (_, None) if self.loader.dev => "memory".into(),
            (_, None) => {
                self.errors.push(ConfigError::MissingDsn);
                return None;
            }
        };
        match Dsn::parse(&text) {
            Ok(dsn) => Some(dsn),
            Err(reason) => {
                let shown = Dsn::parse(&text)
                    .map(|d| d.redacted())
                    .unwrap_or_else(|_| redact_url(&text));
                self.errors.push(ConfigError::Dsn { dsn: shown, reason });
                None
            }
        }
    }

    fn log_env(&mut self, log: &mut LogConfig) {
        for (var, target) in [("LOG_LEVEL", "level"), ("LOG_FORMAT", "format")] {
            if let Some(v) = self.loader.env.get(var) {
                let parsed = match target {
                    "level" => serde_json::from_value(Value::String(v.to_lowercase()))
                        .map(|l| log.level = l),
                    _ => serde_json::from_value(Value::String(v.to_lowercase()))
                        .map(|f| log.format = f),
                };
                if let Err(e) = parsed {
                    self.errors.push(ConfigError::Invalid {
                        path: format!("env {var}"),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    fn top_level<T: DeserializeOwned + Default>(
        &mut self,
        value: Option<&Value>,
        key: &str,
    ) -> Option<T> {
        let Some(value) = value else {
            return Some(T::default());
        };
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(serde_error(key, &e));
                None
            }
        }
    }

    /// The raw section of one role: inline, or read from a `file://` Ory config file; then the
    /// role-local `dsn` and `log` are dropped with a warning and env overrides applied.
    fn role_section(&mut self, role: Role, raw: Option<&Value>, base_dir: &Path) -> Option<Value> {
        let mut section = match raw {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(Value::String(reference)) => {
                let path =
                    resolve_file_url(reference, base_dir).map_err(|reason| ConfigError::Invalid {
                        path: role.name().into(),
                        reason,
                    });
                match path {
                    Ok(p) => self.read_document(&p)?,
                    Err(e) => {
                        self.errors.push(e);
                        return None;
                    }
                }
            }
            Some(v @ Value::Object(_)) => v.clone(),
            Some(other) => {
                self.errors.push(ConfigError::Invalid {
                    path: role.name().into(),
                    reason: format!(
                        "expected a mapping or a file:// path to an Ory config file, got {other}"
                    ),
                });
                return None;
            }
        };
        let Some(map) = section.as_object_mut() else {
            self.errors.push(ConfigError::Invalid {
                path: role.name().into(),
                reason: "the Ory config file must hold a mapping of keys".into(),
            });
            return None;
        };
        if map.remove("dsn").is_some() {
            self.warnings.push(format!(
                "{}.dsn is ignored: all roles share the top-level dsn (env DSN)",
                role.name()
            ));
        }
        if map.remove("log").is_some() {
            self.warnings.push(format!(
                "{}.log is ignored: logging is configured once by the top-level log",
                role.name()
            ));
        }
        Some(section)
    }

    fn role_config<T: DeserializeOwned>(
        &mut self,
        role: Role,
        section: Option<Value>,
    ) -> Option<T> {
        let mut section = section?;
        let schema = match RoleSchema::load(role) {
            Ok(s) => s,
            Err(reason) => {
                self.errors.push(ConfigError::Schema { role, reason });
                return None;
            }
        };
        self.apply_env(role, &schema, &mut section);
        let before = self.errors.len();
        match schema.validate(&section) {
            Ok(problems) => {
                for problem in problems {
                    if let SchemaProblem::UnknownKey { path } = &problem {
                        if is_extension(role, path) {
                            continue;
                        }
                    }
                    self.errors.push(match problem {
                        SchemaProblem::UnknownKey { path } => ConfigError::UnknownKey {
                            path: qualify(role, &path),
                        },
                        SchemaProblem::Invalid { path, message } => ConfigError::Invalid {
                            path: qualify(role, &path),
                            reason: message,
                        },
                    });
                }
            }
            Err(reason) => self.errors.push(ConfigError::Schema { role, reason }),
        }
        let mut ignored = Vec::new();
        let result: Result<T, _> = {
            let mut record = |path: serde_ignored::Path| ignored.push(path_segments(&path));
            let de = serde_ignored::Deserializer::new(&section, &mut record);
            serde_path_to_error::deserialize(de)
        };
        for path in ignored {
            let dotted = qualify(role, &path.join("."));
            if schema.has_path(&path) {
                self.warnings.push(format!("not supported yet: {dotted}"));
            } else if !self
                .errors
                .iter()
                .any(|e| matches!(e, ConfigError::UnknownKey { path } if *path == dotted))
            {
                self.errors.push(ConfigError::UnknownKey { path: dotted });
            }
        }
        match result {
            Ok(config) if self.errors.len() == before => Some(config),
            Ok(_) => None,
            Err(e) => {
                let error = serde_error(role.name(), &e);
                let duplicate = self.errors[before..]
                    .iter()
                    .any(|seen| same_path(seen, &error));
                if !duplicate {
                    self.errors.push(error);
                }
                None
            }
        }
    }

    /// `<ROLE>_<KEY_PATH>` env vars, resolved against Ory's schema.
    fn apply_env(&mut self, role: Role, schema: &RoleSchema, section: &mut Value) {
        let prefix = role.env_prefix();
        for (name, raw) in &self.loader.env {
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            let segments: Vec<String> = rest.split('_').map(String::from).collect();
            let Some((path, types)) = schema.env_path(&segments) else {
                self.warnings.push(format!(
                    "env {name} is ignored: it names no key of {}",
                    role.name()
                ));
                continue;
            };
            let value = env_value(raw, &types);
            if let Some(map) = section.as_object_mut() {
                set_path(map, &path, value);
            }
        }
    }
}

/// Sets `value` at `path` inside `root`, creating intermediate mappings.
pub(super) fn set_path(root: &mut Map<String, Value>, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for key in parents {
        let entry = node
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        node = next;
    }
    node.insert(last.clone(), value);
}

/// Interprets an env value by the types the schema allows at its key.
fn env_value(raw: &str, types: &[String]) -> Value {
    let has = |t: &str| types.iter().any(|x| x == t);
    if has("array") {
        if let Ok(v @ Value::Array(_)) = serde_json::from_str(raw) {
            return v;
        }
        return Value::Array(
            raw.split(',')
                .map(|s| Value::String(s.trim().to_string()))
                .collect(),
        );
    }
    if has("string") && !has("integer") && !has("number") && !has("boolean") {
        return Value::String(raw.to_string());
    }
    super::yaml::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// `file:///abs/path`, `file://relative/path` (relative to the including file) or a plain path.
fn resolve_file_url(reference: &str, base_dir: &Path) -> Result<PathBuf, String> {
    let path = match reference.strip_prefix("file://") {
        Some(p) => p,
        None if reference.contains("://") => {
            return Err(format!(
                "{reference}: only file:// references to Ory config files are supported"
            ));
        }
        None => reference,
    };
    if path.is_empty() {
        return Err("empty file:// reference".into());
    }
    let path = Path::new(path);
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    })
}

fn path_segments(path: &serde_ignored::Path) -> Vec<String> {
    use serde_ignored::Path as P;
    match path {
        P::Root => Vec::new(),
        P::Seq { parent, index } => {
            let mut v = path_segments(parent);
            v.push(index.to_string());
            v
        }
        P::Map { parent, key } => {
            let mut v = path_segments(parent);
            v.push(key.clone());
            v
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            path_segments(parent)
        }
    }
}

/// True when `path` is, or lies under, one of the role's Quartet-only keys.
fn is_extension(role: Role, path: &str) -> bool {
    role.extension_keys()
        .iter()
        .any(|key| path == *key || path.starts_with(&format!("{key}.")))
}

fn qualify(role: Role, path: &str) -> String {
    if path.is_empty() {
        role.name().to_string()
    } else {
        format!("{}.{path}", role.name())
    }
}

fn serde_error(prefix: &str, error: &serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let inner = error.path().to_string();
    let path = if inner == "." || inner.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}.{inner}")
    };
    let reason = error.inner().to_string();
    if let Some(field) = reason
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        let full = if path.ends_with(&format!(".{field}")) {
            path
        } else {
            format!("{path}.{field}")
        };
        return ConfigError::UnknownKey { path: full };
    }
    ConfigError::Invalid { path, reason }
}

fn same_path(a: &ConfigError, b: &ConfigError) -> bool {
    let path = |e: &ConfigError| match e {
        ConfigError::UnknownKey { path } | ConfigError::Invalid { path, .. } => Some(path.clone()),
        _ => None,
    };
    path(a).is_some() && path(a) == path(b)
}

fn redact_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("xxxxx"));
            }
            u.to_string()
        }
        Err(_) => text.split('@').next_back().unwrap_or_default().to_string(),
    }
}

impl fmt::Display for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config ok (dsn {})", self.config.dsn.redacted())
    }
}
