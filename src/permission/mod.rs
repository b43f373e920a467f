//! The permission role — Ory Keto v0.14 on the wire: "CAN they?". Four ports (read 4466,
//! write 4467, metrics 4468 serving only `/metrics/prometheus`, OPL 4469), each REST port with
//! health, version and metrics as Keto mounts them.
//!
//! Components:
//! - [`tuple`]: relation tuples, filters and Keto's text form (domain types, no serde);
//! - [`store`]: the tuple table (the only module that knows SQL);
//! - [`namespaces`]: the three namespace config shapes, hot reload;
//! - [`opl`]: the Ory Permission Language front end (pure: lexer, parser, type checker, IR);
//! - [`engine`]: check and expand over the OPL IR with Keto's semantics;
//! - [`lookup`]: reverse lookup (Quartet extension);
//! - [`http`]: Keto's REST API (the only module that knows axum);
//! - [`cli`]: `quartet opl check`;
//! - [`import`]: `quartet import tuples` (bulk load from JSON or Keto's text form).
//!
//! Visibility: every module is `pub(crate)` except `cli`, `engine`, `http`, `import`, `lookup`,
//! `namespaces`, `opl` — what the CLI, the integration tests, the benchmarks and the fuzz targets
//! reach; the composition root uses the items re-exported below.
//!
//! Floors (a file uses only files on its own floor or below; no cycles):
//! - 0: error, opl
//! - 1: tuple, namespaces
//! - 2: store
//! - 3: engine
//! - 4: http, cli
//! - 5: lookup, import

pub mod cli;
pub mod engine;
pub(crate) mod error;
pub mod http;
pub mod import;
pub mod lookup;
pub mod namespaces;
pub mod opl;
pub(crate) mod store;
pub(crate) mod tuple;

use axum::Router;

use crate::config::{PermissionConfig, Role};
use crate::http::listener::{api_surface, ALL_INTERFACES, LOOPBACK};
use crate::http::{ListenerSpec, Surface};
use crate::store::time::Clock;
use crate::store::Db;

pub use engine::{CheckCache, Engine, Limits, Membership};
pub use error::PermissionError;
pub use namespaces::{NamespaceSet, Namespaces};
pub use store::TupleStore;
pub use tuple::{RelationTuple, Subject, SubjectSet, TupleFilter};

const METRICS_PATH: &str = "/metrics/prometheus";

/// Builds the engine the config describes (namespaces loaded — fetched when over http(s) —
/// and a watcher or refresher started).
pub async fn engine(config: &PermissionConfig, db: &Db) -> Engine {
    engine_with_clock(config, db, Clock::system()).await
}

/// As [`engine`], with tuple writes stamped by `clock`.
pub async fn engine_with_clock(config: &PermissionConfig, db: &Db, clock: Clock) -> Engine {
    let namespaces = Namespaces::load(&config.namespaces).await;
    let limits = Limits {
        max_read_depth: i32::try_from(config.limit.max_read_depth.max(1)).unwrap_or(5),
        max_read_width: config.limit.max_read_width.max(1) as usize,
    };
    let engine = Engine::new(
        TupleStore::new(db.clone()).with_clock(clock),
        namespaces,
        limits,
    );
    if config.check_cache.ttl_ms > 0 {
        engine.with_cache(engine::CheckCache::new(
            std::time::Duration::from_millis(config.check_cache.ttl_ms),
            config.check_cache.max_entries.unwrap_or(100_000),
        ))
    } else {
        engine
    }
}

/// The role's listeners.
pub async fn listeners(config: &PermissionConfig, db: &Db, clock: Clock) -> Vec<ListenerSpec> {
    let state = http::ApiState::new(
        engine_with_clock(config, db, clock).await,
        config.limit.max_batch_check_size.max(1) as usize,
        config.limit.batch_check_max_parallelization.max(1) as usize,
    )
    .with_lookup_limit(config.lookup.max_candidates);
    let serve = &config.serve;
    let rest = |name, endpoint: &crate::config::ServeEndpoint, host, port, routes| ListenerSpec {
        role: Role::Permission,
        name,
        endpoint: endpoint.clone(),
        default_host: host,
        default_port: port,
        surface: api_surface(Some(METRICS_PATH)),
        routes,
    };
    vec![
        rest(
            "read",
            &serve.read,
            ALL_INTERFACES,
            4466,
            http::read_routes(state.clone()).merge(lookup::routes(state.clone())),
        ),
        rest(
            "write",
            &serve.write,
            LOOPBACK,
            4467,
            http::write_routes(state),
        ),
        ListenerSpec {
            role: Role::Permission,
            name: "metrics",
            endpoint: serve.metrics.clone(),
            default_host: LOOPBACK,
            default_port: 4468,
            surface: Surface::MetricsOnly { path: METRICS_PATH },
            routes: Router::new(),
        },
        rest("opl", &serve.opl, LOOPBACK, 4469, http::opl_routes()),
    ]
}
