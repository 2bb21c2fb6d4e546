//! The NATS connection dispatches are published on, replaced instead of reconnected.
//!
//! Why not let async-nats reconnect: when a connection breaks, what had been written to it
//! reached JetStream only in part (a prefix of it), while what async-nats still held queued goes
//! out as soon as it reconnects. Sending the lost ones again afterwards would store them after
//! the queued ones, and a guild's events would be out of order. So this connection may
//! authenticate once only: after a break its one reconnect attempt fails, async-nats gives up
//! and drops what it held, nothing stale is ever sent; the supervisor here opens a new
//! connection (a new generation), and each shard sends everything not yet confirmed again, in
//! order. JetStream's duplicate window drops the ones that had been stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aegis_service::CancellationToken;
use async_nats::jetstream;
use async_nats::{AuthError, ConnectOptions, Event};
use tokio::sync::{mpsc, watch};

use crate::metrics::Metrics;

/// The publish connection as the shards see it.
#[derive(Clone, Debug)]
pub(crate) enum LinkState {
    /// No connection now (connecting, or just lost): the shards hold their dispatches.
    Down,
    /// Connection `generation` (1, 2, ...), usable until it breaks.
    Up {
        /// Which connection this is; a dispatch sent on an older one is sent again.
        generation: u64,
        /// Its JetStream context, shared: every dispatch takes a reference.
        js: Arc<jetstream::Context>,
    },
}

/// Starts the supervisor; the receiver follows the connection's state.
///
/// `in_flight` bounds the unacknowledged publishes of the whole process (every shard's window):
/// async-nats waits for a permit beyond it, and its default (5,000) would make a few busy
/// shards wait on each other.
pub(crate) fn spawn(
    url: String,
    in_flight: usize,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> watch::Receiver<LinkState> {
    let (tx, rx) = watch::channel(LinkState::Down);
    tokio::spawn(supervise(url, in_flight, tx, metrics, shutdown));
    rx
}

/// A connection that broke sooner than this after opening counts as a failure (backoff), so a
/// server that accepts and drops connections is not hammered.
const SHORT_LIVED: Duration = Duration::from_secs(5);

async fn supervise(
    url: String,
    in_flight: usize,
    state: watch::Sender<LinkState>,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let mut generation = 0;
    let mut failures: u32 = 0;
    loop {
        let (events, mut broken) = mpsc::unbounded_channel();
        let connected = tokio::select! {
            () = shutdown.cancelled() => return,
            connected = connect_once(&url, events) => connected,
        };
        match connected {
            Ok(client) => {
                generation += 1;
                if failures > 0 || generation > 1 {
                    tracing::info!(generation, "publishing on a new NATS connection");
                }
                let opened = tokio::time::Instant::now();
                let js = jetstream::ContextBuilder::new()
                    .max_ack_inflight(in_flight.max(1))
                    .build(client);
                state.send_replace(LinkState::Up {
                    generation,
                    js: Arc::new(js),
                });
                metrics.publish_link_up.set(1);
                metrics.publish_links.inc();
                let lost = tokio::select! {
                    () = shutdown.cancelled() => false,
                    () = until_broken(&mut broken) => true,
                };
                if !lost {
                    // Shards finish their last publishes on it; it goes when they drop it.
                    return;
                }
                metrics.publish_link_up.set(0);
                state.send_replace(LinkState::Down);
                tracing::warn!(
                    generation,
                    "the NATS connection for events broke; what it did not confirm goes again, in order, on a new one"
                );
                if opened.elapsed() < SHORT_LIVED {
                    failures = failures.saturating_add(1);
                    if !backoff(failures, &shutdown).await {
                        return;
                    }
                } else {
                    failures = 0;
                }
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(%url, failures, error = %err, "cannot connect to NATS to publish events; retrying");
                }
                if !backoff(failures, &shutdown).await {
                    return;
                }
            }
        }
    }
}

/// Sleeps 100 ms x 2^failures (up to 3.2 s, jittered); false when shutdown came first.
async fn backoff(failures: u32, shutdown: &CancellationToken) -> bool {
    let delay = Duration::from_millis(100 * 2_u64.pow(failures.min(5)));
    tokio::select! {
        () = shutdown.cancelled() => false,
        () = tokio::time::sleep(delay.mul_f64(0.5 + fastrand::f64() / 2.0)) => true,
    }
}

/// Returns once the connection reports a break.
async fn until_broken(events: &mut mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = events.recv().await {
        if matches!(
            event,
            Event::Disconnected | Event::Closed | Event::ClientError(_)
        ) {
            return;
        }
    }
}

/// A client that authenticates once: a reconnect after a break fails before anything is
/// written, and async-nats, allowed one attempt, drops the client's queue.
async fn connect_once(
    url: &str,
    events: mpsc::UnboundedSender<Event>,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let used = Arc::new(AtomicBool::new(false));
    ConnectOptions::with_auth_callback(move |_nonce| {
        let first = !used.swap(true, Ordering::SeqCst);
        async move {
            if first {
                Ok(async_nats::Auth::new())
            } else {
                Err(AuthError::new(
                    "events are published on a connection that is replaced, not reconnected",
                ))
            }
        }
    })
    .name("gateway-proxy-events")
    .connection_timeout(Duration::from_secs(5))
    // Dead connections found within seconds, not the default minutes.
    .ping_interval(Duration::from_secs(5))
    .max_reconnects(Some(1))
    .reconnect_delay_callback(|_| Duration::ZERO)
    .event_callback(move |event| {
        let events = events.clone();
        async move {
            let _ = events.send(event);
        }
    })
    .connect(url)
    .await
}
