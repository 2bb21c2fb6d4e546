//! gateway-proxy: holds every shard WebSocket of the bot and fans Discord's events into NATS
//! JetStream. It runs no bot logic.
//!
//! - [`GatewayProxy::start`] reads `GET /gateway/bot`, provisions the JetStream topology, and
//!   starts the owned shard range; [`run`] is the same for `main`, until shutdown.
//! - Each shard paces IDENTIFY through a twilight-gateway-queue [`Queue`](twilight_gateway_queue::Queue)
//!   (in memory, or [`RedisQueue`] across processes), heartbeats with jitter, detects zombied
//!   connections, resumes when Discord allows it and stops alone on fatal close codes.
//! - Every dispatch is published with the message id `{shard}:{session}:{seq}`, so what Discord
//!   replays after a resume lands once; the shard stops reading while its publish window is full
//!   (NATS down or slow), so nothing is dropped.
//! - Each shard's session is stored in Redis ([`SessionStore`]) with the last *acknowledged*
//!   sequence, so a restarted process, even after `kill -9`, resumes and loses nothing.

mod commands;
mod config;
mod frame;
mod gateway_info;
mod inflate;
mod link;
mod metrics;
mod queue;
mod session;
mod shard;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aegis_service::{
    CancellationToken, NatsError, OpsServer, Readiness, StatusRoute, service_registry,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use twilight_gateway_queue::{InMemoryQueue, Queue};

pub use config::{Compression, Config, DEFAULT_INTENTS, QueueKind, ShardRange, ShardTotal};
pub use gateway_info::{GatewayInfoError, fetch_gateway_info};
pub use inflate::InflateError;
pub use queue::RedisQueue;
pub use session::{SessionStore, SessionStoreError, StoredSession};
pub use status::{ShardBoard, ShardState, ShardStatus};

use metrics::Metrics;
use shard::{Publisher, Shard, ShardShared};

/// Why gateway-proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `GET /gateway/bot` failed (bad token, Discord or rest-proxy unreachable).
    #[error(transparent)]
    GatewayInfo(#[from] GatewayInfoError),
    /// The configured shard range does not fit the total.
    #[error("AEGIS_GATEWAY_SHARD_RANGE: {0}")]
    ShardRange(String),
    /// Redis (sessions, identify queue) is unreachable.
    #[error("cannot connect to Redis at {url}: {source}")]
    Redis {
        /// The configured URL.
        url: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// NATS is unreachable or refused the topology.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// The ops listener could not bind its address.
    #[error(transparent)]
    Ops(#[from] aegis_service::OpsBindError),
}

/// A running gateway-proxy.
#[derive(Debug)]
pub struct GatewayProxy {
    ops: OpsServer,
    ops_shutdown: CancellationToken,
    shutdown: CancellationToken,
    board: ShardBoard,
    tasks: JoinSet<()>,
    client: async_nats::Client,
}

impl GatewayProxy {
    /// Starts the owned shards; they run until [`stop`](Self::stop) or until `shutdown` is
    /// cancelled.
    pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Self, Error> {
        let mut registry = service_registry("gateway-proxy");
        let metrics = Metrics::register(&mut registry);
        let readiness = Readiness::new();

        let info = fetch_with_retries(&config).await?;
        let total = match config.shard_total {
            ShardTotal::Auto => info.shards.max(1),
            ShardTotal::Fixed(total) => total,
        };
        let owned = config
            .shard_range
            .resolve(total)
            .map_err(Error::ShardRange)?;
        let limit = &info.session_start_limit;
        tracing::info!(
            url = %info.url,
            total,
            first = owned.start(),
            last = owned.end(),
            max_concurrency = limit.max_concurrency,
            remaining = limit.remaining,
            "gateway information"
        );

        let redis_client =
            redis::Client::open(config.redis_url.as_str()).map_err(|source| Error::Redis {
                url: config.redis_url.clone(),
                source,
            })?;
        let redis = redis::aio::ConnectionManager::new(redis_client)
            .await
            .map_err(|source| Error::Redis {
                url: config.redis_url.clone(),
                source,
            })?;

        let (client, js) = config.nats.connect_and_provision("gateway-proxy").await?;
        let board = ShardBoard::new(owned.clone(), readiness.clone(), metrics.clone());
        let ops_shutdown = CancellationToken::new();
        let status = board.clone();
        let ops = OpsServer::bind_with_routes(
            config.ops_addr,
            Arc::new(registry),
            readiness,
            vec![StatusRoute::json("/shards", move || status.to_json())],
            ops_shutdown.clone(),
        )
        .await?;

        let max_concurrency = limit.max_concurrency.max(1);
        let queue: Arc<dyn Queue + Send + Sync> = match config.identify_queue {
            QueueKind::Memory => Arc::new(InMemoryQueue::new(
                max_concurrency,
                limit.remaining.min(limit.total),
                Duration::from_millis(limit.reset_after),
                limit.total,
            )),
            QueueKind::Redis => Arc::new(RedisQueue::new(
                redis.clone(),
                &config.redis_prefix,
                max_concurrency,
                config.identify_interval,
            )),
        };
        let topology = config.nats.topology.clone();
        let publisher = Publisher {
            subjects: topology.subjects(),
            partitions: topology.partitions,
        };
        // Every owned shard's window, and room for the acks of copies sent again.
        let in_flight = config
            .publish_window
            .saturating_mul(owned.clone().count())
            .saturating_mul(2);
        let link = link::spawn(
            config.nats.url.clone(),
            in_flight,
            metrics.clone(),
            shutdown.clone(),
        );
        let shared = Arc::new(ShardShared {
            sessions: SessionStore::new(redis, &config.redis_prefix, total),
            config,
            total,
            gateway_url: info.url,
            queue,
            publisher,
            link,
            board: board.clone(),
            metrics,
            shutdown: shutdown.clone(),
        });

        let mut tasks = JoinSet::new();
        for id in owned.clone() {
            let (to_shard, from_nats) = mpsc::channel(64);
            tasks.spawn(Shard::new(id, Arc::clone(&shared), from_nats).run());
            tasks.spawn(commands::forward_commands(
                client.clone(),
                js.clone(),
                topology.clone(),
                id,
                to_shard,
                shutdown.clone(),
            ));
        }
        tasks.spawn(report_progress(
            board.clone(),
            max_concurrency,
            shutdown.clone(),
        ));
        Ok(Self {
            ops,
            ops_shutdown,
            shutdown,
            board,
            tasks,
            client,
        })
    }

    /// The ops listener's address (`/metrics`, `/healthz`, `/readyz`, `/shards`).
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops.local_addr()
    }

    /// The status of every owned shard.
    pub fn shards(&self) -> Vec<ShardStatus> {
        self.board.snapshot()
    }

    /// Stops every shard (closing with a resumable code and storing sessions) and waits.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.stopped().await;
    }

    /// Waits until every shard has stopped (after the shutdown token was cancelled).
    pub async fn stopped(mut self) {
        while let Some(result) = self.tasks.join_next().await {
            if let Err(err) = result {
                tracing::error!(error = %err, "a shard task failed");
            }
        }
        if let Err(err) = self.client.flush().await {
            tracing::warn!(error = %err, "NATS did not flush at shutdown");
        }
        self.ops_shutdown.cancel();
        self.ops.stopped().await;
    }
}

/// Runs gateway-proxy until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let proxy = GatewayProxy::start(config, shutdown.clone()).await?;
    shutdown.cancelled().await;
    proxy.stopped().await;
    Ok(())
}

/// `GET /gateway/bot`, retried a few times for transient failures (rest-proxy starting up), but
/// not for a refused token.
async fn fetch_with_retries(
    config: &Config,
) -> Result<twilight_model::gateway::connection_info::BotConnectionInfo, GatewayInfoError> {
    let mut attempt = 0;
    loop {
        match fetch_gateway_info(&config.api_url, &config.token).await {
            Ok(info) => return Ok(info),
            Err(
                err @ GatewayInfoError::Status {
                    status: 401 | 403, ..
                },
            ) => return Err(err),
            Err(err) if attempt < 4 => {
                attempt += 1;
                tracing::warn!(error = %err, attempt, "GET /gateway/bot failed; retrying");
                tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Logs start-up progress every 5 s until every shard is ready.
async fn report_progress(board: ShardBoard, max_concurrency: u16, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
            () = shutdown.cancelled() => return,
        }
        let shards = board.snapshot();
        let total = shards.len();
        let ready = shards
            .iter()
            .filter(|s| s.state == ShardState::Ready)
            .count();
        let fatal = shards
            .iter()
            .filter(|s| s.state == ShardState::Fatal)
            .count();
        if ready + fatal == total {
            tracing::info!(ready, fatal, total, "all shards started");
            return;
        }
        let waiting = total - ready - fatal;
        let windows = waiting.div_ceil(usize::from(max_concurrency.max(1)));
        tracing::info!(
            ready,
            total,
            seconds_left = windows * 5,
            "identified {ready} of {total} shards"
        );
    }
}
