//! Aegis workers: stateless, any number. They consume what gateway-proxy and the scheduler
//! publish, act through rest-proxy and record in PostgreSQL.
//!
//! What runs today:
//! - **Guild events in per-guild order.** The worker takes a fair share of the guild-event
//!   partitions through Redis leases ([`consume`](crate) module), consumes each held partition one
//!   event at a time, acks only after the effect is committed, retries transient failures in
//!   order with backoff, and moves a message that keeps failing to `aegis.dead.events` with its
//!   error. Partitions move to other workers within a lease period when one joins, leaves or dies.
//! - **Native moderation as cases.** Bans, unbans, kicks and timeouts done in Discord's UI
//!   (`GUILD_AUDIT_LOG_ENTRY_CREATE`) become cases with source `native`, once per audit-log entry,
//!   skipping the bot's own actions.
//!
//! Slash commands and interactions arrive with rest-proxy (see the README's status).

mod commands;
mod config;
mod consume;
mod handlers;
mod metrics;
mod transcripts;

use std::sync::Arc;

use aegis_service::{CancellationToken, NatsError, OpsServer, Readiness, service_registry};
use aegis_storage::{Cases, Database, Settings, StorageError, Timers};
use tokio::task::JoinHandle;

pub use commands::UserLimit;
pub use config::Config;

use consume::{ConsumeContext, Leases, Work, consume_work, supervise_partitions};
use handlers::Handlers;
use metrics::Metrics;

/// Why a worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// PostgreSQL unreachable or migrations failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Redis unreachable.
    #[error("cannot connect to Redis at {url}: {source}")]
    Redis {
        /// The configured URL.
        url: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// NATS unreachable or the topology refused.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// The ops listener could not bind its address.
    #[error(transparent)]
    Ops(#[from] aegis_service::OpsBindError),
}

/// A running worker.
#[derive(Debug)]
pub struct Worker {
    ops: OpsServer,
    ops_shutdown: CancellationToken,
    shutdown: CancellationToken,
    partitions: JoinHandle<()>,
    context: Arc<ConsumeContext>,
}

impl Worker {
    /// Connects to PostgreSQL (migrating it), Redis and NATS and starts consuming.
    pub async fn start(config: Config, shutdown: CancellationToken) -> Result<Self, Error> {
        let mut registry = service_registry("workers");
        let metrics = Metrics::register(&mut registry);
        let readiness = Readiness::new();
        readiness.register("partition-leases");

        let storage = &config.storage;
        let database = Database::connect(&storage.database_url, storage.pool_size).await?;
        let redis_error = |source| Error::Redis {
            url: storage.redis_url.clone(),
            source,
        };
        let redis_client = redis::Client::open(storage.redis_url.as_str()).map_err(redis_error)?;
        let redis = redis::aio::ConnectionManager::new(redis_client)
            .await
            .map_err(redis_error)?;
        let (_client, js) = config.nats.connect_and_provision("workers").await?;

        let ops_shutdown = CancellationToken::new();
        let ops = OpsServer::bind(
            config.ops_addr,
            Arc::new(registry),
            readiness.clone(),
            ops_shutdown.clone(),
        )
        .await?;

        let http = twilight_http::Client::builder()
            .proxy(config.rest_proxy.clone(), true)
            .ratelimiter(None)
            .timeout(std::time::Duration::from_secs(10))
            .build();
        let commands = commands::Commands {
            http: Arc::new(http),
            pool: database.pool().clone(),
            settings: Settings::new(
                database.pool().clone(),
                Some(redis.clone()),
                &storage.redis_prefix,
            ),
            bot_user_id: config.bot_user_id,
            js: js.clone(),
            subjects: config.nats.topology.subjects(),
            transcripts: Arc::new(transcripts::Transcripts::new(
                config.transcripts.clone(),
                config.transcript_limits.clone(),
                config.transcripts_url.clone(),
            )),
            tickets: aegis_storage::Tickets::new(database.pool().clone()),
            categories: aegis_storage::Categories::new(database.pool().clone()),
            guilds: commands::GuildCache::new(Some(redis.clone()), &storage.redis_prefix),
            limiter: config.user_limit.map(|limit| commands::Limiter {
                redis: redis.clone(),
                prefix: storage.redis_prefix.clone(),
                limit,
            }),
            defer_after: config.defer_after,
        };
        if config.register_commands {
            let guild = config
                .commands_guild
                .and_then(twilight_model::id::Id::new_checked);
            match commands::register(&commands, guild).await {
                Ok(count) => tracing::info!(count, "slash commands registered"),
                // Registration is idempotent and repeated at every start: a failure now is not
                // worth refusing to consume events over.
                Err(err) => tracing::warn!(error = %err, "cannot register slash commands"),
            }
        }
        let topology = config.nats.topology.clone();
        let worker_id = format!("{}-{}", std::process::id(), fastrand::u64(..));
        let lease_prefix = format!("{}:{}", storage.redis_prefix, topology.namespace);
        let leases = Leases::new(
            redis,
            lease_prefix,
            worker_id.clone(),
            topology.partitions.get(),
            config.lease_ttl,
        );
        let context = Arc::new(ConsumeContext {
            js,
            topology,
            handlers: Handlers {
                commands: commands.clone(),
                pool: database.pool().clone(),
                cases: Cases::new(database.pool().clone()),
                timers: Timers::new(database.pool().clone()),
                bot_user_id: config.bot_user_id,
                not_tickets: handlers::NotTickets::default(),
            },
            metrics,
            max_deliveries: config.max_deliveries,
            held: std::sync::Mutex::default(),
        });
        tracing::info!(worker_id, "worker started");
        let supervisor = supervise_partitions(
            Arc::clone(&context),
            leases,
            config.lease_ttl,
            readiness,
            shutdown.clone(),
        );
        let jobs = consume_work(
            Arc::clone(&context),
            Work::Jobs,
            config.concurrency,
            shutdown.clone(),
        );
        let interactions = consume_work(
            Arc::clone(&context),
            Work::Interactions,
            config.concurrency,
            shutdown.clone(),
        );
        // One task, so aborting it (a crash, in tests) stops them all at once.
        let partitions = tokio::spawn(async move {
            tokio::join!(supervisor, jobs, interactions);
        });
        Ok(Self {
            ops,
            ops_shutdown,
            shutdown,
            partitions,
            context,
        })
    }

    /// The ops listener's address.
    pub fn ops_addr(&self) -> std::net::SocketAddr {
        self.ops.local_addr()
    }

    /// The guild-event partitions this worker consumes now.
    pub fn partitions(&self) -> Vec<u16> {
        self.context
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops at once without giving leases back, as a crash would (for failure tests): the
    /// partitions move to other workers when the leases expire.
    pub async fn abort(self) {
        self.partitions.abort();
        let _ = self.partitions.await;
        self.ops_shutdown.cancel();
        self.ops.stopped().await;
    }

    /// Stops consuming (giving partitions back at once) and waits.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.stopped().await;
    }

    /// Waits until the worker has stopped after its shutdown token was cancelled.
    pub async fn stopped(self) {
        if let Err(err) = self.partitions.await {
            tracing::error!(error = %err, "partition supervisor failed");
        }
        self.ops_shutdown.cancel();
        self.ops.stopped().await;
    }
}

/// Runs a worker until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let worker = Worker::start(config, shutdown.clone()).await?;
    shutdown.cancelled().await;
    worker.stopped().await;
    Ok(())
}
