//! Outbound calls of the pipeline behind narrow traits: [`SessionChecker`] (cookie_session and
//! bearer_token → Kratos `/sessions/whoami`) and [`TokenIntrospector`] (oauth2_introspection →
//! Hydra `/admin/oauth2/introspect`), implemented over HTTP as Oathkeeper does ([`HttpClient`]).
//! The composition root may swap in in-process adapters.

use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use bytes::Bytes;
use futures::future::BoxFuture;

/// The largest response body an outbound call reads (sessions, introspection answers, remote
/// authorizer and hydrator answers); a larger one is a transport failure.
pub const MAX_RESPONSE_BODY: usize = 8 << 20;

/// One outbound HTTP request.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub method: Method,
    pub url: url::Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Its response.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body already decoded, when an in-process adapter has it as JSON (`body` is then
    /// empty): the pipeline reads it instead of parsing `body`.
    pub json: Option<serde_json::Value>,
}

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

/// Plain HTTP over a pooled `reqwest` client; also used by remote authorizers, the hydrator
/// and client-credentials grants.
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
}

impl HttpClient {
    pub fn new() -> Result<Self, String> {
        let client = crate::crypto::tls::http_client_builder()?
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Self { client })
    }

    pub async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, String> {
        let response = self
            .client
            .request(request.method, request.url)
            .headers(request.headers)
            .body(request.body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut response = response;
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_RESPONSE_BODY {
                return Err(format!(
                    "the response body is larger than {MAX_RESPONSE_BODY} bytes"
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse {
            status,
            headers,
            body: body.freeze(),
            json: None,
        })
    }
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
    pub keys: Arc<super::jwks::KeyCache>,
    /// The result caches every rule shares.
    pub caches: Arc<super::cache::Caches>,
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
            keys: Arc::new(super::jwks::KeyCache::new(
                http.clone(),
                super::jwks::DEFAULT_TTL,
            )),
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
