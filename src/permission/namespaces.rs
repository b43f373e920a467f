//! The configured namespaces: Keto's three config shapes (legacy list, legacy file/directory
//! URI, OPL `location` over `file://` file or directory, `http(s)://` or `base64://`), loaded into one
//! immutable [`NamespaceSet`] that the engine reads, swapped atomically on hot reload. A reload
//! that fails keeps the previous set and logs every error with its position.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine;

use super::error::PermissionError;
use super::opl::{self, NamespaceDef, RelationDef};
use super::tuple::{RelationTuple, Subject};
use crate::config::permission::NamespacesConfig;

/// One consistent set of namespaces.
#[derive(Debug, Default)]
pub struct NamespaceSet {
    defs: HashMap<String, NamespaceDef>,
    /// Names in load order (for `GET /namespaces`).
    names: Vec<String>,
}

/// How a relation name resolves in a namespace (Keto's `ASTRelationFor`).
#[derive(Debug, Clone, Copy)]
pub enum RelationLookup<'a> {
    /// No configuration applies (unknown namespace, legacy namespace, class without
    /// relations, or empty relation): any relation is accepted, no rewrite.
    Unconfigured,
    Found(&'a RelationDef),
    /// The OPL class does not declare it (→ 400 `relation "x" does not exist`).
    Missing,
}

impl NamespaceSet {
    /// Builds a set; the first definition of a name wins (as Keto's lookup).
    pub fn new(defs: impl IntoIterator<Item = NamespaceDef>) -> Self {
        let mut set = NamespaceSet::default();
        for def in defs {
            if !set.defs.contains_key(&def.name) {
                set.names.push(def.name.clone());
                set.defs.insert(def.name.clone(), def);
            }
        }
        set
    }

    /// From the IR of parsed OPL files.
    pub fn from_schemas(schemas: impl IntoIterator<Item = opl::Schema>) -> Self {
        Self::new(schemas.into_iter().flat_map(|s| s.namespaces))
    }

    /// Legacy namespaces: names only.
    pub fn from_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::new(names.into_iter().map(|n| NamespaceDef {
            name: n.into(),
            relations: Vec::new(),
        }))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.defs.contains_key(name)
    }

    pub fn get(&self, name: &str) -> Option<&NamespaceDef> {
        self.defs.get(name)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Keto's mapper, as every write checks a tuple: its namespace and a subject set's
    /// namespace must be configured (→ 404 `Unknown namespace with name "x".`).
    pub fn ensure_tuple(&self, tuple: &RelationTuple) -> Result<(), PermissionError> {
        self.ensure(&tuple.namespace)?;
        if let Subject::Set(set) = &tuple.subject {
            self.ensure(&set.namespace)?;
        }
        Ok(())
    }

    /// The namespace `name` is configured (→ 404 `Unknown namespace …` otherwise).
    pub fn ensure(&self, name: &str) -> Result<(), PermissionError> {
        if self.contains(name) {
            Ok(())
        } else {
            Err(PermissionError::UnknownNamespace(name.to_string()))
        }
    }

    pub fn relation(&self, namespace: &str, relation: &str) -> RelationLookup<'_> {
        if relation.is_empty() {
            return RelationLookup::Unconfigured;
        }
        let Some(ns) = self.defs.get(namespace) else {
            return RelationLookup::Unconfigured;
        };
        if ns.accepts_any_relation() {
            return RelationLookup::Unconfigured;
        }
        match ns.relation(relation) {
            Some(r) => RelationLookup::Found(r),
            None => RelationLookup::Missing,
        }
    }
}

/// Shared, hot-swappable handle on the current [`NamespaceSet`].
#[derive(Clone, Debug, Default)]
pub struct Namespaces {
    current: Arc<RwLock<Arc<NamespaceSet>>>,
    strict: bool,
    source: Option<Arc<Source>>,
}

impl Namespaces {
    pub fn fixed(set: NamespaceSet, strict: bool) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(set))),
            strict,
            source: None,
        }
    }

    /// Reloads from the configured source now (the watcher does this on change). On error
    /// the previous set stays in force and every error is returned (and logged).
    pub fn reload(&self) -> Result<usize, Vec<String>> {
        let Some(source) = &self.source else {
            return Ok(self.current().names().len());
        };
        match source.load() {
            Ok(set) => {
                let n = set.names().len();
                self.replace(set);
                Ok(n)
            }
            Err(errors) => {
                log_errors(&errors);
                Err(errors)
            }
        }
    }

    /// The set in force now (cheap: one `Arc` clone).
    pub fn current(&self) -> Arc<NamespaceSet> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// `namespaces.experimental_strict_mode`.
    pub fn strict(&self) -> bool {
        self.strict
    }

    fn replace(&self, set: NamespaceSet) {
        let set = Arc::new(set);
        match self.current.write() {
            Ok(mut g) => *g = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
    }

    /// Like [`Namespaces::from_config`], and for an OPL `location` over `http(s)://`: fetched
    /// once before this returns (a failure is logged and leaves the set empty, as any first
    /// load), then refetched every [`HTTP_REFRESH`] by a task that lives as long as a handle;
    /// a refetch that fails (network, status, OPL errors) keeps the last good set.
    pub async fn load(config: &NamespacesConfig) -> Self {
        let NamespacesConfig::Opl(opl) = config else {
            return Self::from_config(config);
        };
        let Ok(source @ Source::Http { .. }) = Source::parse(&opl.location, Format::Opl) else {
            return Self::from_config(config);
        };
        let strict = opl.experimental_strict_mode;
        let mut handle = Self::fixed(NamespaceSet::default(), strict);
        handle.source = Some(Arc::new(source.clone()));
        let _ = handle.reload_async().await;
        let weak = Arc::downgrade(&handle.current);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HTTP_REFRESH);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(current) = weak.upgrade() else {
                    return;
                };
                let handle = Namespaces {
                    current,
                    strict,
                    source: Some(Arc::new(source.clone())),
                };
                let _ = handle.reload_async().await;
            }
        });
        handle
    }

    /// [`Namespaces::reload`], fetching `http(s)://` sources over the network.
    pub async fn reload_async(&self) -> Result<usize, Vec<String>> {
        let Some(Source::Http { url }) = self.source.as_deref() else {
            return self.reload();
        };
        match fetch(url)
            .await
            .and_then(|text| parse_opl_files(&[(url.clone(), text)]))
        {
            Ok(set) => {
                let n = set.names().len();
                self.replace(set);
                tracing::info!(namespaces = n, url, "permission: namespaces fetched");
                Ok(n)
            }
            Err(errors) => {
                log_errors(&errors);
                Err(errors)
            }
        }
    }

    /// Loads the configured namespaces; for `file://` sources, starts a watcher task that
    /// reloads on change (polling modification times every second) until every handle is
    /// dropped. Errors are logged; the set is empty when the first load fails.
    pub fn from_config(config: &NamespacesConfig) -> Self {
        let (source, strict) = match config {
            NamespacesConfig::Legacy(list) => {
                return Self::fixed(
                    NamespaceSet::from_names(list.iter().map(|n| n.name.clone())),
                    false,
                )
            }
            NamespacesConfig::LegacyUri(uri) => (Source::parse(uri, Format::Legacy), false),
            NamespacesConfig::Opl(opl) => (
                Source::parse(&opl.location, Format::Opl),
                opl.experimental_strict_mode,
            ),
        };
        let source = match source {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "permission: cannot load namespaces");
                return Self::fixed(NamespaceSet::default(), strict);
            }
        };
        let mut handle = Self::fixed(NamespaceSet::default(), strict);
        handle.source = Some(Arc::new(source.clone()));
        let _ = handle.reload();
        if let Source::Files { .. } = &source {
            if tokio::runtime::Handle::try_current().is_ok() {
                let weak = Arc::downgrade(&handle.current);
                tokio::spawn(watch(source, weak, strict));
            }
        }
        handle
    }
}

/// How often an `http(s)://` namespaces location is fetched again (Keto caches the fetched
/// text for 30 minutes and never refetches while running).
pub const HTTP_REFRESH: Duration = Duration::from_secs(30 * 60);

async fn fetch(url: &str) -> Result<String, Vec<String>> {
    let fail = |e: String| vec![format!("namespaces location {url}: {e}")];
    let client = crate::crypto::tls::http_client(Duration::from_secs(10)).map_err(fail)?;
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(fail(format!("HTTP status {status}")));
    }
    response.text().await.map_err(|e| fail(e.to_string()))
}

fn log_errors(errors: &[String]) {
    for e in errors {
        tracing::error!("permission: namespaces not (re)loaded, previous set kept: {e}");
    }
}

async fn watch(source: Source, weak: std::sync::Weak<RwLock<Arc<NamespaceSet>>>, strict: bool) {
    let mut seen = source.fingerprint();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(current) = weak.upgrade() else {
            return;
        };
        let now = source.fingerprint();
        if now == seen {
            continue;
        }
        seen = now;
        let handle = Namespaces {
            current,
            strict,
            source: Some(Arc::new(source.clone())),
        };
        if let Ok(n) = handle.reload() {
            tracing::info!(namespaces = n, "permission: namespaces reloaded");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Legacy,
    Opl,
}

#[derive(Debug, Clone)]
enum Source {
    Files {
        path: PathBuf,
        format: Format,
    },
    Inline {
        text: String,
    },
    /// OPL only (Keto's legacy URI shape reads files only).
    Http {
        url: String,
    },
}

impl Source {
    fn parse(uri: &str, format: Format) -> Result<Source, String> {
        if let Some(rest) = uri.strip_prefix("file://") {
            return Ok(Source::Files {
                path: PathBuf::from(rest),
                format,
            });
        }
        if let Some(rest) = uri.strip_prefix("base64://") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(rest.trim()))
                .map_err(|e| format!("namespaces location {uri:?}: invalid base64: {e}"))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("namespaces location {uri:?}: not UTF-8 text"))?;
            return Ok(Source::Inline { text });
        }
        if uri.starts_with("http://") || uri.starts_with("https://") {
            if format == Format::Legacy {
                return Err(format!(
                    "namespaces location {uri:?}: a legacy namespaces URI must be a file or directory; use `namespaces: {{location: {uri}}}` for OPL over http(s)"
                ));
            }
            return Ok(Source::Http {
                url: uri.to_string(),
            });
        }
        if !uri.contains("://") {
            return Ok(Source::Files {
                path: PathBuf::from(uri),
                format,
            });
        }
        Err(format!(
            "namespaces location {uri:?}: unexpected url scheme"
        ))
    }

    fn files(&self) -> Vec<PathBuf> {
        match self {
            Source::Inline { .. } | Source::Http { .. } => Vec::new(),
            Source::Files { path, .. } => {
                if path.is_dir() {
                    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                        .map(|rd| {
                            rd.filter_map(|e| e.ok().map(|e| e.path()))
                                .filter(|p| p.is_file())
                                .collect()
                        })
                        .unwrap_or_default();
                    files.sort();
                    files
                } else {
                    vec![path.clone()]
                }
            }
        }
    }

    fn fingerprint(&self) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
        self.files()
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p).ok();
                let modified = meta.as_ref().and_then(|m| m.modified().ok());
                let len = meta.map(|m| m.len()).unwrap_or(0);
                (p, modified, len)
            })
            .collect()
    }

    fn load(&self) -> Result<NamespaceSet, Vec<String>> {
        match self {
            Source::Inline { text } => parse_opl_files(&[("base64://".into(), text.clone())]),
            Source::Http { url } => Err(vec![format!(
                "namespaces location {url}: fetched asynchronously (Namespaces::reload_async)"
            )]),
            Source::Files { path, format } => {
                if !path.exists() {
                    if *format == Format::Legacy {
                        // Keto's default location; absent means "no namespaces".
                        tracing::warn!(path = %path.display(), "permission: namespace location does not exist; no namespaces configured");
                        return Ok(NamespaceSet::default());
                    }
                    return Err(vec![format!(
                        "namespaces location {} does not exist",
                        path.display()
                    )]);
                }
                let mut texts = Vec::new();
                let mut errors = Vec::new();
                for file in self.files() {
                    match std::fs::read_to_string(&file) {
                        Ok(t) => texts.push((file.display().to_string(), t)),
                        Err(e) => errors.push(format!("{}: {e}", file.display())),
                    }
                }
                if !errors.is_empty() {
                    return Err(errors);
                }
                match format {
                    Format::Opl => parse_opl_files(&texts),
                    Format::Legacy => parse_legacy_files(&texts),
                }
            }
        }
    }
}

/// Parses and type-checks each file on its own (as Keto); all must be valid.
pub fn parse_opl_files(files: &[(String, String)]) -> Result<NamespaceSet, Vec<String>> {
    let mut schemas = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in files {
        let parsed = opl::parse(text);
        for d in &parsed.errors {
            errors.push(opl::render_diagnostic(name, text, d));
        }
        if let Some(schema) = parsed.schema() {
            schemas.push(schema);
        }
    }
    if errors.is_empty() {
        Ok(NamespaceSet::from_schemas(schemas))
    } else {
        Err(errors)
    }
}

fn parse_legacy_files(files: &[(String, String)]) -> Result<NamespaceSet, Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Legacy {
        name: String,
    }
    let mut names = Vec::new();
    let mut errors = Vec::new();
    for (name, text) in files {
        let ext = Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("");
        let parsed: Result<Legacy, String> = match ext {
            "json" => serde_json::from_str(text).map_err(|e| e.to_string()),
            "yaml" | "yml" => crate::config::yaml::from_str(text),
            other => Err(format!(
                "unsupported namespace file extension {other:?} (use .yaml, .yml or .json)"
            )),
        };
        match parsed {
            Ok(l) => names.push(l.name),
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(NamespaceSet::from_names(names))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn opl_lookup_follows_keto() {
        let set = parse_opl_files(&[(
            "t.ts".into(),
            "class User implements Namespace {}\nclass Doc implements Namespace { related: { owners: User[] } }"
                .into(),
        )])
        .unwrap();
        assert!(matches!(
            set.relation("Doc", "owners"),
            RelationLookup::Found(_)
        ));
        assert!(matches!(
            set.relation("Doc", "nope"),
            RelationLookup::Missing
        ));
        assert!(matches!(
            set.relation("User", "anything"),
            RelationLookup::Unconfigured
        ));
        assert!(matches!(
            set.relation("Unknown", "x"),
            RelationLookup::Unconfigured
        ));
        assert!(matches!(
            set.relation("Doc", ""),
            RelationLookup::Unconfigured
        ));
    }

    #[test]
    fn bad_opl_is_an_error_with_position() {
        let errs =
            parse_opl_files(&[("bad.ts".into(), "class X implements Namespace { $ }".into())])
                .unwrap_err();
        assert!(errs[0].contains("bad.ts:1:"), "{errs:?}");
    }

    #[test]
    fn failed_reload_keeps_the_previous_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ns.ts");
        std::fs::write(&file, "class A implements Namespace {}").unwrap();
        let config = NamespacesConfig::Opl(crate::config::permission::OplNamespaces {
            location: format!("file://{}", file.display()),
            experimental_strict_mode: false,
        });
        let ns = Namespaces::from_config(&config);
        assert_eq!(ns.current().names(), ["A".to_string()]);
        std::fs::write(
            &file,
            "class A implements Namespace {}\nclass B implements Namespace { $ }",
        )
        .unwrap();
        let errors = ns.reload().unwrap_err();
        assert!(errors[0].contains("ns.ts:2:"), "{errors:?}");
        assert_eq!(ns.current().names(), ["A".to_string()]);
        std::fs::write(&file, "class B implements Namespace {}").unwrap();
        assert_eq!(ns.reload().unwrap(), 1);
        assert_eq!(ns.current().names(), ["B".to_string()]);
    }

    #[test]
    fn base64_and_unknown_schemes() {
        let b64 =
            base64::engine::general_purpose::STANDARD.encode("class A implements Namespace {}");
        let src = Source::parse(&format!("base64://{b64}"), Format::Opl).unwrap();
        assert_eq!(src.load().unwrap().names(), ["A".to_string()]);
        assert!(Source::parse("ws://x", Format::Opl).is_err());
    }

    /// A one-route HTTP server (a thread) answering every request with the current
    /// (status, body); counts the requests.
    fn serve(
        reply: Arc<std::sync::Mutex<(u16, String)>>,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/namespaces.keto.ts",
            listener.local_addr().unwrap()
        );
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                let mut buf = vec![0; 4096];
                let _ = conn.read(&mut buf);
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (status, body) = reply.lock().unwrap().clone();
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes());
            }
        });
        (url, hits)
    }

    #[tokio::test]
    async fn http_location_is_fetched_at_start_and_a_failed_refetch_keeps_the_set() {
        let reply = Arc::new(std::sync::Mutex::new((
            200,
            "class A implements Namespace {}".to_string(),
        )));
        let (url, hits) = serve(reply.clone());
        let config = NamespacesConfig::Opl(crate::config::permission::OplNamespaces {
            location: url.clone(),
            experimental_strict_mode: false,
        });
        let ns = Namespaces::load(&config).await;
        assert_eq!(ns.current().names(), ["A".to_string()]);
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);

        *reply.lock().unwrap() = (500, "oops".into());
        let errors = ns.reload_async().await.unwrap_err();
        assert!(errors[0].contains("HTTP status 500"), "{errors:?}");
        assert_eq!(ns.current().names(), ["A".to_string()]);

        *reply.lock().unwrap() = (200, "class B implements Namespace { $ }".into());
        let errors = ns.reload_async().await.unwrap_err();
        assert!(errors[0].contains(&format!("{url}:1:")), "{errors:?}");
        assert_eq!(ns.current().names(), ["A".to_string()]);

        *reply.lock().unwrap() = (200, "class B implements Namespace {}".into());
        assert_eq!(ns.reload_async().await.unwrap(), 1);
        assert_eq!(ns.current().names(), ["B".to_string()]);
    }

    #[tokio::test]
    async fn unreachable_http_location_starts_empty_and_legacy_uris_refuse_http() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/ns.ts", listener.local_addr().unwrap());
        drop(listener);
        let config = NamespacesConfig::Opl(crate::config::permission::OplNamespaces {
            location: url,
            experimental_strict_mode: false,
        });
        let ns = Namespaces::load(&config).await;
        assert!(ns.current().names().is_empty());
        assert!(ns.reload_async().await.is_err());
        let err = Source::parse("https://example.com/ns", Format::Legacy).unwrap_err();
        assert!(err.contains("location:"), "{err}");
    }
}
