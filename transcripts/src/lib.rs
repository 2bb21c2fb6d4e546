//! Ticket transcripts: when a ticket closes, the channel's whole history becomes a versioned
//! JSON transcript (people, channels and roles in one entity map) and a self-contained HTML
//! page that looks like the conversation, both gzip-compressed, stored with copies of the
//! attachments in an S3 bucket or a local directory at keys that depend only on the ticket.
//!
//! ```no_run
//! # async fn demo(http: &twilight_http::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use aegis_transcripts::{Limits, ObjectStore, StoreConfig, TranscriptMeta, build_and_store};
//!
//! let config = StoreConfig::from_env(&aegis_service::Env::from_process())?;
//! let store = ObjectStore::open(&config).await?; // fails clearly on a missing bucket
//! let meta = TranscriptMeta {
//!     guild_id: 1, guild_name: "Guild".into(), channel_id: 2, channel_name: "ticket-7".into(),
//!     ticket_number: 7, opener_id: 3, closed_by: 4, close_reason: None,
//!     opened_at_ms: 0, closed_at_ms: 0,
//! };
//! let stored = build_and_store(http, &store, &meta, &Limits::default()).await?;
//! println!("{} messages at {}", stored.messages, stored.html_key);
//! # Ok(()) }
//! ```
//!
//! See the crate README for the format, the configuration, the tests and the benchmark.

mod build;
mod config;
mod format;
mod html;
mod http;
mod markup;
mod store;

pub use build::{Stored, TranscriptError, build_and_store, key_prefix};
pub use config::{Limits, StoreConfig};
pub use format::{
    Attachment, Channel, Entities, FORMAT_VERSION, Message, Reference, Role, Skipped, Transcript,
    TranscriptMeta, User,
};
pub use store::{ObjectStore, StoreError};
