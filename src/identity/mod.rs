//! The identity role — Ory Kratos v1.1 on the wire: "WHO is this?". Two ports: public 4433
//! (self-service flows, whoami, schemas) and admin 4434 (every route under `/admin`, Kratos'
//! 307 for other paths).
//!
//! Map: `model` (domain types, clock), `text` (Kratos' UI messages), `limits` (bounds on
//! request bodies), `query` (Go-style query values), `csrf` (masked anti-CSRF tokens),
//! `http_fetch` (schemas by URL), `cleanup` (what the janitor deletes), `error` (the role's
//! error and its mapping to the wire), `policy` (password policy), `throttle` (brute-force
//! backoff), `session_cache` (opt-in whoami cache), `schema` (identity schemas, trait
//! validation, `ory.sh/kratos` extension), `flow` (flows as data: kinds, types, states,
//! methods, the UI container), `wire` (Identity/Session JSON), `store` (all SQL), `service`
//! (shared state and the operations handlers compose), `request` (what the HTTP modules read
//! from a request), `redirect` (the 307s between the ports), and the HTTP surfaces `admin`,
//! `public`, `selfservice`. **Only the HTTP modules (`request`, `redirect`, `admin`,
//! `public`, `selfservice`) know axum; only `store` knows SQL; `schema` validation, `flow`,
//! `policy`, `limits`, `throttle` and `selfservice`'s `http` and `nodes` do no I/O and read no
//! clock.**
//!
//! Visibility: every module is `pub(crate)` except `flow`, `limits`, `model`, `request`, `service`,
//! `store`, `throttle` — what the CLI, the integration tests, the benchmarks and the fuzz targets
//! reach; the composition root uses the items re-exported below.
//!
//! Floors (a file uses only files on its own floor or below; no cycles):
//! - 0: model, text, limits, query, csrf, http_fetch, cleanup
//! - 1: error, policy, throttle, session_cache
//! - 2: schema
//! - 3: flow, wire
//! - 4: store
//! - 5: service
//! - 6: request, redirect
//! - 7: admin, public, selfservice

pub(crate) mod admin;
pub(crate) mod cleanup;
pub(crate) mod csrf;
pub(crate) mod error;
pub mod flow;
mod http_fetch;
pub mod limits;
pub mod model;
pub(crate) mod policy;
pub(crate) mod public;
pub(crate) mod query;
pub(crate) mod redirect;
pub mod request;
pub(crate) mod schema;
pub(crate) mod selfservice;
pub mod service;
pub(crate) mod session_cache;
pub mod store;
pub(crate) mod text;
pub mod throttle;
pub(crate) mod wire;

pub use error::Error;
pub use service::{BoundUrls, Service};

use crate::config::{IdentityConfig, Role};
use crate::http::listener::{api_surface, ALL_INTERFACES, LOOPBACK};
use crate::http::{ListenerSpec, Surface};
use crate::store::Db;

/// Builds the role's service (loads the identity schemas, prepares the hasher).
pub async fn service(config: &IdentityConfig, db: Db, dev: bool) -> Result<Service, Error> {
    service_with_urls(config, db, dev, BoundUrls::default()).await
}

/// As [`service`], with the handle through which the composition root reports the addresses
/// the listeners were bound to (`urls.set("public" | "admin", url)` after binding).
pub async fn service_with_urls(
    config: &IdentityConfig,
    db: Db,
    dev: bool,
    urls: BoundUrls,
) -> Result<Service, Error> {
    service_with_clock(config, db, dev, urls, model::Clock::system()).await
}

/// As [`service_with_urls`], reading time from `clock`.
pub async fn service_with_clock(
    config: &IdentityConfig,
    db: Db,
    dev: bool,
    urls: BoundUrls,
    clock: model::Clock,
) -> Result<Service, Error> {
    Service::new(
        config.clone(),
        store::IdentityStore::new(db),
        dev,
        clock,
        urls,
    )
    .await
}

/// The role's listeners.
pub fn listeners(config: &IdentityConfig, service: Service) -> Vec<ListenerSpec> {
    let public = public::routes(service.clone()).merge(selfservice::routes(service.clone()));
    vec![
        ListenerSpec {
            role: Role::Identity,
            name: "public",
            endpoint: config.serve.public.clone(),
            default_host: ALL_INTERFACES,
            default_port: 4433,
            surface: api_surface(None),
            routes: public,
        },
        ListenerSpec {
            role: Role::Identity,
            name: "admin",
            endpoint: config.serve.admin.clone(),
            default_host: LOOPBACK,
            default_port: 4434,
            surface: Surface::Api {
                health_prefix: "/admin",
                version_prefix: "/admin",
                metrics_path: Some("/admin/metrics/prometheus"),
                redirect_to_admin: true,
            },
            routes: admin::routes(service),
        },
    ]
}
