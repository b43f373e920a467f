//! Outbound calls of the pipeline behind narrow traits: [`SessionChecker`] (cookie_session and
//! bearer_token → Kratos `/sessions/whoami`) and [`TokenIntrospector`] (oauth2_introspection →
//! Hydra `/admin/oauth2/introspect`), implemented over HTTP as Oathkeeper does
//! ([`HttpClient`]), and [`Outbound`], everything the pipeline calls out through (with the key
//! sets, the result caches and the clock). The composition root may swap in in-process
//! adapters.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::cache::Caches;
use super::http_client::{HttpClient, OutboundRequest, OutboundResponse};
use super::jwks::{KeyCache, DEFAULT_TTL};

/// "Who holds this session?" — the call cookie_session and bearer_token make.
pub trait SessionChecker: Send + Sync {
    /// `Err` is a transport failure (Oathkeeper answers 403 for those).
    fn check_session(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'_, Result<OutboundResponse, String>>;
}

/// "Is this token active?" — the form POST oauth2_introspection makes.
pub trait TokenIntrospector: Send + Sync {
    fn introspect(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'_, Result<OutboundResponse, String>>;
}

impl SessionChecker for HttpClient {
    fn check_session(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'_, Result<OutboundResponse, String>> {
        Box::pin(self.send(request))
    }
}

impl TokenIntrospector for HttpClient {
    fn introspect(
        &self,
        request: OutboundRequest,
    ) -> BoxFuture<'_, Result<OutboundResponse, String>> {
        Box::pin(self.send(request))
    }
}

/// The wall clock the pipeline reads (JWT `exp`/`iat`, cache expiry); injected so tests can
/// move time.
pub use crate::store::time::Clock;

/// The adapters the pipeline calls through.
#[derive(Clone)]
pub struct Outbound {
    pub sessions: Arc<dyn SessionChecker>,
    pub introspector: Arc<dyn TokenIntrospector>,
    pub http: HttpClient,
    /// JSON Web Key sets of the jwt authenticator and the id_token mutator.
    pub keys: Arc<KeyCache>,
    /// The result caches every rule shares.
    pub caches: Arc<Caches>,
    pub clock: Clock,
}

impl Outbound {
    /// Adapters over `http` for everything, the system clock, Oathkeeper's default JWKS ttl.
    pub fn over(http: HttpClient) -> Self {
        Self::with(Arc::new(http.clone()), Arc::new(http.clone()), http)
    }

    /// The given session/introspection adapters, the system clock, default JWKS ttl.
    pub fn with(
        sessions: Arc<dyn SessionChecker>,
        introspector: Arc<dyn TokenIntrospector>,
        http: HttpClient,
    ) -> Self {
        Self {
            sessions,
            introspector,
            keys: Arc::new(KeyCache::new(http.clone(), DEFAULT_TTL)),
            http,
            caches: Arc::default(),
            clock: Clock::system(),
        }
    }

    /// Unix seconds now.
    pub fn now_secs(&self) -> i64 {
        self.clock
            .now_system()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default()
    }
}
