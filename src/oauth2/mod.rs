//! The oauth2 role — Ory Hydra v2.2 on the wire: "which TOKEN?". Public port 4444 (authorize,
//! token, revoke, userinfo, logout, discovery, JWKS, dynamic registration) and admin port 4445
//! (clients, keys, introspection, login/consent/logout requests, sessions) under `/admin`, with
//! health and version unprefixed and a 307 to `/admin<path>` for everything else.
//!
//! Map: [`service`] (state, keys, client auth, token issuance) · [`flow`] (the challenge state
//! machine and `/oauth2/auth`) · [`logout`] (front-/back-channel logout) · [`html`] (every HTML page, escaped, with a CSP) · [`public`] / [`admin`] (handlers and wire DTOs) · [`client`]
//! (client model and validation; [`client_cache`], clients as last read; [`client_cors`], per-client
//! CORS) · [`token_hook`] (Hydra's token
//! hooks) · [`store`] (SQL) · pure cores [`strategy`], [`token`],
//! [`secret`] (+ [`secret_cache`]), [`jose`], [`trust`] (RFC 7523) · [`error`] (the one error enum and its wire mapping).

pub mod admin;
pub mod cleanup;
pub mod client;
pub mod client_cache;
pub mod client_cors;
pub mod error;
pub mod flow;
pub mod html;
pub mod jose;
pub mod logout;
pub mod public;
pub mod secret;
pub mod secret_cache;
pub mod service;
pub mod store;
pub mod strategy;
pub mod token;
pub mod token_hook;
pub mod trust;

use crate::config::{Oauth2Config, Role};
use crate::http::listener::{api_surface, ALL_INTERFACES, LOOPBACK};
use crate::http::{ListenerSpec, Surface};
use crate::store::Db;

pub use service::{BoundUrls, Oauth2};

/// The role's listeners. `bound` is filled by the composition root with the actual URLs once
/// the ports are bound (so that an unset issuer follows an ephemeral port).
pub fn listeners(
    config: &Oauth2Config,
    dev: bool,
    db: &Db,
    bound: &BoundUrls,
) -> Vec<ListenerSpec> {
    listeners_with(
        config,
        state(config, dev, db, bound, crate::store::time::Clock::system()),
    )
}

/// The role's shared state (the composition root keeps a clone for in-process callers such as
/// the proxy's token introspection). Starts creating the default key sets in the background.
pub fn state(
    config: &Oauth2Config,
    dev: bool,
    db: &Db,
    bound: &BoundUrls,
    clock: crate::store::time::Clock,
) -> Oauth2 {
    let state = Oauth2::new(
        config,
        dev,
        store::Store::new(db.clone()),
        bound.clone(),
        clock,
    );
    // Hydra creates its key sets before the first token; generating them in the background
    // keeps RSA key generation off the startup path (endpoints that need keys await it).
    state.start_key_generation();
    state
}

/// The listeners over an already built [`state`].
pub fn listeners_with(config: &Oauth2Config, state: Oauth2) -> Vec<ListenerSpec> {
    vec![
        ListenerSpec {
            role: Role::Oauth2,
            name: "public",
            endpoint: config.serve.public.clone(),
            default_host: ALL_INTERFACES,
            default_port: 4444,
            surface: api_surface(None),
            routes: public::routes(state.clone()),
        },
        ListenerSpec {
            role: Role::Oauth2,
            name: "admin",
            endpoint: config.serve.admin.clone(),
            default_host: LOOPBACK,
            default_port: 4445,
            surface: Surface::Api {
                health_prefix: "",
                version_prefix: "",
                metrics_path: Some("/admin/metrics/prometheus"),
                redirect_to_admin: true,
            },
            routes: admin::routes(state),
        },
    ]
}
