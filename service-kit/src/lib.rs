//! Service plumbing shared by every Aegis binary, written once.
//!
//! - [`Env`]: configuration from environment variables. A bad or missing value is a
//!   [`ConfigError`] that names the variable and what was expected; [`run_service`] prints it as
//!   one line and exits, never with a panic trace.
//! - [`init_logging`]: structured JSON logs through `tracing`, level from `RUST_LOG`.
//! - [`OpsServer`]: the operations HTTP listener: `/metrics` (prometheus-client), `/healthz` and
//!   `/readyz` (driven by [`Readiness`]).
//! - [`shutdown_on_signals`]: a cancellation token cancelled by SIGTERM or SIGINT, which every
//!   service's `run(config, shutdown)` watches to stop gracefully.
//! - [`NatsConfig`]: where NATS is and which JetStream [`Topology`](aegis_protocol::Topology) to
//!   provision, shared by every process that touches NATS.
//!
//! A service's `main.rs` is then a few lines:
//!
//! ```no_run
//! use aegis_service::{Env, ConfigError, run_service};
//! use tokio_util::sync::CancellationToken;
//!
//! struct Config { greeting: String }
//!
//! fn load(env: &Env) -> Result<Config, ConfigError> {
//!     Ok(Config { greeting: env.string("AEGIS_GREETING", "hello")? })
//! }
//!
//! async fn run(config: Config, shutdown: CancellationToken) -> Result<(), std::io::Error> {
//!     tracing::info!(greeting = %config.greeting, "running");
//!     shutdown.cancelled().await;
//!     Ok(())
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     run_service("example", load, run)
//! }
//! ```

mod config;
mod logging;
mod main_loop;
mod nats;
mod ops;
mod shutdown;

pub use config::{ConfigError, Env, parse_duration};
pub use logging::{LogFormat, init_logging};
pub use main_loop::run_service;
pub use nats::{NatsConfig, NatsError};
pub use ops::{OpsBindError, OpsServer, Readiness, StatusRoute, service_registry};
pub use shutdown::shutdown_on_signals;
pub use tokio_util::sync::CancellationToken;
