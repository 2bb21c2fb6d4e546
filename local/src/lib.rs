//! All-in-one local Aegis: the Discord simulator and every Aegis service that exists, in one
//! process, against the PostgreSQL, Redis and NATS of this machine.
//!
//! This is what `scripts/up` runs, so that someone without a Discord token sees Aegis work.
//! Each service is a library with `run(config, shutdown)`; this crate starts them side by side
//! with one shared shutdown token and one operations listener.

mod config;
mod run;

pub use config::LocalConfig;
pub use run::{LocalError, run};
