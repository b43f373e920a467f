//! The composition root — the only module that knows every role. It opens and migrates the
//! database, asks each enabled role for its listeners, wraps them in the kernel middleware and
//! routes, binds every port, and owns the running servers ([`Stack`]) until shutdown.

use crate::store::time::Clock;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, Role};
use crate::http::connection::ConnectionLimits;
use crate::http::health::{health_routes, metrics_route, version_route, Health, ReadyCheck};
use crate::http::layers::{self, ListenerContext};
use crate::http::metrics::Metrics;
use crate::http::server::{self, BindError};
use crate::http::{ApiError, ListenerSpec, Surface};
use crate::store::{Db, StoreError};
use crate::{identity, oauth2, permission, proxy};

pub mod import;
mod inprocess;
pub mod janitor;
pub use inprocess::LocalListeners;

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bind(#[from] BindError),
    #[error("identity: {0}")]
    Identity(#[from] identity::Error),
    /// A role could not start (e.g. the proxy could not fetch a remote access-rule repository).
    #[error("{role}: {reason}")]
    Role { role: &'static str, reason: String },
    /// A `serve --import` fixture file could not be read or loaded.
    #[error("cannot import {file}: {reason}")]
    Import { file: String, reason: String },
}

/// A running Quartet: every enabled role's listeners, sharing one database.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use quartet::{config::{Config, Role}, Stack};
/// let stack = Stack::start(Config::ephemeral()).await?;
/// let read_api = stack.url(Role::Permission, "read").unwrap_or_default();
/// // ... talk to `read_api` with any HTTP client or an Ory SDK ...
/// stack.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Stack {
    addrs: BTreeMap<(Role, &'static str), SocketAddr>,
    shutdown: watch::Sender<bool>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    /// The background janitor (`janitor.interval`), if on.
    janitor: Option<JoinHandle<()>>,
    db: Db,
    grace: Duration,
}

impl Stack {
    /// Starts all four roles.
    pub async fn start(config: Config) -> Result<Stack, StartError> {
        Self::start_roles(config, &Role::ALL).await
    }

    /// Starts the named roles only (`quartet serve permission proxy`).
    pub async fn start_roles(config: Config, roles: &[Role]) -> Result<Stack, StartError> {
        Self::start_with_imports(config, roles, &[]).await
    }

    /// Starts the named roles after loading fixture files (`serve --import`: identities,
    /// OAuth2 clients or relation tuples, told apart by content — [`import::classify`]):
    /// after the migrations, before any listener is bound, so the stack is never ready
    /// without them.
    pub async fn start_with_imports(
        config: Config,
        roles: &[Role],
        imports: &[std::path::PathBuf],
    ) -> Result<Stack, StartError> {
        Self::start_with_clock(config, roles, imports, Clock::system()).await
    }

    /// As [`Stack::start_with_imports`], every role reading time from `clock` (tests pass
    /// [`Clock::adjustable`] to jump past an expiry instead of sleeping).
    pub async fn start_with_clock(
        config: Config,
        roles: &[Role],
        imports: &[std::path::PathBuf],
        clock: Clock,
    ) -> Result<Stack, StartError> {
        let db = Db::connect(&config.dsn).await?;
        db.migrate().await?;
        for file in imports {
            import::fixture(&config, &db, file)
                .await
                .map_err(|reason| StartError::Import {
                    file: file.display().to_string(),
                    reason,
                })?;
        }
        let metrics = Metrics::new();
        tokio::spawn(metrics.keep_up(Duration::from_secs(5)));
        let health = Health::new().check("database", database_check(db.clone()));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut addrs = BTreeMap::new();
        let mut bound = Vec::new();
        let mut wiring = Wiring::default();
        let specs = role_listeners(&config, roles, &db, &clock, &mut wiring).await?;
        let Wiring {
            identity_urls,
            oauth2_urls,
            local,
            extra_checks,
        } = wiring;
        for spec in specs {
            let addr = spec.bind_addr();
            let listener = server::bind(spec.role.name(), spec.name, &addr).await?;
            let bound_at = listener.local_addr().map_err(|e| BindError {
                role: spec.role.name(),
                listener: spec.name,
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
            addrs.insert((spec.role, spec.name), bound_at);
            local.add(spec.role, spec.name, bound_at, &spec.endpoint);
            match spec.role {
                Role::Identity => identity_urls.set(spec.name, &url_for(bound_at)),
                Role::Oauth2 => oauth2_urls.set(spec.name, &url_for(bound_at)),
                Role::Permission | Role::Proxy => {}
            }
            // Listener-specific readiness (the proxy API's `rules_loaded`) on top of the shared
            // checks.
            let mut listener_health = health.clone();
            for (_, _, name, check, oathkeeper) in extra_checks
                .iter()
                .filter(|(r, l, ..)| *r == spec.role && *l == spec.name)
            {
                listener_health = listener_health.check(name, check.clone());
                if *oathkeeper {
                    listener_health = listener_health.oathkeeper_failure();
                }
            }
            // The proxy listener serves each client connection with its own upstream
            // connection on the same task (http::connection).
            let per_connection = matches!(spec.surface, Surface::Passthrough);
            let router = assemble(spec, &config, &metrics, &listener_health);
            bound.push((listener, router, per_connection));
        }
        let limits = ConnectionLimits::from_config(&config.http);
        let servers = bound
            .into_iter()
            .map(|(listener, router, per_connection)| {
                if per_connection {
                    tokio::spawn(crate::http::connection::serve(
                        listener,
                        router,
                        shutdown_rx.clone(),
                        limits,
                    ))
                } else {
                    tokio::spawn(server::serve_with(
                        listener,
                        router,
                        shutdown_rx.clone(),
                        limits,
                    ))
                }
            })
            .collect();
        let janitor = janitor::spawn(
            db.clone(),
            janitor::Options::from_config(&config, roles),
            Duration::from_nanos(u64::try_from(config.janitor.interval.0).unwrap_or(u64::MAX)),
            clock,
            shutdown_rx.clone(),
        );
        Ok(Stack {
            addrs,
            shutdown,
            servers,
            janitor,
            db,
            grace: Duration::from_secs(config.http.shutdown_grace_seconds),
        })
    }

    /// The base URL of a role's listener (`Role::Identity, "public"`), if that role runs.
    pub fn url(&self, role: Role, listener: &str) -> Option<String> {
        self.addr(role, listener).map(url_for)
    }

    /// The bound socket address of a role's listener.
    pub fn addr(&self, role: Role, listener: &str) -> Option<SocketAddr> {
        self.addrs
            .iter()
            .find(|((r, name), _)| *r == role && *name == listener)
            .map(|(_, addr)| *addr)
    }

    /// Every running listener: role, listener name, base URL.
    pub fn listeners(&self) -> impl Iterator<Item = (Role, &'static str, String)> + '_ {
        self.addrs
            .iter()
            .map(|((role, name), addr)| (*role, *name, url_for(*addr)))
    }

    /// Stops accepting, lets in-flight requests finish within the grace period (then aborts
    /// them), and closes the database pool.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Some(janitor) = self.janitor {
            // A batch cut short is harmless: each is one statement.
            janitor.abort();
        }
        let deadline = tokio::time::Instant::now() + self.grace;
        for mut server in self.servers {
            match tokio::time::timeout_at(deadline, &mut server).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "a listener ended with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "a listener task failed"),
                Err(_) => {
                    tracing::warn!(
                        "in-flight requests did not finish within the grace period; aborting them"
                    );
                    server.abort();
                }
            }
        }
        self.db.close().await;
    }
}

/// What the composition root hands to roles before binding and fills in after: the bound
/// addresses (so that unset base URLs and issuers follow ephemeral ports, and the proxy knows
/// which URLs are this process) and listener-specific readiness checks.
#[derive(Default)]
struct Wiring {
    identity_urls: identity::BoundUrls,
    oauth2_urls: oauth2::BoundUrls,
    local: LocalListeners,
    extra_checks: Vec<ExtraCheck>,
}

async fn role_listeners(
    config: &Config,
    roles: &[Role],
    db: &Db,
    clock: &Clock,
    wiring: &mut Wiring,
) -> Result<Vec<ListenerSpec>, StartError> {
    let Wiring {
        identity_urls,
        oauth2_urls,
        local,
        extra_checks,
    } = wiring;
    let mut specs = Vec::new();
    // Role::ALL lists identity and oauth2 before the proxy, whose in-process adapters use them.
    let mut identity_service = None;
    let mut oauth2_state = None;
    for role in Role::ALL.into_iter().filter(|r| roles.contains(r)) {
        specs.extend(match role {
            Role::Identity => {
                let service = identity::service_with_clock(
                    &config.identity,
                    db.clone(),
                    config.dev,
                    identity_urls.clone(),
                    clock.clone(),
                )
                .await?;
                identity_service = Some(service.clone());
                identity::listeners(&config.identity, service)
            }
            Role::Oauth2 => {
                let mut oauth2_config = config.oauth2.clone();
                if oauth2_config.secrets.system.is_empty() {
                    // No configured secret (`--dev`, the in-process fixture): one generated once
                    // per database, so that keys sealed by an earlier start or another instance
                    // on it still open.
                    let generated =
                        crate::store::secrets::get_or_create(db, "oauth2.secrets.system", || {
                            crate::crypto::random_token(32)
                        })
                        .await?;
                    oauth2_config
                        .secrets
                        .system
                        .push(crate::config::Secret::new(generated));
                }
                let state =
                    oauth2::state(&oauth2_config, config.dev, db, oauth2_urls, clock.clone());
                oauth2_state = Some(state.clone());
                oauth2::listeners_with(&config.oauth2, state)
            }
            Role::Permission => permission::listeners(&config.permission, db, clock.clone()).await,
            Role::Proxy => {
                let role_error = |reason| StartError::Role {
                    role: "proxy",
                    reason,
                };
                let http = proxy::HttpClient::new().map_err(role_error)?;
                let mut outbound = proxy::Outbound::with(
                    Arc::new(inprocess::Sessions {
                        identity: identity_service.clone(),
                        local: local.clone(),
                        http: http.clone(),
                    }),
                    Arc::new(inprocess::Introspection {
                        oauth2: oauth2_state.clone(),
                        local: local.clone(),
                        http: http.clone(),
                    }),
                    http,
                );
                outbound.clock = clock.clone();
                let proxy = proxy::Proxy::start_with(&config.proxy, outbound, config.dev)
                    .await
                    .map_err(role_error)?;
                // Without any repository configured (e.g. `quartet serve --dev` with no proxy
                // section) there is nothing to wait for; Oathkeeper would stay unready forever,
                // which would break the stack's readiness contract.
                if !config.proxy.access_rules.repositories.is_empty() {
                    extra_checks.push((
                        Role::Proxy,
                        "api",
                        "rules_loaded",
                        rules_loaded_check(&proxy),
                        true,
                    ));
                }
                proxy::listeners_for(&config.proxy, proxy)
            }
        });
    }
    Ok(specs)
}

/// The role's routes plus the kernel routes of its surface, wrapped in the kernel middleware.
fn assemble(spec: ListenerSpec, config: &Config, metrics: &Metrics, health: &Health) -> Router {
    let ctx = ListenerContext {
        role: spec.role.name(),
        listener: spec.name,
        dev: config.dev,
        body_limit: config.http.body_limit,
        metrics: metrics.clone(),
    };
    let cors = crate::http::cors::layer(spec.endpoint.cors.as_ref(), cors_defaults(spec.role));
    let router = match spec.surface {
        Surface::Api {
            health_prefix,
            version_prefix,
            metrics_path,
            redirect_to_admin,
        } => {
            let mut router = spec
                .routes
                .merge(health_routes(health_prefix, health.clone()))
                .merge(version_route(version_prefix))
                .merge(crate::http::openapi::route());
            if let Some(path) = metrics_path {
                router = router.merge(metrics_route(path, metrics.clone()));
            }
            router = if redirect_to_admin {
                router.fallback(redirect_or_not_found)
            } else {
                router.fallback(|| async { ApiError::not_found() })
            };
            layers::api(router, ctx)
        }
        Surface::MetricsOnly { path } => {
            let router =
                metrics_route(path, metrics.clone()).fallback(|| async { ApiError::not_found() });
            layers::api(router, ctx)
        }
        Surface::Passthrough => layers::passthrough(spec.routes, ctx),
    };
    // Validated at load; a hand-built config with a bad entry trusts nobody.
    let trusted =
        crate::http::TrustedProxies::parse(&config.http.trusted_proxies).unwrap_or_default();
    let router = router.layer(axum::Extension(trusted));
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Each Ory service has its own CORS defaults.
fn cors_defaults(role: Role) -> &'static crate::http::cors::CorsDefaults {
    use crate::http::cors;
    match role {
        Role::Identity => &cors::KRATOS,
        Role::Oauth2 => &cors::HYDRA,
        Role::Permission | Role::Proxy => &cors::KETO_OATHKEEPER,
    }
}

/// Kratos and Hydra answer admin-port paths outside `/admin` with 307 to `/admin<path>`.
async fn redirect_or_not_found(uri: Uri) -> Response {
    let path = uri.path();
    if path == "/admin" || path.starts_with("/admin/") {
        return ApiError::not_found().into_response();
    }
    let target = match uri.query() {
        Some(q) => format!("/admin{path}?{q}"),
        None => format!("/admin{path}"),
    };
    let mut response = Redirect::temporary(&target).into_response();
    *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    response
}

/// A readiness check of one listener: role, listener, check name, probe, and whether failures
/// are answered in Oathkeeper's shape.
type ExtraCheck = (Role, &'static str, &'static str, ReadyCheck, bool);

/// Oathkeeper's `rules_loaded`: ready only while the repository holds at least one valid rule.
fn rules_loaded_check(proxy: &Arc<proxy::Proxy>) -> ReadyCheck {
    let proxy = Arc::downgrade(proxy);
    Arc::new(move || {
        let loaded = proxy
            .upgrade()
            .is_some_and(|p| !p.rule_set().rules().is_empty());
        Box::pin(async move {
            if loaded {
                Ok(())
            } else {
                Err("no valid access rules are loaded".to_string())
            }
        })
    })
}

fn database_check(db: Db) -> ReadyCheck {
    Arc::new(move || {
        let db = db.clone();
        Box::pin(async move {
            db.ping()
                .await
                .map_err(|_| "the database is not reachable".to_string())
        })
    })
}

fn url_for(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{host}:{}", addr.port())
}
