//! The oauth2 role — Ory Hydra v2.2 on the wire: "which TOKEN?". Clients, grants, challenges
//! and keys arrive with their issue; today the role declares its two ports (public 4444, admin
//! 4445 with health and version unprefixed, everything else under `/admin` and a 307 there).

use axum::Router;

use crate::config::{Oauth2Config, Role};
use crate::http::listener::{api_surface, ALL_INTERFACES, LOOPBACK};
use crate::http::{ListenerSpec, Surface};

/// The role's listeners.
pub fn listeners(config: &Oauth2Config) -> Vec<ListenerSpec> {
    vec![
        ListenerSpec {
            role: Role::Oauth2,
            name: "public",
            endpoint: config.serve.public.clone(),
            default_host: ALL_INTERFACES,
            default_port: 4444,
            surface: api_surface(None),
            routes: Router::new(),
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
            routes: Router::new(),
        },
    ]
}
