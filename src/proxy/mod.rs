//! The proxy role — Ory Oathkeeper v0.40 on the wire: "may it PASS the GATE?". Access rules,
//! the pipeline and the decision API arrive with their issue; today the role declares its ports
//! (proxy 4455, API 4456, Prometheus 9000) and the proxy answers every request as Oathkeeper
//! does with an empty rule set: 404 "Requested url does not match any rules".

use axum::http::StatusCode;
use axum::Router;

use crate::config::{ProxyConfig, Role};
use crate::http::listener::{api_surface, ALL_INTERFACES, LOOPBACK};
use crate::http::{ApiError, ListenerSpec, Surface};

/// The role's listeners.
pub fn listeners(config: &ProxyConfig) -> Vec<ListenerSpec> {
    vec![
        ListenerSpec {
            role: Role::Proxy,
            name: "proxy",
            endpoint: config.serve.proxy.clone(),
            default_host: ALL_INTERFACES,
            default_port: 4455,
            surface: Surface::Passthrough,
            routes: Router::new().fallback(|| async { no_rule_matched() }),
        },
        ListenerSpec {
            role: Role::Proxy,
            name: "api",
            endpoint: config.serve.api.clone(),
            default_host: LOOPBACK,
            default_port: 4456,
            surface: api_surface(None),
            routes: Router::new(),
        },
        ListenerSpec {
            role: Role::Proxy,
            name: "prometheus",
            endpoint: config.serve.prometheus.clone(),
            default_host: LOOPBACK,
            default_port: 9000,
            surface: Surface::MetricsOnly { path: "/metrics" },
            routes: Router::new(),
        },
    ]
}

fn no_rule_matched() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "Requested url does not match any rules",
    )
}
