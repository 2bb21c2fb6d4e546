//! NATS header names. A consumer can route, filter or log a message from these alone, without
//! decoding its payload.
//!
//! Values are ASCII: numbers in decimal, times in milliseconds since the Unix epoch.

/// JetStream's de-duplication id. For gateway events it is
/// [`event_message_id`](crate::event_message_id); for jobs, the scheduled action's id.
pub const MESSAGE_ID: &str = "Nats-Msg-Id";
/// The protocol version of the payload ([`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION)).
pub const VERSION: &str = "Aegis-Version";
/// The Discord dispatch event name, e.g. `GUILD_MEMBER_ADD`.
pub const EVENT: &str = "Aegis-Event";
/// The shard that received the event (or that a gateway command is for).
pub const SHARD: &str = "Aegis-Shard";
/// The gateway sequence number of the dispatch.
pub const SEQUENCE: &str = "Aegis-Seq";
/// The guild id, absent for events without a guild.
pub const GUILD_ID: &str = "Aegis-Guild";
/// When gateway-proxy read the event from the WebSocket.
pub const RECEIVED_AT: &str = "Aegis-Received-At";
/// The kind of a job, e.g. `unban`.
pub const JOB_KIND: &str = "Aegis-Job-Kind";
/// On a dead letter: the subject the message was first published on.
pub const ORIGINAL_SUBJECT: &str = "Aegis-Original-Subject";
/// On a dead letter: how many times the message was delivered before it was given up.
pub const DELIVERIES: &str = "Aegis-Deliveries";
/// On a dead letter: the last error, one line.
pub const ERROR: &str = "Aegis-Error";
/// On a gateway command: a NATS subject on which gateway-proxy answers, once the command was sent
/// on the shard's WebSocket or refused, with JSON `{"sent":true}` or
/// `{"sent":false,"error":"..."}`. (JetStream answers the publish itself, so the NATS reply
/// subject of the message cannot carry this answer.)
pub const REPLY_TO: &str = "Aegis-Reply-To";
