//! Graceful shutdown of a listener: after the signal, new connections are refused while a
//! request already in flight still completes.

use std::time::Duration;

use axum::routing::get;
use axum::Router;
use quartet::http::server;
use tokio::sync::{oneshot, watch};

#[tokio::test]
async fn in_flight_requests_finish_after_the_shutdown_signal() {
    let (entered_tx, entered_rx) = oneshot::channel::<()>();
    let entered = std::sync::Arc::new(std::sync::Mutex::new(Some(entered_tx)));
    let (release_tx, release_rx) = watch::channel(false);
    let router = Router::new().route(
        "/slow",
        get(move || {
            let entered = entered.clone();
            let signal = entered.lock().unwrap().take();
            let mut release = release_rx.clone();
            async move {
                if let Some(s) = signal {
                    let _ = s.send(());
                }
                let _ = release.wait_for(|r| *r).await;
                "done"
            }
        }),
    );
    let listener = server::bind("test", "api", "127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = tokio::spawn(server::serve(listener, router, stop_rx));

    let in_flight = tokio::spawn(async move {
        reqwest::get(format!("http://{addr}/slow"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    entered_rx.await.unwrap();
    stop_tx.send(true).unwrap();
    // Stop accepting: a new connection is refused while the slow request is still running.
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        refused,
        "the listener still accepts after the shutdown signal"
    );
    assert!(
        !server.is_finished(),
        "the server must wait for the in-flight request"
    );
    release_tx.send(true).unwrap();
    assert_eq!(in_flight.await.unwrap(), "done");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
