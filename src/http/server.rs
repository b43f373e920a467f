//! Binding listeners and serving routers until shutdown: a port that cannot be bound is an
//! error naming the role, listener and address; after the shutdown signal a server stops
//! accepting and in-flight requests get a bounded grace period. Every listener applies the
//! connection limits of [`ConnectionLimits`].

use std::net::SocketAddr;

use axum::Router;

use super::connection::{self, ConnectionLimits};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A port that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} for {role} ({listener}): {reason}")]
pub struct BindError {
    pub role: &'static str,
    pub listener: &'static str,
    pub addr: String,
    pub reason: String,
}

/// Binds `addr` for the named role listener.
pub async fn bind(
    role: &'static str,
    listener: &'static str,
    addr: &str,
) -> Result<TcpListener, BindError> {
    let fail = |reason: String| BindError {
        role,
        listener,
        addr: addr.to_string(),
        reason,
    };
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| fail(e.to_string()))?
        .collect();
    let first = resolved
        .first()
        .ok_or_else(|| fail("the host resolves to no address".into()))?;
    TcpListener::bind(first)
        .await
        .map_err(|e| fail(e.to_string()))
}

/// Serves `router` on `listener` until `shutdown` turns true, then drains connections, with
/// the default [`ConnectionLimits`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, ConnectionLimits::default()).await
}

/// [`serve`] with the configured connection limits (header read timeout, connection cap).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: watch::Receiver<bool>,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    connection::serve_connections(listener, router, shutdown, limits, false).await
}
