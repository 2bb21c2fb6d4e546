//! The contract between Aegis processes, and between Aegis and its extensions.
//!
//! Everything that crosses a process boundary is defined here and nowhere else:
//!
//! - [`Subjects`]: the NATS subject of every message, built from a [`Namespace`] so that one NATS
//!   server can host several deployments (or several parallel test runs) without crosstalk.
//! - [`Topology`]: the JetStream streams and durable consumers, and [`provision`], which creates or
//!   updates them idempotently at start-up. Every process calls it; concurrent calls are safe.
//! - The envelopes ([`GatewayEvent`], [`GatewayCommand`], [`Job`], [`DeadLetter`]): MessagePack
//!   (rmp-serde, encoded as maps so that unknown fields are tolerated) carrying a protocol version.
//!   Decoding never panics; a corrupt, truncated or newer message is a [`DecodeError`].
//! - [`partition_of`]: the guild-to-partition function behind per-guild ordering.
//! - [`headers`]: the NATS header names that let a consumer route a message without decoding it.
//!
//! `README.md` beside this crate is the page an extension author reads: every subject, who
//! publishes it, who consumes it, its payload and its delivery guarantee.

mod envelope;
pub mod headers;
mod namespace;
mod partition;
mod provision;
mod subjects;
mod topology;

pub use envelope::{
    DeadLetter, DecodeError, EncodeError, Envelope, GatewayCommand, GatewayEvent, GatewayEventRef,
    Job, PROTOCOL_VERSION, RawBytes, TicketEvent,
};
pub use namespace::{Namespace, NamespaceError};
pub use partition::{PartitionCount, PartitionCountError, partition_of};
pub use provision::{ProvisionError, provision};
pub use subjects::{Subjects, event_message_id, subject_token};
pub use topology::{ConsumerSpec, Topology};
