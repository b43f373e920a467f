//! Serving a router with per-connection state: every accepted client connection gets a
//! [`ConnectionTasks`] (in each request's extensions) whose futures are polled by that
//! connection's own task, and typed per-connection values.
//!
//! The proxy keeps its HTTP/1 upstream connection here: the upstream connection is driven by
//! the same task that serves the client, so a proxied request costs no wake-up of another task
//! (a pooled client's connection task and dispatch channel cost two per request).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Service;

/// Futures and values that live as long as one client connection.
#[derive(Clone, Default)]
pub struct ConnectionTasks {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    futures: FuturesUnordered<BoxFuture<'static, ()>>,
    waker: Option<Waker>,
    locals: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl ConnectionTasks {
    /// Runs `future` on the connection's task until it ends or the connection closes.
    pub fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        let mut inner = self.lock();
        inner.futures.push(Box::pin(future));
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
    }

    /// The connection's value of type `T`, created on first use.
    pub fn local<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut inner = self.lock();
        let value = inner
            .locals
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        match Arc::clone(value).downcast::<T>() {
            Ok(v) => v,
            // The map is keyed by the type id, so the entry always has type T.
            Err(_) => Arc::new(T::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Polls the spawned futures; never completes.
    fn drive(&self) -> Drive {
        Drive(self.clone())
    }
}

struct Drive(ConnectionTasks);

impl Future for Drive {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The futures are polled without the lock held, so that one of them may spawn another.
        let mut running = std::mem::take(&mut self.0.lock().futures);
        loop {
            while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
            let mut inner = self.0.lock();
            match &inner.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => inner.waker = Some(cx.waker().clone()),
            }
            let added = std::mem::take(&mut inner.futures);
            if added.is_empty() {
                inner.futures = running;
                return Poll::Pending;
            }
            drop(inner);
            running.extend(added);
        }
    }
}

/// Serves `router` on `listener` (HTTP/1.1 with upgrades, and h2c) with a [`ConnectionTasks`]
/// and the peer's [`ConnectInfo`] in every request, until `shutdown` turns true; then stops
/// accepting, lets each connection finish its in-flight request, and returns when all are
/// closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (open_tx, open_rx) = watch::channel(());
    let connection_shutdown = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = serve_connection(stream, peer, router.clone(), connection_shutdown.clone());
                    let open = open_rx.clone();
                    tokio::spawn(async move {
                        connection.await;
                        drop(open);
                    });
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(error) => {
                    tracing::debug!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = stopped(&mut shutdown) => break,
        }
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}

/// Resolves once `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let tasks = ConnectionTasks::default();
    let per_request = tasks.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(per_request.clone());
        router.clone().call(request.map(axum::body::Body::new))
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut drive = tasks.drive();
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "client connection ended with an error");
                }
                break;
            }
            () = &mut drive => {}
            () = stopped(&mut shutdown), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicUsize);

    #[test]
    fn a_local_value_is_created_once_per_connection() {
        let tasks = ConnectionTasks::default();
        tasks
            .local::<Counter>()
            .0
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let again = tasks.local::<Counter>();
        assert_eq!(again.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        let other = ConnectionTasks::default();
        assert_eq!(
            other
                .local::<Counter>()
                .0
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    #[tokio::test]
    async fn spawned_futures_run_on_the_driving_task() {
        let tasks = ConnectionTasks::default();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let drive = tasks.drive();
        tasks.spawn(async move {
            let _ = tx.send(42);
        });
        let got = tokio::select! {
            v = rx => v.ok(),
            () = drive => None,
        };
        assert_eq!(got, Some(42));
    }
}
