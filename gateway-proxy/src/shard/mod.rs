//! One shard: connect, identify or resume, read, publish; reconnect until told to stop.

mod connection;
mod limiter;
mod outbox;
mod publish;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aegis_service::CancellationToken;
use tokio::sync::{mpsc, oneshot, watch};
use twilight_gateway_queue::Queue;

pub(crate) use publish::Publisher;

use crate::Config;
use crate::link::LinkState;
use prometheus_client::metrics::counter::Counter;

use crate::metrics::{EventLabels, Metrics, ReasonLabels};
use crate::session::{SessionStore, StoredSession};
use crate::status::{ShardBoard, ShardState};
use outbox::{Confirmed, Outbox};

/// A gateway command for a shard's WebSocket, with where to say whether it went out.
#[derive(Debug)]
pub(crate) struct CommandRequest {
    /// The whole payload, `{"op":..,"d":..}`.
    pub(crate) payload: String,
    /// Answered with `Ok(())` once sent, or the reason it was not.
    pub(crate) done: oneshot::Sender<Result<(), String>>,
}

/// What every shard of the process shares.
pub(crate) struct ShardShared {
    pub(crate) config: Config,
    pub(crate) total: u32,
    pub(crate) gateway_url: String,
    pub(crate) queue: Arc<dyn Queue + Send + Sync>,
    pub(crate) sessions: SessionStore,
    pub(crate) publisher: Publisher,
    /// The connection dispatches are published on (see [`crate::link`]).
    pub(crate) link: watch::Receiver<LinkState>,
    pub(crate) board: ShardBoard,
    pub(crate) metrics: Metrics,
    pub(crate) shutdown: CancellationToken,
}

/// The session a shard resumes: Discord's id and URL, what was read and what JetStream acked.
#[derive(Clone, Debug)]
struct Session {
    id: Arc<str>,
    resume_url: String,
    /// Last sequence number read from Discord (sent in heartbeats and RESUME).
    seq: u64,
    /// Last sequence number acknowledged by JetStream (stored for a restart).
    acked: u64,
}

/// Why a connection ended.
#[derive(Debug)]
enum Exit {
    /// Shutdown: the connection was closed with a resumable code.
    Shutdown,
    /// Reconnect, resuming the session or not, after at least `wait`.
    Reconnect {
        reason: &'static str,
        resume: bool,
        wait: Duration,
    },
    /// Discord refused the shard for good (bad token, intents, sharding): stop this shard only.
    Fatal { code: u16, reason: String },
}

/// A shard's state across connections.
pub(crate) struct Shard {
    id: u32,
    shared: Arc<ShardShared>,
    session: Option<Session>,
    outbox: Outbox,
    commands: mpsc::Receiver<CommandRequest>,
    saved: Option<(Arc<str>, u64)>,
    failures: u32,
    /// This shard's `events` counters by event name, so counting a dispatch takes no
    /// allocation and no lock on the shared family.
    counters: HashMap<Box<str>, Counter>,
    /// The same for `events_excluded`.
    excluded_counters: HashMap<Box<str>, Counter>,
}

impl Shard {
    pub(crate) fn new(
        id: u32,
        shared: Arc<ShardShared>,
        commands: mpsc::Receiver<CommandRequest>,
    ) -> Self {
        let outbox = Outbox::new(id, shared.link.clone(), shared.metrics.clone());
        Self {
            id,
            shared,
            session: None,
            outbox,
            commands,
            saved: None,
            failures: 0,
            counters: HashMap::new(),
            excluded_counters: HashMap::new(),
        }
    }

    /// The counter of dispatches named `event` published (or, `excluded`, dropped) by this shard.
    fn event_counter(&mut self, event: &str, excluded: bool) -> &Counter {
        let (counters, family) = if excluded {
            (&mut self.excluded_counters, &self.shared.metrics.excluded)
        } else {
            (&mut self.counters, &self.shared.metrics.events)
        };
        if !counters.contains_key(event) {
            let labels = EventLabels {
                shard: self.id,
                event: event.to_owned(),
            };
            let counter = family.get_or_create(&labels).clone();
            counters.insert(Box::from(event), counter);
        }
        &counters[event]
    }

    /// Runs until shutdown or a fatal close.
    pub(crate) async fn run(mut self) {
        self.session = self.load_session().await;
        loop {
            self.shared.board.set_state(self.id, ShardState::Connecting);
            match self.connect_and_run().await {
                Exit::Shutdown => break,
                Exit::Fatal { code, reason } => {
                    tracing::error!(
                        shard = self.id,
                        code,
                        "shard stopped: Discord closed it with {code} ({reason}); fix the configuration and restart"
                    );
                    self.shared.board.update(self.id, |row| {
                        row.last_error = Some(format!("fatal close {code}: {reason}"))
                    });
                    self.shared.board.set_state(self.id, ShardState::Fatal);
                    // What was read before the close still goes to JetStream.
                    self.drain_outbox(Duration::from_secs(5)).await;
                    self.forget_session().await;
                    return;
                }
                Exit::Reconnect {
                    reason,
                    resume,
                    wait,
                } => {
                    self.shared
                        .metrics
                        .reconnects
                        .get_or_create(&ReasonLabels {
                            shard: self.id,
                            reason,
                        })
                        .inc();
                    self.shared.board.update(self.id, |row| {
                        row.reconnects += 1;
                        row.last_error = Some(reason.to_owned());
                    });
                    self.shared
                        .board
                        .set_state(self.id, ShardState::Reconnecting);
                    tracing::info!(shard = self.id, reason, resume, "reconnecting");
                    if !resume {
                        self.forget_session().await;
                    }
                    let delay = wait.max(self.backoff());
                    self.failures = self.failures.saturating_add(1);
                    let shutdown = self.shared.shutdown.clone();
                    let slept = self
                        .while_publishing(async move {
                            tokio::select! {
                                () = tokio::time::sleep(delay) => true,
                                () = shutdown.cancelled() => false,
                            }
                        })
                        .await;
                    if !slept {
                        break;
                    }
                }
            }
        }
        self.finish().await;
    }

    /// Reconnect delay: almost none after a clean session, then doubling up to a minute, with
    /// jitter so shards do not reconnect in lockstep.
    fn backoff(&self) -> Duration {
        let jitter = 0.5 + fastrand::f64() / 2.0;
        match self.failures {
            0 => Duration::from_millis(250).mul_f64(fastrand::f64()),
            n => Duration::from_millis(500 * 2_u64.pow((n - 1).min(7)))
                .min(Duration::from_secs(60))
                .mul_f64(jitter),
        }
    }

    /// Runs `wait` while the outbox goes on publishing (acks, a new NATS connection, retries):
    /// between Discord connections too, acks are consumed and the acked sequence moves.
    pub(super) async fn while_publishing<T>(&mut self, wait: impl Future<Output = T>) -> T {
        tokio::pin!(wait);
        loop {
            tokio::select! {
                biased;
                out = &mut wait => return out,
                confirmed = self.outbox.step() => if let Some(confirmed) = confirmed {
                    self.on_confirmed(confirmed);
                },
            }
        }
    }

    /// Waits up to `limit` for every dispatch read to be confirmed; false if some were not.
    async fn drain_outbox(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        while !self.outbox.is_empty() {
            tokio::select! {
                () = &mut deadline => return false,
                confirmed = self.outbox.step() => if let Some(confirmed) = confirmed {
                    self.on_confirmed(confirmed);
                },
            }
        }
        true
    }

    /// After shutdown: wait (briefly) for publishes in flight, then store the session.
    async fn finish(&mut self) {
        if !self.drain_outbox(Duration::from_secs(5)).await {
            tracing::warn!(
                shard = self.id,
                "publishes still unacknowledged at shutdown; Discord will replay them on resume"
            );
        }
        self.save_session().await;
        self.shared.board.set_state(self.id, ShardState::Stopped);
    }

    fn on_confirmed(&mut self, confirmed: Confirmed) {
        if let Some(session) = self
            .session
            .as_mut()
            .filter(|s| s.id == confirmed.session_id)
        {
            session.acked = session.acked.max(confirmed.seq);
            let acked = session.acked;
            self.shared
                .board
                .update(self.id, |row| row.acked_seq = acked);
        }
    }

    async fn load_session(&mut self) -> Option<Session> {
        match self.shared.sessions.load(self.id).await {
            Ok(Some(stored)) => {
                tracing::info!(
                    shard = self.id,
                    seq = stored.seq,
                    "found a stored session; resuming it"
                );
                Some(Session {
                    id: Arc::from(stored.session_id),
                    resume_url: stored.resume_url,
                    seq: stored.seq,
                    acked: stored.seq,
                })
            }
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(shard = self.id, error = %err, "cannot read the stored session; identifying");
                None
            }
        }
    }

    /// Stores the session if it changed since the last save. Only acknowledged events count.
    async fn save_session(&mut self) {
        let Some(session) = &self.session else { return };
        let current = (Arc::clone(&session.id), session.acked);
        if self.saved.as_ref() == Some(&current) {
            return;
        }
        let stored = StoredSession {
            session_id: session.id.to_string(),
            seq: session.acked,
            resume_url: session.resume_url.clone(),
        };
        match tokio::time::timeout(
            Duration::from_secs(2),
            self.shared.sessions.save(self.id, &stored),
        )
        .await
        {
            Ok(Ok(())) => self.saved = Some(current),
            Ok(Err(err)) => {
                tracing::warn!(shard = self.id, error = %err, "cannot store the session")
            }
            Err(_) => tracing::warn!(shard = self.id, "storing the session timed out"),
        }
    }

    async fn forget_session(&mut self) {
        self.session = None;
        self.saved = None;
        self.shared
            .board
            .update(self.id, |row| row.session_id = None);
        if let Err(err) = self.shared.sessions.clear(self.id).await {
            tracing::warn!(shard = self.id, error = %err, "cannot clear the stored session");
        }
    }
}
