//! Starting and stopping everything.

use std::sync::Arc;

use aegis_service::{CancellationToken, NatsError, OpsServer, Readiness, service_registry};

use crate::LocalConfig;

/// Why the all-in-one process could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The ops listener could not bind its address.
    #[error(transparent)]
    Ops(#[from] aegis_service::OpsBindError),
    /// The simulator could not start (usually: its address is taken).
    #[error("cannot start the Discord simulator: {0}")]
    Simulator(#[source] discord_sim::Error),
    /// NATS is not reachable, or JetStream refused the topology.
    #[error(transparent)]
    Nats(#[from] NatsError),
    /// PostgreSQL is unreachable or the migrations failed.
    #[error("PostgreSQL: {0}")]
    Database(#[source] aegis_storage::StorageError),
    /// rest-proxy could not start.
    #[error("rest-proxy: {0}")]
    Rest(#[source] aegis_rest_proxy::Error),
    /// The simulator's URL is not a valid base URL (cannot happen for an address it bound).
    #[error("the simulator's URL {0} is not a valid URI")]
    SimulatorUrl(String),
    /// The scheduler could not start.
    #[error("scheduler: {0}")]
    Scheduler(#[source] aegis_scheduler::Error),
    /// A worker could not start.
    #[error("workers: {0}")]
    Worker(#[source] aegis_workers::Error),
    /// gateway-proxy could not start.
    #[error("gateway-proxy: {0}")]
    Gateway(#[source] aegis_gateway_proxy::Error),
}

/// Runs the simulator and every Aegis service until `shutdown` is cancelled.
///
/// Start-up order: ops listener (so `/readyz` answers "not ready" at once), simulator, NATS
/// topology. Readiness turns green when all are up; on shutdown it turns to "draining" first,
/// then everything stops and the ops listener goes last.
pub async fn run(config: LocalConfig, shutdown: CancellationToken) -> Result<(), LocalError> {
    let readiness = Readiness::new();
    readiness.register("discord-sim");
    readiness.register("postgres");
    readiness.register("nats");
    readiness.register("rest-proxy");
    readiness.register("gateway-proxy");
    readiness.register("workers");
    readiness.register("scheduler");
    let ops_shutdown = CancellationToken::new();
    let ops = OpsServer::bind(
        config.ops_addr,
        Arc::new(service_registry("local")),
        readiness.clone(),
        ops_shutdown.clone(),
    )
    .await?;

    let result = run_services(&config, &readiness, &ops, &shutdown).await;
    readiness.drain();
    ops_shutdown.cancel();
    ops.stopped().await;
    result
}

async fn run_services(
    config: &LocalConfig,
    readiness: &Readiness,
    ops: &OpsServer,
    shutdown: &CancellationToken,
) -> Result<(), LocalError> {
    let storage = &config.storage;
    aegis_storage::Database::create_if_missing(&storage.database_url)
        .await
        .map_err(LocalError::Database)?;
    let _database = aegis_storage::Database::connect(&storage.database_url, storage.pool_size)
        .await
        .map_err(LocalError::Database)?;
    readiness.set("postgres", true);

    let sim = discord_sim::start(discord_sim::Config {
        addr: config.sim_addr,
        guilds: config.sim_guilds,
        members: config.sim_members,
        seed: config.sim_seed,
        ..discord_sim::Config::default()
    })
    .await
    .map_err(LocalError::Simulator)?;
    readiness.set("discord-sim", true);

    let provisioned = config.nats.connect_and_provision("aegis-local").await;
    let (client, _js) = match provisioned {
        Ok(connected) => connected,
        Err(err) => {
            stop_simulator(sim).await;
            return Err(err.into());
        }
    };
    readiness.set("nats", true);

    let rest_config = aegis_rest_proxy::Config {
        discord_url: sim
            .http_url()
            .parse()
            .map_err(|_| LocalError::SimulatorUrl(sim.http_url()))?,
        token: Some(sim.token().to_owned()),
        ..config.rest.clone()
    };
    let rest = match aegis_rest_proxy::start(rest_config).await {
        Ok(rest) => rest,
        Err(err) => {
            stop_simulator(sim).await;
            return Err(LocalError::Rest(err));
        }
    };
    readiness.set("rest-proxy", true);

    // gateway-proxy reads GET /gateway/bot through rest-proxy, as in production.
    let gateway_config = aegis_gateway_proxy::Config {
        token: sim.token().to_owned(),
        api_url: format!("http://{}", rest.addr()),
        ..config.gateway.clone()
    };
    let gateway =
        match aegis_gateway_proxy::GatewayProxy::start(gateway_config, shutdown.clone()).await {
            Ok(gateway) => gateway,
            Err(err) => {
                stop_simulator(sim).await;
                return Err(LocalError::Gateway(err));
            }
        };
    readiness.set("gateway-proxy", true);

    let worker_config = aegis_workers::Config {
        bot_user_id: sim.world().bot.id,
        rest_proxy: rest.addr().to_string(),
        storage: config.storage.clone(),
        nats: config.nats.clone(),
        ..config.worker.clone()
    };
    let worker = match aegis_workers::Worker::start(worker_config, shutdown.clone()).await {
        Ok(worker) => worker,
        Err(err) => {
            gateway.stop().await;
            stop_simulator(sim).await;
            return Err(LocalError::Worker(err));
        }
    };
    readiness.set("workers", true);

    let scheduler_config = aegis_scheduler::Config {
        storage: config.storage.clone(),
        nats: config.nats.clone(),
        ..config.scheduler.clone()
    };
    let scheduler =
        match aegis_scheduler::Scheduler::start(scheduler_config, shutdown.clone()).await {
            Ok(scheduler) => scheduler,
            Err(err) => {
                worker.stop().await;
                gateway.stop().await;
                stop_simulator(sim).await;
                return Err(LocalError::Scheduler(err));
            }
        };
    readiness.set("scheduler", true);

    print_where_to_look(config, ops, &sim, &rest, gateway.ops_addr());
    tracing::info!(sim = %sim.http_url(), ops = %ops.local_addr(), "aegis-local is ready");

    shutdown.cancelled().await;
    readiness.drain();
    tracing::info!("stopping: draining, gateway-proxy, simulator, then NATS");
    gateway.stopped().await;
    worker.stopped().await;
    scheduler.stopped().await;
    rest.shutdown().await;
    stop_simulator(sim).await;
    if let Err(err) = client.drain().await {
        tracing::warn!(error = %err, "NATS connection did not drain cleanly");
    }
    Ok(())
}

async fn stop_simulator(sim: discord_sim::SimHandle) {
    if let Err(err) = sim.shutdown().await {
        tracing::warn!(error = %err, "the simulator did not stop cleanly");
    }
}

/// The banner a newcomer reads after `scripts/up`.
#[allow(clippy::print_stdout)]
fn print_where_to_look(
    config: &LocalConfig,
    ops: &OpsServer,
    sim: &discord_sim::SimHandle,
    rest: &aegis_rest_proxy::Handle,
    gateway_ops: std::net::SocketAddr,
) {
    let topology = &config.nats.topology;
    let ops = ops.local_addr();
    println!(
        "\n\
         Aegis is up (all-in-one, against the Discord simulator)\n\
         \n\
         Discord simulator   {http}  (REST: {http}/api/v10/gateway/bot)\n\
         Gateway             {gateway}\n\
         Simulator control   {http}/_sim/  (see discord-sim/README.md)\n\
         Ops endpoints       http://{ops}/metrics  /healthz  /readyz\n\
         rest-proxy          http://{rest}/api/v10/...  (ops: http://{rest_ops}/metrics)\n\
         gateway-proxy       http://{gateway_ops}/shards  (and /metrics, /readyz)\n\
         PostgreSQL          {database}  (migrated)\n\
         NATS                {nats}  streams {events}, {interactions}, {jobs}, ...\n\
         \n\
         Ctrl-C stops everything.\n",
        http = sim.http_url(),
        gateway = sim.gateway_url(),
        nats = config.nats.url,
        rest = rest.addr(),
        rest_ops = rest.ops_addr(),
        database = config.storage.database_url,
        events = topology.events_stream(),
        interactions = topology.interactions_stream(),
        jobs = topology.jobs_stream(),
    );
}
