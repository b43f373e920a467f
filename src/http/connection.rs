//! Serving a router with per-connection state: every accepted client connection gets a
//! [`ConnectionTasks`] (in each request's extensions) whose futures are polled by that
//! connection's own task, and typed per-connection values.
//!
//! Every listener serves through here, with [`ConnectionLimits`]: a bound on how long a client
//! may take to send request headers (slowloris; also closes kept-alive and fresh connections
//! that send nothing) and on how many connections are served at once. Both cost O(1) per
//! connection (a semaphore permit, one interval timer); per request, hyper's header deadline is
//! a boxed instant compared with the clock ([`PolledTimer`]) — no timer-wheel entry, no lock —
//! and the first-request check is one relaxed atomic load.
//!
//! The proxy keeps its HTTP/1 upstream connection here: the upstream connection is driven by
//! the same task that serves the client, so a proxied request costs no wake-up of another task
//! (a pooled client's connection task and dispatch channel cost two per request).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::Service;

use crate::config::HttpConfig;

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

/// What every listener enforces on its client connections (the top-level `http:` keys
/// `header_read_timeout_seconds` and `max_connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a client has to send a request's headers, counted from the moment the server
    /// waits for them: after accepting the connection and again after each response on a
    /// kept-alive HTTP/1 connection. `None`: no limit.
    pub header_read_timeout: Option<Duration>,
    /// Most connections served at once (at least 1); the next connection is accepted only when
    /// one of them has closed (it waits in the kernel's backlog meanwhile). A connection
    /// upgraded to another protocol (WebSocket through the proxy) no longer counts.
    pub max_connections: usize,
}

impl ConnectionLimits {
    pub fn from_config(http: &HttpConfig) -> Self {
        Self {
            header_read_timeout: (http.header_read_timeout_seconds > 0)
                .then(|| Duration::from_secs(http.header_read_timeout_seconds)),
            max_connections: http.max_connections.clamp(1, Semaphore::MAX_PERMITS),
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self::from_config(&HttpConfig::default())
    }
}

/// How long an HTTP/2 connection may go without hearing from the peer before a ping is sent,
/// and how long the ping's acknowledgement may take before the connection is closed.
const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);
const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The hyper connection builder of one listener: HTTP/1.1 with hyper's header read timeout
/// (which also closes kept-alive connections that send no next request), h2c with keep-alive
/// pings; both on [`PolledTimer`].
fn connection_builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(PolledTimer)
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(PolledTimer)
        .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
    builder
}

/// hyper's timer, kept off the runtime's shared timer wheel: hyper arms a header timer for
/// every request it waits for, and a timer-wheel entry costs two global-lock round trips. A
/// [`Deadline`] is only an instant compared with the clock when hyper polls it; hyper polls it
/// from the connection's own task, which [`serve_connection`] wakes every [`tick`] — so a
/// passed deadline is acted on within one tick, and per request nothing is registered.
#[derive(Debug, Clone, Copy)]
struct PolledTimer;

impl hyper::rt::Timer for PolledTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let now = Instant::now();
        Box::pin(Deadline(
            now.checked_add(duration).unwrap_or(now + FAR_FUTURE),
        ))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(Deadline(deadline))
    }
}

/// About thirty years: "never" for a deadline that would overflow `Instant`.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// A point in time that is ready once passed (see [`PolledTimer`]).
struct Deadline(Instant);

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        // No waker is registered: the connection's tick re-polls (see `PolledTimer`).
        if Instant::now() >= self.0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl hyper::rt::Sleep for Deadline {}

/// How often a connection's task wakes to let hyper see its passed deadlines: half the header
/// timeout (so a connection is closed between one and one and a half timeouts), at most every
/// 10 s (HTTP/2 keep-alive pings), at least every 50 ms.
fn tick(limits: &ConnectionLimits) -> Duration {
    limits
        .header_read_timeout
        .map_or(H2_KEEP_ALIVE_TIMEOUT / 2, |t| t / 2)
        .clamp(Duration::from_millis(50), H2_KEEP_ALIVE_TIMEOUT / 2)
}

/// Serves `router` on `listener` (HTTP/1.1 with upgrades, and h2c) with a [`ConnectionTasks`]
/// and the peer's [`ConnectInfo`] in every request, until `shutdown` turns true; then stops
/// accepting, lets each connection finish its in-flight request, and returns when all are
/// closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: watch::Receiver<bool>,
    limits: ConnectionLimits,
) -> std::io::Result<()> {
    serve_connections(listener, router, shutdown, limits, true).await
}

/// [`serve`], with or without a [`ConnectionTasks`] per connection (`with_tasks`): the
/// connection limits apply either way.
pub(crate) async fn serve_connections(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
    limits: ConnectionLimits,
    with_tasks: bool,
) -> std::io::Result<()> {
    let (open_tx, open_rx) = watch::channel(());
    let connection_shutdown = shutdown.clone();
    let builder = Arc::new(connection_builder(&limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // A connection is accepted only with a free slot; meanwhile new ones wait in the
        // kernel's backlog and the ones being served are unaffected.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = stopped(&mut shutdown) => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = serve_connection(ClientConnection {
                        stream,
                        peer,
                        router: router.clone(),
                        shutdown: connection_shutdown.clone(),
                        builder: Arc::clone(&builder),
                        first_request_within: limits.header_read_timeout,
                        tick: tick(&limits),
                        with_tasks,
                    });
                    let open = open_rx.clone();
                    tokio::spawn(async move {
                        connection.await;
                        drop(slot);
                        drop(open);
                    });
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(error) => {
                    drop(slot);
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

/// One accepted client connection and what serving it needs.
struct ClientConnection {
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    shutdown: watch::Receiver<bool>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    /// The first request's headers must have arrived this long after the accept: hyper's own
    /// header timeout starts only once the protocol is known, and a client that sends nothing
    /// at all (or only an HTTP/2 preface) never gets that far.
    first_request_within: Option<Duration>,
    /// How often the connection's task wakes (see [`PolledTimer`]).
    tick: Duration,
    with_tasks: bool,
}

async fn serve_connection(c: ClientConnection) {
    let ClientConnection {
        stream,
        peer,
        router,
        mut shutdown,
        builder,
        first_request_within,
        tick: every,
        with_tasks,
    } = c;
    let accepted = Instant::now();
    let tasks = with_tasks.then(ConnectionTasks::default);
    let per_request = tasks.clone();
    let seen_request = Arc::new(AtomicBool::new(false));
    let saw = Arc::clone(&seen_request);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // One relaxed load per request; the store happens once per connection.
        if !saw.load(Ordering::Relaxed) {
            saw.store(true, Ordering::Relaxed);
        }
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(tasks) = &per_request {
            request.extensions_mut().insert(tasks.clone());
        }
        router.clone().call(request.map(axum::body::Body::new))
    });
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut drive = std::pin::pin!(async {
        match &tasks {
            Some(tasks) => tasks.drive().await,
            None => std::future::pending().await,
        }
    });
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watching = first_request_within.is_some();
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
            // Waking is the point: the next round polls the connection, whose timers compare
            // their deadlines with the clock.
            _ = ticks.tick() => {
                if watching {
                    if seen_request.load(Ordering::Relaxed) {
                        watching = false;
                    } else if first_request_within.is_some_and(|t| accepted.elapsed() >= t) {
                        tracing::debug!(%peer, "client sent no request in time; closing the connection");
                        break;
                    }
                }
            }
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

    #[test]
    fn limits_come_from_the_http_section() {
        let mut http = HttpConfig::default();
        let limits = ConnectionLimits::from_config(&http);
        assert_eq!(limits.header_read_timeout, Some(Duration::from_secs(10)));
        assert_eq!(limits.max_connections, 10_000);
        http.header_read_timeout_seconds = 0;
        http.max_connections = 0;
        let limits = ConnectionLimits::from_config(&http);
        assert_eq!(limits.header_read_timeout, None);
        assert_eq!(limits.max_connections, 1);
        http.max_connections = usize::MAX;
        assert_eq!(
            ConnectionLimits::from_config(&http).max_connections,
            Semaphore::MAX_PERMITS
        );
    }

    /// The header timeout bounds only the wait for request headers: a request whose handler
    /// takes longer than it still gets its answer, on a connection that keeps serving.
    #[tokio::test]
    async fn a_slow_handler_outlives_the_header_timeout() {
        let release = Arc::new(tokio::sync::Notify::new());
        let gate = Arc::clone(&release);
        let router = Router::new().route(
            "/slow",
            axum::routing::get(move || {
                let gate = Arc::clone(&gate);
                async move {
                    gate.notified().await;
                    "done"
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let limits = ConnectionLimits {
            header_read_timeout: Some(Duration::from_millis(200)),
            max_connections: 4,
        };
        let server = tokio::spawn(serve_connections(listener, router, stop_rx, limits, false));
        let http = reqwest::Client::new();
        let request = tokio::spawn({
            let http = http.clone();
            async move { http.get(format!("http://{addr}/slow")).send().await }
        });
        // Three header timeouts pass while the handler works.
        tokio::time::sleep(Duration::from_millis(600)).await;
        release.notify_one();
        let response = request.await.unwrap().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "done");
        let _ = stop_tx.send(true);
        server.await.unwrap().unwrap();
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
