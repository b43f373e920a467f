//! The config contract: the seed's Ory files load unchanged, layering and env overrides work,
//! and every kind of bad config is an error naming the key path, file or DSN.

use std::path::{Path, PathBuf};

use quartet::config::{ConfigError, Dsn, Loader, LogFormat, LogLevel};

fn seed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/imprun/quartet.yml")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn errors_of(dir: &Path, text: &str) -> Vec<String> {
    let file = write(dir, "quartet.yml", text);
    Loader::new()
        .file(file)
        .dev(true)
        .load()
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_seed_files_load_unchanged_with_env_placeholders_resolved() {
    let loaded = Loader::new()
        .file(seed())
        .env(env(&[
            ("GOOGLE_CLIENT_ID", "gid"),
            ("GOOGLE_CLIENT_SECRET", "gsecret"),
        ]))
        .load()
        .unwrap();
    let c = &loaded.config;
    assert!(matches!(c.dsn, Dsn::Postgres(_)));
    assert_eq!(
        c.oauth2.urls.self_.issuer.as_deref(),
        Some("http://localhost:4444/")
    );
    assert_eq!(
        c.oauth2.urls.login.as_deref(),
        Some("http://localhost:3000/auth/login")
    );
    assert_eq!(c.permission.serve.read.port, Some(4466));
    assert_eq!(c.permission.serve.write.host.as_deref(), Some("0.0.0.0"));
    assert_eq!(c.proxy.serve.api.port, Some(4456));
    assert_eq!(
        c.identity.serve.public.base_url.as_deref(),
        Some("http://localhost:3000/.ory/")
    );
    assert_eq!(
        c.identity.identity.default_schema_id.as_deref(),
        Some("user")
    );
    // Each role file's own dsn is ignored with one warning naming it.
    for role in ["identity", "oauth2", "permission"] {
        let n = loaded
            .warnings
            .iter()
            .filter(|w| w.starts_with(&format!("{role}.dsn is ignored")))
            .count();
        assert_eq!(n, 1, "{role}: {:?}", loaded.warnings);
    }
    // The placeholders resolved: no warning about unset variables.
    assert!(
        !loaded
            .warnings
            .iter()
            .any(|w| w.contains("GOOGLE_CLIENT_ID")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn keys_ory_knows_but_quartet_does_not_implement_are_reported_once() {
    let loaded = Loader::new().file(seed()).load().unwrap();
    let unsupported: Vec<&String> = loaded
        .warnings
        .iter()
        .filter(|w| w.starts_with("not supported yet: "))
        .collect();
    // Every reported path is reported exactly once.
    let mut sorted = unsupported.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), unsupported.len());
    // The unset placeholders are reported (not silently dropped).
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.contains("GOOGLE_CLIENT_ID")));
}

#[test]
fn a_config_file_may_inline_every_role_and_env_overrides_win() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "q.yml",
        "dsn: memory\nlog: {level: debug, format: json}\nidentity:\n  serve:\n    public: {port: 1111}\npermission:\n  serve:\n    read: {port: 2222}\n",
    );
    let loaded = Loader::new()
        .file(&file)
        .env(env(&[
            ("IDENTITY_SERVE_PUBLIC_PORT", "3333"),
            ("IDENTITY_SERVE_PUBLIC_BASE_URL", "https://id.example.com/"),
            ("OAUTH2_URLS_SELF_ISSUER", "https://auth.example.com/"),
            ("PROXY_SERVE_PROXY_PORT", "4455"),
            ("LOG_LEVEL", "warn"),
            ("DSN", "sqlite:///tmp/quartet-test.db"),
        ]))
        .load()
        .unwrap();
    let c = loaded.config;
    assert_eq!(c.identity.serve.public.port, Some(3333));
    assert_eq!(
        c.identity.serve.public.base_url.as_deref(),
        Some("https://id.example.com/")
    );
    assert_eq!(
        c.oauth2.urls.self_.issuer.as_deref(),
        Some("https://auth.example.com/")
    );
    assert_eq!(c.permission.serve.read.port, Some(2222));
    assert_eq!(c.proxy.serve.proxy.endpoint.port, Some(4455));
    assert_eq!(c.log.level, LogLevel::Warn);
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.dsn, Dsn::Sqlite("/tmp/quartet-test.db".into()));
}

#[test]
fn dev_without_dsn_means_memory_and_without_dev_it_is_an_error() {
    let loaded = Loader::new().dev(true).load().unwrap();
    assert_eq!(loaded.config.dsn, Dsn::Memory);
    assert_eq!(
        Loader::new().load().unwrap_err(),
        vec![ConfigError::MissingDsn]
    );
}

#[test]
fn a_wrong_type_names_the_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let errors = errors_of(
        dir.path(),
        "permission:\n  serve:\n    read:\n      port: not-a-port\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("invalid value at permission.serve.read.port:"),
        "{errors:?}"
    );
}

#[test]
fn an_unknown_key_names_the_key_path_at_every_level() {
    let dir = tempfile::tempdir().unwrap();
    let errors = errors_of(
        dir.path(),
        "dsnn: memory\nidentity:\n  serve:\n    publik: {port: 1}\nlog: {lvl: info}\n",
    );
    assert!(
        errors.contains(&"unknown key dsnn".to_string()),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"unknown key identity.serve.publik".to_string()),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"unknown key log.lvl".to_string()),
        "{errors:?}"
    );
}

#[test]
fn an_unreadable_file_reference_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let errors = errors_of(dir.path(), "proxy: file:///nonexistent/oathkeeper.yml\n");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("cannot read config file /nonexistent/oathkeeper.yml:"),
        "{errors:?}"
    );
    let missing = Loader::new()
        .file(dir.path().join("absent.yml"))
        .load()
        .unwrap_err();
    assert!(matches!(&missing[..], [ConfigError::Unreadable { .. }]));
}

#[test]
fn relative_file_references_resolve_against_the_including_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "keto.yml",
        "version: v0.14.0\ndsn: memory\nserve:\n  read: {port: 5555}\n",
    );
    let file = write(
        dir.path(),
        "q.yml",
        "dsn: memory\npermission: file://./keto.yml\n",
    );
    let loaded = Loader::new().file(file).load().unwrap();
    assert_eq!(loaded.config.permission.serve.read.port, Some(5555));
    assert_eq!(
        loaded.warnings,
        vec!["permission.dsn is ignored: all roles share the top-level dsn (env DSN)".to_string()]
    );
}

#[test]
fn syntax_errors_and_invalid_dsns_are_reported_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let errors = errors_of(dir.path(), "dsn: [unclosed\n");
    assert!(errors[0].starts_with("cannot parse"), "{errors:?}");
    let errors = errors_of(dir.path(), "dsn: mysql://root:hunter2@db/x\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("invalid DSN"), "{errors:?}");
    assert!(!errors[0].contains("hunter2"), "{errors:?}");
}

#[test]
fn a_role_section_must_be_a_mapping_or_a_file_reference() {
    let dir = tempfile::tempdir().unwrap();
    let errors = errors_of(dir.path(), "oauth2: 42\n");
    assert!(
        errors[0].starts_with("invalid value at oauth2:"),
        "{errors:?}"
    );
    let errors = errors_of(dir.path(), "oauth2: https://example.com/hydra.yml\n");
    assert!(errors[0].contains("only file://"), "{errors:?}");
}

#[test]
fn env_overrides_that_name_no_key_are_warned_about() {
    let loaded = Loader::new()
        .dev(true)
        .env(env(&[("PROXY_NO_SUCH_THING", "1")]))
        .load()
        .unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("PROXY_NO_SUCH_THING")),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn every_error_is_reported_not_only_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let errors = errors_of(
        dir.path(),
        "identity:\n  serve:\n    public: {port: x}\n    admin: {port: y}\n",
    );
    assert_eq!(errors.len(), 2, "{errors:?}");
}

/// The fuzz target's corpus, replayed with every prefix and simple byte mutations: the loader
/// returns a config or errors, never panics.
#[test]
fn the_loader_never_panics_on_prefixes_and_mutations_of_the_corpus() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/config_load");
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(seeds).unwrap() {
        documents.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    assert!(documents.len() >= 5);
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/config_load");
    if let Ok(entries) = std::fs::read_dir(regressions) {
        for entry in entries {
            documents.push(
                String::from_utf8_lossy(&std::fs::read(entry.unwrap().path()).unwrap())
                    .into_owned(),
            );
        }
    }
    for doc in &documents {
        // As a role section and as a whole file.
        let wrapped = format!(
            "oauth2:\n{}",
            doc.lines().map(|l| format!("  {l}\n")).collect::<String>()
        );
        for text in [doc.clone(), wrapped] {
            let bytes = text.as_bytes();
            for end in (0..bytes.len()).step_by(61) {
                let prefix = String::from_utf8_lossy(&bytes[..end]);
                let _ = Loader::new().text(prefix.as_ref()).dev(true).load();
            }
            for (i, junk) in [":", "- ", "{", "\"", "\t", "9", "~"].iter().enumerate() {
                let at = (i * 131) % bytes.len().max(1);
                let mut mutated = String::from_utf8_lossy(&bytes[..at]).into_owned();
                mutated.push_str(junk);
                mutated.push_str(&String::from_utf8_lossy(&bytes[at..]));
                let _ = Loader::new().text(mutated).dev(true).load();
            }
        }
    }
}

#[test]
fn token_hooks_load_in_both_of_hydras_forms_and_a_bad_url_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "q.yml",
        "dsn: memory\noauth2:\n  oauth2:\n    token_hook: https://hooks.example/token\n    refresh_token_hook:\n      url: http://127.0.0.1:9/refresh\n      auth:\n        type: api_key\n        config: {in: header, name: X-API-Key, value: s3cret-key}\n",
    );
    let loaded = Loader::new().file(&file).load().unwrap();
    assert!(
        !loaded.warnings.iter().any(|w| w.contains("hook")),
        "{:?}",
        loaded.warnings
    );
    let o = &loaded.config.oauth2.oauth2;
    let token = o.token_hook.as_ref().unwrap();
    assert_eq!(token.url.as_str(), "https://hooks.example/token");
    assert!(token.auth.is_none());
    let refresh = o.refresh_token_hook.as_ref().unwrap();
    assert_eq!(refresh.url.as_str(), "http://127.0.0.1:9/refresh");
    let key = refresh.auth.as_ref().unwrap();
    assert_eq!(
        (
            key.in_.as_deref(),
            key.name.as_str(),
            key.value.expose().as_str()
        ),
        (Some("header"), "X-API-Key", "s3cret-key")
    );
    // The API key never shows in the config's debug output.
    assert!(!format!("{:?}", loaded.config).contains("s3cret-key"));

    let errors = errors_of(
        dir.path(),
        "oauth2:\n  oauth2:\n    token_hook: /relative/path\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("invalid value at oauth2.oauth2.token_hook:")
            && errors[0].contains("not an absolute http(s) URL"),
        "{errors:?}"
    );
}

#[test]
fn self_service_hooks_quartet_does_not_run_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "q.yml",
        "dsn: memory\nidentity:\n  selfservice:\n    flows:\n      registration:\n        after:\n          password:\n            hooks:\n              - hook: session\n              - hook: web_hook\n                config: {url: 'https://hooks.example/', method: POST}\n      login:\n        after:\n          hooks:\n            - hook: revoke_active_sessions\n            - hook: require_verified_address\n",
    );
    let loaded = Loader::new().file(&file).load().unwrap();
    let hooks: Vec<&String> = loaded
        .warnings
        .iter()
        .filter(|w| w.contains("is not run"))
        .collect();
    assert_eq!(
        hooks,
        vec![
            "not supported yet: identity.selfservice.flows.registration.after.password.hooks.1 (hook \"web_hook\" is not run)",
            "not supported yet: identity.selfservice.flows.login.after.hooks.1 (hook \"require_verified_address\" is not run)",
        ]
    );
}

#[test]
fn hydras_expose_internal_errors_is_reported_not_silently_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "q.yml",
        "dsn: memory\noauth2:\n  oauth2:\n    expose_internal_errors: true\n",
    );
    let loaded = Loader::new().file(&file).load().unwrap();
    assert!(
        loaded
            .warnings
            .contains(&"not supported yet: oauth2.oauth2.expose_internal_errors".to_string()),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn keys_read_nowhere_are_reported_not_silently_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "q.yml",
        "dsn: memory\nidentity:\n  serve:\n    public:\n      cors: {enabled: true, debug: true, options_passthrough: true}\n  selfservice:\n    methods:\n      password:\n        config: {haveibeenpwned_enabled: true, haveibeenpwned_host: hibp.example, max_breaches: 5, ignore_network_errors: false}\n",
    );
    let loaded = Loader::new().file(&file).load().unwrap();
    for key in [
        "identity.serve.public.cors.debug",
        "identity.serve.public.cors.options_passthrough",
        "identity.selfservice.methods.password.config.haveibeenpwned_host",
        "identity.selfservice.methods.password.config.max_breaches",
        "identity.selfservice.methods.password.config.ignore_network_errors",
    ] {
        let warning = format!("not supported yet: {key}");
        assert!(
            loaded.warnings.contains(&warning),
            "{key}: {:?}",
            loaded.warnings
        );
    }
    assert!(
        loaded
            .config
            .identity
            .selfservice
            .methods
            .password
            .config
            .haveibeenpwned_enabled
    );
}
