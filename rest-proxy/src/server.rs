//! The listener workers talk to, and the background upkeep tasks.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use aegis_service::CancellationToken;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::App;
use crate::limiter::Store;

/// Accepts connections until `shutdown`, then lets requests in flight finish (up to 10 s).
pub(crate) async fn accept_loop(listener: TcpListener, app: Arc<App>, shutdown: CancellationToken) {
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = Arc::clone(&app);
        let service = service_fn(move |request| {
            let app = Arc::clone(&app);
            async move { Ok::<_, Infallible>(app.handle(request).await) }
        });
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "client connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after 10 s; closing their connections");
    }
}

/// Refreshes the invalid-request window (shared across instances) every second, checks Redis,
/// and prunes idle in-memory buckets every minute.
pub(crate) async fn upkeep(app: Arc<App>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut ticks: u64 = 0;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        ticks += 1;
        if let Store::Redis(redis) = app.limiter.store()
            && !redis.healthy()
        {
            redis.ping().await;
        }
        let count = app.limiter.invalid_count().await;
        app.guard.set_invalid(count);
        app.metrics.invalid_window.set(i64::from(count));
        if ticks.is_multiple_of(60) {
            match app.limiter.store() {
                Store::Memory(m) => m.prune(Duration::from_secs(600)),
                Store::Redis(r) => r.fallback.prune(Duration::from_secs(600)),
            }
        }
    }
}
