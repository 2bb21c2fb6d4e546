//! Aegis's PostgreSQL schema and the stores built on it. PostgreSQL is the truth; Redis is a
//! disposable cache in front of it (losing Redis costs latency, never data).
//!
//! - [`Database::connect`] opens a bb8 pool of tokio-postgres connections and [`migrate`]s the
//!   schema (embedded SQL, applied under an advisory lock so any number of processes may start at
//!   once).
//! - [`Cases`]: moderation cases with per-guild numbers that are gap-free and unique under any
//!   concurrency, idempotent on a dedupe key, with notes, history and full-text search.
//! - [`Settings`]: per-guild settings (JSONB, validated) behind a Redis cache-aside
//!   (`aegis:guild:{guild_id}:settings`), invalidated on change.
//! - [`claim_interaction`]: an interaction is handled once, however often it is delivered.
//! - [`ChannelLocks`]: channels Aegis locked and the overwrite to restore; [`record_command_usage`].
//! - [`Tickets`] and their [`Categories`]: per-guild numbers, the open limit under concurrency,
//!   claim, close, activity and staff metrics.
//! - [`Timers`]: durable timers (`scheduled_actions`), claimed by schedulers with
//!   `FOR UPDATE SKIP LOCKED` and a lease.

mod cases;
mod config;
mod database;
mod error;
mod interactions;
mod locks;
mod retention;
mod settings;
#[cfg(feature = "testing")]
pub mod testing;
mod tickets;
mod timers;
mod usage;

pub use cases::{Case, CaseKind, CaseNote, CaseSource, Cases, NewCase};
pub use config::StorageConfig;
pub use database::{Database, Pool, migrate};
pub use error::StorageError;
pub use interactions::claim_interaction;
pub use locks::{ChannelLocks, Overwrite};
pub use retention::RetainedTable;
pub use settings::{GuildSettings, Settings, SettingsError};
pub use tickets::{
    Categories, Category, Claimed, NewCategory, NewTicket, Opened, Question, Ticket, TicketStatus,
    Tickets,
};
pub use timers::{DueTimer, NewTimer, Timers};
/// PostgreSQL's client error, for callers running their own transactions on a [`Pool`].
pub use tokio_postgres::Error as PgError;
pub use usage::record_command_usage;
