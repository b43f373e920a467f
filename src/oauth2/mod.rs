//! The oauth2 role — Ory Hydra v2.2 on the wire: "which TOKEN?". Public port 4444 (authorize,
//! token, revoke, userinfo, logout, discovery, JWKS, dynamic registration) and admin port 4445
//! (clients, keys, introspection, login/consent/logout requests, sessions) under `/admin`, with
//! health and version unprefixed and a 307 to `/admin<path>` for everything else.
//!
//! Components, from the bottom up:
//! - pure cores: `grant` (grant types, the grant session, redeeming codes and refresh
//!   tokens, PKCE), `challenge` (the login/consent/logout state machine and the flows'
//!   typed documents), `client` (Hydra's client model and validation), `trust` (RFC 7523),
//!   `strategy`, `token`, `secret`, [`jose`], `form`, `cookies`, `navigation`;
//! - `settings` (the config resolved, the role's URLs), [`error`] (the one error enum and its
//!   wire mapping), [`store`] (the only module that knows SQL);
//! - state: `keys` (key sets), `client_keys` (clients' JWK sets), `client_cache`,
//!   `secret_cache`, and `service` (`Oauth2`, the shared state composing them);
//! - capabilities: `client_auth`, `request_object`, `issue`, `introspect`,
//!   `token_hook`, `flows` (the challenges' store transitions), `auth_request`,
//!   `client_registry`, `userinfo`, `token_endpoint`, `login`, `consent`, `logout`;
//! - HTTP (the only modules that know axum, besides [`error`], `html` and `wire`):
//!   `browser` (`/oauth2/auth`, `/oauth2/sessions/logout`), `client_cors`, `public`,
//!   `admin_flows`, [`admin`]; [`cleanup`] is the janitor's.
//!
//! Visibility: every module is `pub(crate)` except `admin`, `jose` — what the CLI, the integration
//! tests, the benchmarks and the fuzz targets reach; the composition root uses the items re-
//! exported below.
//!
//! Floors (a file uses only files on its own floor or below; no cycles):
//! - 0: error, strategy, token, secret, secret_cache, navigation, cleanup
//! - 1: form, jose, html, wire, client, trust
//! - 2: settings, grant, challenge, cookies
//! - 3: store, client_keys
//! - 4: client_cache, keys
//! - 5: service
//! - 6: client_auth, request_object, issue, introspect, token_hook, flows, auth_request
//! - 7: client_registry, userinfo, token_endpoint, login, consent, logout
//! - 8: browser, client_cors, admin_flows
//! - 9: public, admin

pub mod admin;
pub(crate) mod admin_flows;
pub(crate) mod auth_request;
pub(crate) mod browser;
pub(crate) mod challenge;
pub(crate) mod cleanup;
pub(crate) mod client;
pub(crate) mod client_auth;
pub(crate) mod client_cache;
pub(crate) mod client_cors;
pub(crate) mod client_keys;
pub(crate) mod client_registry;
pub(crate) mod consent;
pub(crate) mod cookies;
pub(crate) mod error;
pub(crate) mod flows;
pub(crate) mod form;
pub(crate) mod grant;
pub(crate) mod html;
pub(crate) mod introspect;
pub(crate) mod issue;
pub mod jose;
pub(crate) mod keys;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod navigation;
pub(crate) mod public;
pub(crate) mod request_object;
pub(crate) mod secret;
pub(crate) mod secret_cache;
pub(crate) mod service;
pub(crate) mod settings;
pub(crate) mod store;
pub(crate) mod strategy;
pub(crate) mod token;
pub(crate) mod token_endpoint;
pub(crate) mod token_hook;
pub(crate) mod trust;
pub(crate) mod userinfo;
pub(crate) mod wire;

use crate::config::{Oauth2Config, Role};
use crate::http::listener::{api_surface, ALL_INTERFACES, LOOPBACK};
use crate::http::{ListenerSpec, Surface};
use crate::store::Db;

pub use service::Oauth2;
pub use settings::BoundUrls;

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
