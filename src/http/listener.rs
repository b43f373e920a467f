//! What a role declares about each of its ports: the Ory listener name, where it binds by
//! default, which kernel routes it carries (health, version, metrics) and the role's own routes.

use axum::Router;

use crate::config::{Role, ServeEndpoint};

/// Default bind host of public-facing listeners (public, read, proxy), as Ory.
pub const ALL_INTERFACES: &str = "0.0.0.0";
/// Default bind host of every other listener (admin, write, API, metrics, OPL): loopback,
/// unless the config names a host — Ory binds everything and tells users to firewall.
pub const LOOPBACK: &str = "127.0.0.1";

/// The kernel routes a listener carries besides the role's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// An API port: `{prefix}/health/*`, `{version_prefix}/version`, optional metrics path;
    /// with `redirect_to_admin`, any other path outside `/admin` gets Kratos'/Hydra's 307 to
    /// `/admin<path>`.
    Api {
        health_prefix: &'static str,
        version_prefix: &'static str,
        metrics_path: Option<&'static str>,
        redirect_to_admin: bool,
    },
    /// A metrics-only port: the path and nothing else.
    MetricsOnly { path: &'static str },
    /// The reverse proxy: every path goes to the role; responses pass through untouched.
    Passthrough,
}

/// One port of one role.
pub struct ListenerSpec {
    pub role: Role,
    /// Ory's name for the listener (`public`, `admin`, `read`, `write`, `opl`, `metrics`,
    /// `proxy`, `api`, `prometheus`).
    pub name: &'static str,
    pub endpoint: ServeEndpoint,
    pub default_host: &'static str,
    pub default_port: u16,
    pub surface: Surface,
    /// The role's own routes on this port.
    pub routes: Router,
}

impl ListenerSpec {
    pub fn bind_addr(&self) -> String {
        self.endpoint
            .bind_addr(self.default_host, self.default_port)
    }
}

/// A plain API surface with health and version at the root and no metrics.
pub const fn api_surface(metrics_path: Option<&'static str>) -> Surface {
    Surface::Api {
        health_prefix: "",
        version_prefix: "",
        metrics_path,
        redirect_to_admin: false,
    }
}
