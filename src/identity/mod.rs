//! The identity role — Ory Kratos v1.1 on the wire: "WHO is this?". Identities, sessions and
//! self-service flows arrive with their issue; today the role declares its two ports (public
//! 4433, admin 4434 with every route under `/admin` and Kratos' 307 for other paths).

use axum::Router;

use crate::config::{IdentityConfig, Role};
use crate::http::listener::{api_surface, ALL_INTERFACES, LOOPBACK};
use crate::http::{ListenerSpec, Surface};

/// The role's listeners.
pub fn listeners(config: &IdentityConfig) -> Vec<ListenerSpec> {
    vec![
        ListenerSpec {
            role: Role::Identity,
            name: "public",
            endpoint: config.serve.public.clone(),
            default_host: ALL_INTERFACES,
            default_port: 4433,
            surface: api_surface(None),
            routes: Router::new(),
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
            routes: Router::new(),
        },
    ]
}
