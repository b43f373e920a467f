//! Binding listeners and serving routers until shutdown: a port that cannot be bound is an
//! error naming the role, listener and address; after the shutdown signal a server stops
//! accepting and in-flight requests get a bounded grace period.

use std::net::SocketAddr;

use axum::Router;
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

/// Serves `router` on `listener` until `shutdown` turns true, then drains connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
}
