//! rest-proxy: the only Discord HTTP client of Aegis.
//!
//! Workers send Discord-compatible requests (`/api/v10/...`) here; rest-proxy adds the bot
//! token, waits for every rate limit (learned per-route buckets, the global limit per token,
//! shared-scope and global 429s, the invalid-request guard) and forwards them to Discord over a
//! pooled keep-alive client. With several instances, the limits are shared through Redis.
//!
//! ```no_run
//! # async fn demo() -> Result<(), aegis_rest_proxy::Error> {
//! let config = aegis_rest_proxy::Config::for_tests("http://127.0.0.1:7878".parse().expect("url"));
//! let proxy = aegis_rest_proxy::start(config).await?;
//! println!("send Discord requests to http://{}", proxy.addr());
//! proxy.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! See the crate README for configuration, metrics and design.

mod app;
mod config;
mod guard;
mod limiter;
mod metrics;
mod reply;
mod route;
mod server;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aegis_service::{CancellationToken, OpsServer, Readiness, service_registry};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use config::Config;
pub use route::Route;

use crate::limiter::{Limiter, MemoryStore, RedisStore, Store};

/// Why rest-proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The proxy listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The ops listener could not bind its address.
    #[error(transparent)]
    Ops(#[from] aegis_service::OpsBindError),
    /// The Redis URL is unusable.
    #[error("AEGIS_REST_REDIS_URL is unusable: {0}")]
    Redis(#[from] redis::RedisError),
    /// TLS could not be set up.
    #[error("cannot set up TLS for Discord: {0}")]
    Tls(#[from] rustls::Error),
    /// A task of the proxy failed.
    #[error("a rest-proxy task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running proxy, for tests and embedding.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
    ops_addr: SocketAddr,
    readiness: Readiness,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
    ops: OpsServer,
}

impl Handle {
    /// Where the proxy listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops_addr
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        self.readiness.is_ready()
    }

    /// Stops accepting, lets requests in flight finish, and waits for everything to stop.
    pub async fn shutdown(self) {
        self.readiness.drain();
        self.shutdown.cancel();
        if let Err(err) = self.task.await {
            tracing::error!(error = %err, "rest-proxy task failed");
        }
        self.ops.stopped().await;
    }
}

/// Binds the proxy and ops listeners and serves in background tasks until
/// [`Handle::shutdown`].
///
/// # Errors
///
/// An [`Error`] when a listener cannot be bound, the Redis URL is invalid or TLS cannot be set up.
pub async fn start(config: Config) -> Result<Handle, Error> {
    start_with(config, CancellationToken::new()).await
}

async fn start_with(config: Config, shutdown: CancellationToken) -> Result<Handle, Error> {
    let readiness = Readiness::new();
    let mut registry = service_registry("rest-proxy");
    let metrics = metrics::Metrics::register(&mut registry);
    let window = Duration::from_secs(1) + config.global_margin;
    let probe_lease = config.upstream_timeout + Duration::from_secs(1);
    let store = if config.single_instance {
        Store::Memory(MemoryStore::new(
            config.global_limit,
            window,
            1,
            probe_lease,
        ))
    } else {
        let client = redis::Client::open(config.redis_url.as_str())?;
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let conn = redis::aio::ConnectionManager::new_lazy_with_config(client, manager_config)?;
        let fallback = MemoryStore::new(
            config.global_limit,
            window,
            config.fallback_share,
            probe_lease,
        );
        let store = RedisStore::new(
            conn,
            config.redis_prefix.clone(),
            fallback,
            readiness.clone(),
            config.global_limit,
            window,
            probe_lease,
        );
        store.ping().await;
        Store::Redis(Box::new(store))
    };
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind {
        addr: config.addr,
        source,
    })?;
    let ops = OpsServer::bind(
        config.ops_addr,
        Arc::new(registry),
        readiness.clone(),
        shutdown.clone(),
    )
    .await?;
    let app = Arc::new(app::App {
        auth: config.token.as_deref().and_then(app::authorization),
        upstream: upstream::client()?,
        limiter: Arc::new(Limiter::new(store)),
        guard: guard::Guard::default(),
        metrics,
        config,
    });
    tokio::spawn(server::upkeep(Arc::clone(&app), shutdown.clone()));
    let task = tokio::spawn(server::accept_loop(listener, app, shutdown.clone()));
    tracing::info!(%addr, "rest-proxy listening");
    Ok(Handle {
        addr,
        ops_addr: ops.local_addr(),
        readiness,
        shutdown,
        task,
        ops,
    })
}

/// Serves until `shutdown` is cancelled (the binary's entry point).
///
/// # Errors
///
/// An [`Error`] when the proxy cannot start or one of its tasks fails.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    if config.token.is_none() {
        tracing::warn!(
            "DISCORD_TOKEN is not set: requests are forwarded with their own Authorization only"
        );
    }
    let handle = start_with(config, shutdown.clone()).await?;
    shutdown.cancelled().await;
    handle.readiness.drain();
    handle.shutdown().await;
    Ok(())
}
