//! A Discord simulator: gateway v10 and REST with Discord's documented behaviour, a seeded
//! world and a control API, for testing and benchmarking Aegis without Discord.
//!
//! ```no_run
//! # async fn demo() -> Result<(), discord_sim::Error> {
//! let sim = discord_sim::start(discord_sim::Config::default()).await?;
//! println!("gateway at {}", sim.gateway_url());
//! sim.shutdown().await
//! # }
//! ```
//!
//! See the crate README for the behaviour, the configuration and the HTTP control API.

mod cdn;
mod config;
mod control;
mod control_http;
mod counters;
mod error;
mod gateway;
mod http;
pub mod intents;
mod load;
mod rest;
mod server;
pub mod snowflake;
mod state;
pub mod world;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, ConfigError};
pub use control::{SeedAttachment, SimHandle};
pub use counters::{CountersSnapshot, ShardStats};
pub use error::Error;
pub use gateway::{SessionInfo, ShardAction};
pub use load::{LoadReport, LoadSpec};
pub use rest::{InteractionLog, RateLimitConfig, RestCall, RouteLimit};
pub use world::World;

/// Binds `config.addr` and serves in a background task until [`SimHandle::shutdown`].
///
/// # Errors
///
/// Returns an [`Error`] if the configuration is invalid or the address cannot be bound.
pub async fn start(config: Config) -> Result<SimHandle, Error> {
    start_with(config, CancellationToken::new()).await
}

async fn start_with(config: Config, shutdown: CancellationToken) -> Result<SimHandle, Error> {
    config.validate()?;
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(Error::LocalAddr)?;
    let shared = Arc::new(state::Shared::new(config, addr, shutdown));
    let janitor = Arc::clone(&shared);
    tokio::spawn(async move {
        let every = janitor
            .config
            .resume_timeout
            .min(std::time::Duration::from_secs(10));
        loop {
            tokio::select! {
                () = janitor.shutdown.cancelled() => return,
                () = tokio::time::sleep(every) => janitor.gateway.expire(janitor.config.resume_timeout),
            }
        }
    });
    let task = tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
    tracing::info!(%addr, "discord-sim listening");
    Ok(SimHandle { shared, task })
}

/// Serves until `shutdown` is cancelled (for the binary).
///
/// # Errors
///
/// Returns an [`Error`] if the simulator cannot start or its server task fails.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), Error> {
    let handle = start_with(config, shutdown.clone()).await?;
    shutdown.cancelled().await;
    handle.shutdown().await
}
