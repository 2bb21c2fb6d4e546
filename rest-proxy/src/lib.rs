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
    Tls(#[from] upstream::TlsError),
    /// A task of the proxy failed.
    #[error("a rest-proxy task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A running proxy, for tests and embedding.
#[derive(Debug)]
pub struct Handle {
    app: Arc<app::App>,
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

    /// Reloads as SIGHUP does: reads `DISCORD_TOKEN_FILE` again (when configured) and forgets
    /// every token that got a 401 and every webhook that got a 404.
    pub fn reload(&self) {
        self.app.reload();
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
        // TCP_NODELAY: reservations and completions are small writes pipelined on one
        // connection; Nagle would hold one back until the previous answer's ACK.
        let info = redis::IntoConnectionInfo::into_connection_info(config.redis_url.as_str())?
            .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = redis::Client::open(info)?;
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
        auth: std::sync::RwLock::new(config.token.as_deref().and_then(app::authorization)),
        upstream: upstream::client(config.ca_file.as_deref())?,
        limiter: Arc::new(Limiter::new(
            store,
            metrics.completions_skipped.clone(),
            metrics.batched.clone(),
            config.global_margin,
        )),
        guard: guard::Guard::default(),
        metrics,
        config,
    });
    tokio::spawn(server::upkeep(Arc::clone(&app), shutdown.clone()));
    let task = tokio::spawn(server::accept_loop(
        listener,
        Arc::clone(&app),
        shutdown.clone(),
    ));
    tracing::info!(%addr, "rest-proxy listening");
    Ok(Handle {
        app,
        addr,
        ops_addr: ops.local_addr(),
        readiness,
        shutdown,
        task,
        ops,
    })
}

/// SIGHUP as a stream of reloads, listened for before the proxy starts so that no SIGHUP in
/// between takes its default action (ending the process).
struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::hangup())
                .map_err(|err| {
                    tracing::warn!(error = %err, "cannot listen for SIGHUP; reloads need a restart");
                })
                .ok();
            Self { signal }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Reloads `handle` on every SIGHUP until `shutdown`.
    async fn serve(self, handle: &Handle, shutdown: &CancellationToken) {
        #[cfg(unix)]
        if let Some(mut hangups) = self.signal {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    Some(()) = hangups.recv() => handle.reload(),
                }
            }
        }
        shutdown.cancelled().await;
    }
}

/// Serves until `shutdown` is cancelled (the binary's entry point); SIGHUP reloads.
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
    let hangups = Hangups::listen();
    let handle = start_with(config, shutdown.clone()).await?;
    hangups.serve(&handle, &shutdown).await;
    handle.readiness.drain();
    handle.shutdown().await;
    Ok(())
}
