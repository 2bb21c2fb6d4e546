//! scheduler: durable timed work. Any number may run.
//!
//! Timers live in PostgreSQL (`scheduled_actions`, see aegis-storage's [`Timers`]). Each round, a
//! scheduler claims due timers, oldest first, with `FOR UPDATE SKIP LOCKED` and a lease, publishes
//! each as a [`Job`] on `aegis.jobs.{kind}` with the message id `timer:{id}:{due ms}`, waits for JetStream's
//! acks, and marks them dispatched. Every failure mode ends in one job:
//!
//! - two schedulers never claim the same timer (row locks, skipped not waited on);
//! - a scheduler that dies between claim and publish leaves the timer to be claimed again when the
//!   lease runs out;
//! - one that dies between publish and marking makes the next claimer publish it again, and
//!   JetStream drops the copy (same message id, inside the duplicate window, which the lease must be
//!   shorter than);
//! - after downtime, overdue timers are claimed at start-up in due order.
//!
//! Workers execute jobs idempotently and complete the row.

mod config;
mod metrics;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::{Envelope, Job, PROTOCOL_VERSION, Subjects, headers};
use aegis_service::{CancellationToken, NatsError, OpsServer, Readiness, service_registry};
use aegis_storage::{Database, DueTimer, NewTimer, StorageError, Timers};
use async_nats::jetstream;
use tokio::task::JoinHandle;

pub use config::Config;

use metrics::{KindLabels, Metrics};

/// Why a scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// PostgreSQL unreachable or migrations failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// NATS unreachable or the topology refused.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// The ops listener could not bind its address.
    #[error(transparent)]
    Ops(#[from] aegis_service::OpsBindError),
}

/// A running scheduler.
#[derive(Debug)]
pub struct Scheduler {
    ops: OpsServer,
    ops_shutdown: CancellationToken,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

struct Dispatcher {
    timers: Timers,
    js: jetstream::Context,
    subjects: Subjects,
    metrics: Metrics,
    config: Config,
    readiness: Readiness,
}

impl Scheduler {
    /// Connects (migrating the database) and starts dispatching due timers.
    pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Self, Error> {
        let mut registry = service_registry("scheduler");
        let metrics = Metrics::register(&mut registry);
        let readiness = Readiness::new();
        readiness.register("postgres");
        let database =
            Database::connect(&config.storage.database_url, config.storage.pool_size).await?;
        let (_client, js) = config.nats.connect_and_provision("scheduler").await?;
        let ops_shutdown = CancellationToken::new();
        let ops = OpsServer::bind(
            config.ops_addr,
            Arc::new(registry),
            readiness.clone(),
            ops_shutdown.clone(),
        )
        .await?;
        let timers = Timers::new(database.pool().clone());
        ensure_retention(&timers, &config).await?;
        let dispatcher = Dispatcher {
            timers,
            js,
            subjects: config.nats.topology.subjects(),
            metrics,
            config,
            readiness,
        };
        let task = tokio::spawn(dispatcher.run(shutdown.clone()));
        Ok(Self {
            ops,
            ops_shutdown,
            shutdown,
            task,
        })
    }

    /// The ops listener's address.
    pub fn ops_addr(&self) -> std::net::SocketAddr {
        self.ops.local_addr()
    }

    /// Stops after the round in progress and waits.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.stopped().await;
    }

    /// Waits until the scheduler has stopped after its shutdown token was cancelled.
    pub async fn stopped(self) {
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "scheduler task failed");
        }
        self.ops_shutdown.cancel();
        self.ops.stopped().await;
    }
}

/// Sets up the recurring retention purges (one timer per table, first run now; the worker that
/// runs one sets the next). Tables kept forever get none; a pending one is cancelled.
async fn ensure_retention(timers: &Timers, config: &Config) -> Result<(), StorageError> {
    for (table, age) in &config.retention {
        let key = format!("retention:{}", table.name());
        let Some(age) = age else {
            timers.cancel(&key).await?;
            continue;
        };
        let timer = NewTimer {
            kind: "retention".to_owned(),
            guild_id: None,
            payload: serde_json::json!({
                "table": table.name(),
                "max_age_secs": age.as_secs(),
                "every_secs": config.retention_every.as_secs(),
            }),
            due_at: SystemTime::now(),
            dedupe_key: key,
        };
        timers.ensure(&timer).await?;
    }
    Ok(())
}

/// Runs a scheduler until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let scheduler = Scheduler::start(config, shutdown.clone()).await?;
    shutdown.cancelled().await;
    scheduler.stopped().await;
    Ok(())
}

fn millis_since_epoch(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Dispatcher {
    async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let sleep = match self.round().await {
                Ok(true) => Duration::ZERO, // a full batch: more may be due right now
                Ok(false) => self.until_next_due().await,
                Err(err) => {
                    tracing::warn!(error = %err, "scheduler round failed; retrying");
                    self.readiness.set("postgres", false);
                    self.config.poll_interval
                }
            };
            if !sleep.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(sleep) => {}
                    () = shutdown.cancelled() => {}
                }
            }
        }
    }

    /// Sleeps no longer than the poll interval, less when the next timer is due sooner.
    async fn until_next_due(&self) -> Duration {
        let poll = self.config.poll_interval;
        match self.timers.next_due().await {
            Ok(Some(due)) => due
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
                .min(poll)
                .max(Duration::from_millis(5)),
            _ => poll,
        }
    }

    /// Claims, publishes and marks one batch; `true` if the batch was full.
    async fn round(&self) -> Result<bool, StorageError> {
        let due = self
            .timers
            .claim_due(self.config.claim_batch, self.config.lease)
            .await?;
        self.readiness.set("postgres", true);
        if let Ok(count) = self.timers.due_count().await {
            self.metrics.due.set(count);
        }
        if due.is_empty() {
            return Ok(false);
        }
        self.metrics.claimed.inc_by(due.len() as u64);
        let reclaimed = due.iter().filter(|t| t.attempts > 1).count();
        self.metrics.reclaimed.inc_by(reclaimed as u64);
        let published = self.publish(&due).await;
        self.timers.mark_dispatched(&published).await?;
        Ok(i64::try_from(due.len()).unwrap_or(i64::MAX) >= self.config.claim_batch)
    }

    /// Publishes every claimed timer, acks awaited together; returns the ids JetStream stored.
    async fn publish(&self, due: &[DueTimer]) -> Vec<i64> {
        let mut pending = Vec::with_capacity(due.len());
        for timer in due {
            let due_ms = millis_since_epoch(timer.due_at);
            let attempt = u32::try_from(timer.attempts).unwrap_or(1);
            let job = Job::new(
                timer.id.to_string(),
                timer.kind.clone(),
                timer.guild_id,
                due_ms,
                &timer.payload,
            )
            .map(|job| Job { attempt, ..job })
            .and_then(|job| job.encode());
            let payload = match job {
                Ok(payload) => payload,
                Err(err) => {
                    tracing::error!(timer = timer.id, error = %err, "cannot encode a job");
                    continue;
                }
            };
            let mut hdrs = async_nats::HeaderMap::new();
            // The due time makes each schedule of a timer its own message: a re-publish of one claim is
            // dropped as a duplicate, a timer its job rescheduled fires again.
            let message_id = format!("timer:{}:{due_ms}", timer.id);
            hdrs.insert(headers::MESSAGE_ID, message_id.as_str());
            hdrs.insert(headers::VERSION, PROTOCOL_VERSION.to_string().as_str());
            hdrs.insert(headers::JOB_KIND, timer.kind.as_str());
            if let Some(guild) = timer.guild_id {
                hdrs.insert(headers::GUILD_ID, guild.to_string().as_str());
            }
            match self
                .js
                .publish_with_headers(self.subjects.job(&timer.kind), hdrs, payload)
                .await
            {
                Ok(ack) => pending.push((timer, ack)),
                Err(err) => {
                    tracing::warn!(timer = timer.id, error = %err, "cannot publish a job; it fires after its lease")
                }
            }
        }
        let mut published = Vec::with_capacity(pending.len());
        for (timer, ack) in pending {
            match ack.await {
                Ok(ack) if ack.duplicate => {
                    // Fired before by a scheduler that died before marking it.
                    published.push(timer.id);
                    self.metrics.duplicates.inc();
                }
                Ok(_) => {
                    published.push(timer.id);
                    let late = SystemTime::now()
                        .duration_since(timer.due_at)
                        .unwrap_or(Duration::ZERO);
                    self.metrics.lateness.observe(late.as_secs_f64());
                    self.metrics
                        .fired
                        .get_or_create(&KindLabels {
                            kind: timer.kind.clone(),
                        })
                        .inc();
                }
                Err(err) => {
                    self.metrics.publish_failures.inc();
                    tracing::warn!(timer = timer.id, error = %err, "job not acknowledged; it fires after its lease");
                }
            }
        }
        published
    }
}
