//! Errors of the simulator's library API.

use std::net::SocketAddr;

/// Starting or running the simulator failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The listening socket could not be bound.
    #[error("binding {addr} failed: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Reading the bound address failed.
    #[error("reading the bound address failed: {0}")]
    LocalAddr(std::io::Error),
    /// The server task ended abnormally.
    #[error("the simulator's server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
