//! The permission role — Ory Keto v0.14 on the wire: "CAN they?". Relation tuples, the Ory
//! Permission Language and the check engine arrive with their issue; today the role declares
//! its four ports (read 4466, write 4467, metrics 4468 serving only `/metrics/prometheus`, OPL
//! 4469), each REST port with health, version and metrics as Keto mounts them.

use axum::Router;

use crate::config::{PermissionConfig, Role};
use crate::http::listener::{api_surface, ALL_INTERFACES, LOOPBACK};
use crate::http::{ListenerSpec, Surface};

const METRICS_PATH: &str = "/metrics/prometheus";

/// The role's listeners.
pub fn listeners(config: &PermissionConfig) -> Vec<ListenerSpec> {
    let serve = &config.serve;
    let rest = |name, endpoint: &crate::config::ServeEndpoint, host, port| ListenerSpec {
        role: Role::Permission,
        name,
        endpoint: endpoint.clone(),
        default_host: host,
        default_port: port,
        surface: api_surface(Some(METRICS_PATH)),
        routes: Router::new(),
    };
    vec![
        rest("read", &serve.read, ALL_INTERFACES, 4466),
        rest("write", &serve.write, LOOPBACK, 4467),
        ListenerSpec {
            role: Role::Permission,
            name: "metrics",
            endpoint: serve.metrics.clone(),
            default_host: LOOPBACK,
            default_port: 4468,
            surface: Surface::MetricsOnly { path: METRICS_PATH },
            routes: Router::new(),
        },
        rest("opl", &serve.opl, LOOPBACK, 4469),
    ]
}
