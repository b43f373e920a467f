//! In-process adapters between roles: the proxy's [`proxy::SessionChecker`] over the identity
//! role's whoami and its [`proxy::TokenIntrospector`] over the oauth2 role's introspection,
//! used when the configured URL names one of this stack's own listeners ([`LocalListeners`]);
//! any other URL goes over HTTP exactly as Oathkeeper calls Kratos and Hydra.
//!
//! The adapters call the very functions the listeners route to, so the answer (status, body,
//! headers) is the one the HTTP path gets — without a TCP connection, a port or an HTTP parse
//! per decision; whoami's session JSON is handed over as a value, never written and parsed.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::body::{to_bytes, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;

use crate::config::{Role, ServeEndpoint};
use crate::proxy::{
    HttpClient, OutboundRequest, OutboundResponse, SessionChecker, TokenIntrospector,
};
use crate::{identity, oauth2};

/// Kratos' whoami path on the public port.
const WHOAMI: &str = "/sessions/whoami";
/// Hydra's introspection path on the admin port.
const INTROSPECT: &str = "/admin/oauth2/introspect";
/// Largest in-process answer read back (whoami and introspection bodies are a few KiB).
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// One bound listener of this stack and the names that reach it.
#[derive(Debug, Clone)]
struct Local {
    role: Role,
    name: &'static str,
    port: u16,
    /// Lower-case host names that mean this listener on `port`.
    hosts: Vec<String>,
    /// `serve.<name>.base_url` as (host, port), when configured.
    base: Option<(String, u16)>,
}

/// The stack's own listeners, filled by the composition root as it binds them (the proxy is
/// built before the ports are bound, so the adapters look this up per call).
#[derive(Debug, Clone, Default)]
pub struct LocalListeners(Arc<RwLock<Vec<Local>>>);

impl LocalListeners {
    /// Records a bound listener. `localhost`, `127.0.0.1` and `::1` count when it listens on
    /// loopback or on every interface; the configured `host` and the host:port of `base_url`
    /// always count.
    pub fn add(&self, role: Role, name: &'static str, bound: SocketAddr, endpoint: &ServeEndpoint) {
        let mut hosts = Vec::new();
        let ip = bound.ip();
        if ip.is_unspecified() || ip.is_loopback() {
            hosts.extend(["localhost", "127.0.0.1", "::1"].map(str::to_owned));
        }
        if !ip.is_unspecified() {
            hosts.push(ip.to_string());
        }
        if let Some(h) = endpoint.host.as_deref().filter(|h| !h.is_empty()) {
            hosts.push(h.trim_matches(['[', ']']).to_ascii_lowercase());
        }
        let base = endpoint
            .base_url
            .as_deref()
            .and_then(|b| url::Url::parse(b).ok())
            .and_then(|u| {
                Some((
                    u.host_str()?.to_ascii_lowercase(),
                    u.port_or_known_default()?,
                ))
            });
        let entry = Local {
            role,
            name,
            port: bound.port(),
            hosts,
            base,
        };
        let mut guard = match self.0.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.push(entry);
    }

    /// Whether `url` names the listener `(role, name)` of this stack.
    pub fn is(&self, role: Role, name: &str, url: &url::Url) -> bool {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return false;
        };
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let guard = match self.0.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard
            .iter()
            .filter(|l| l.role == role && l.name == name)
            .any(|l| {
                (l.port == port && l.hosts.contains(&host))
                    || l.base
                        .as_ref()
                        .is_some_and(|(h, p)| *h == host && *p == port)
            })
    }
}

/// Turns a handler's response into what the proxy's pipeline reads.
async fn collect(response: Response) -> Result<OutboundResponse, String> {
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|e| format!("reading the in-process answer: {e}"))?;
    Ok(OutboundResponse {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
        json: None,
    })
}

/// cookie_session / bearer_token against the identity role's whoami.
pub struct Sessions {
    pub identity: Option<identity::Service>,
    pub local: LocalListeners,
    pub http: HttpClient,
}

impl Sessions {
    async fn check(&self, request: OutboundRequest) -> Result<OutboundResponse, String> {
        let identity = match &self.identity {
            Some(s)
                if request.url.path() == WHOAMI
                    && self.local.is(Role::Identity, "public", &request.url) =>
            {
                s.clone()
            }
            _ => return self.http.send(request).await,
        };
        let mut headers = request.headers;
        // Kratos derives its public base URL from the Host header it receives.
        if let Some(host) = request.url.host_str() {
            let authority = match request.url.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.to_string(),
            };
            if let Ok(v) = HeaderValue::from_str(&authority) {
                headers.insert(header::HOST, v);
            }
        }
        let answer = identity::public::whoami_answer(
            &identity,
            &request.method,
            &headers,
            request.url.query(),
        )
        .await;
        match answer {
            Ok(answer) => Ok(OutboundResponse {
                status: 200,
                headers: answer.headers,
                body: Bytes::new(),
                json: Some(answer.body),
            }),
            Err(refusal) => collect(refusal).await,
        }
    }
}

impl SessionChecker for Sessions {
    fn check_session(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'_, Result<OutboundResponse, String>> {
        Box::pin(self.check(request))
    }
}

/// oauth2_introspection against the oauth2 role's introspection.
pub struct Introspection {
    pub oauth2: Option<oauth2::Oauth2>,
    pub local: LocalListeners,
    pub http: HttpClient,
}

impl Introspection {
    async fn run(&self, request: OutboundRequest) -> Result<OutboundResponse, String> {
        let state = match &self.oauth2 {
            Some(s)
                if request.method == Method::POST
                    && request.url.path() == INTROSPECT
                    && self.local.is(Role::Oauth2, "admin", &request.url) =>
            {
                s.clone()
            }
            _ => return self.http.send(request).await,
        };
        let response =
            match oauth2::admin::introspect(State(state), request.headers, request.body).await {
                Ok(r) => r,
                Err(e) => e.into_response(),
            };
        collect(response).await
    }
}

impl TokenIntrospector for Introspection {
    fn introspect(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'_, Result<OutboundResponse, String>> {
        Box::pin(self.run(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(host: Option<&str>, base: Option<&str>) -> ServeEndpoint {
        ServeEndpoint {
            host: host.map(str::to_owned),
            base_url: base.map(str::to_owned),
            ..Default::default()
        }
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn loopback_names_and_the_configured_host_count() {
        let local = LocalListeners::default();
        local.add(
            Role::Identity,
            "public",
            "0.0.0.0:4433".parse().unwrap(),
            &endpoint(Some("kratos"), None),
        );
        for u in [
            "http://127.0.0.1:4433/sessions/whoami",
            "http://localhost:4433/sessions/whoami",
            "http://LOCALHOST:4433/x",
            "http://[::1]:4433/x",
            "http://kratos:4433/x",
        ] {
            assert!(local.is(Role::Identity, "public", &url(u)), "{u}");
        }
        for u in [
            "http://127.0.0.1:4434/sessions/whoami",
            "http://127.0.0.2:4433/sessions/whoami",
            "http://kratos.example:4433/x",
        ] {
            assert!(!local.is(Role::Identity, "public", &url(u)), "{u}");
        }
        assert!(!local.is(Role::Identity, "admin", &url("http://127.0.0.1:4433/")));
    }

    #[test]
    fn a_listener_on_another_interface_is_not_reached_by_loopback_names() {
        let local = LocalListeners::default();
        local.add(
            Role::Oauth2,
            "admin",
            "10.1.2.3:4445".parse().unwrap(),
            &endpoint(Some("10.1.2.3"), None),
        );
        assert!(!local.is(Role::Oauth2, "admin", &url("http://127.0.0.1:4445/")));
        assert!(local.is(Role::Oauth2, "admin", &url("http://10.1.2.3:4445/")));
    }

    #[test]
    fn the_base_url_counts_with_its_own_port() {
        let local = LocalListeners::default();
        local.add(
            Role::Identity,
            "public",
            "127.0.0.1:40000".parse().unwrap(),
            &endpoint(None, Some("https://auth.example.com/")),
        );
        assert!(local.is(
            Role::Identity,
            "public",
            &url("https://auth.example.com/sessions/whoami")
        ));
        assert!(!local.is(
            Role::Identity,
            "public",
            &url("http://auth.example.com/sessions/whoami")
        ));
    }
}
