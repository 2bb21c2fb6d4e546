//! Versioned MessagePack envelopes.
//!
//! Every envelope is a MessagePack map (field names included) with a `v` field. Rules:
//!
//! - Adding an optional field is compatible: old readers ignore unknown fields, new readers see
//!   a missing field as its default. `v` stays the same.
//! - Anything else (removing or retyping a field) bumps [`PROTOCOL_VERSION`]. A reader refuses a
//!   message with a higher `v` ([`DecodeError::UnsupportedVersion`]) instead of misreading it.

use bytes::Bytes;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The protocol version this crate writes, and the highest it reads.
pub const PROTOCOL_VERSION: u16 = 1;

/// Why a message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not a MessagePack map of the expected shape (corrupt, truncated, wrong type).
    #[error("malformed {envelope} message: {source}")]
    Malformed {
        /// The envelope that was being decoded.
        envelope: &'static str,
        /// What the decoder found wrong.
        #[source]
        source: rmp_serde::decode::Error,
    },
    /// The message carries no `v` field.
    #[error("{envelope} message has no protocol version field `v`")]
    MissingVersion {
        /// The envelope that was being decoded.
        envelope: &'static str,
    },
    /// The message was written by a newer (or unknown) protocol version.
    #[error("{envelope} message has protocol version {found}; this build reads up to {supported}")]
    UnsupportedVersion {
        /// The envelope that was being decoded.
        envelope: &'static str,
        /// The version in the message.
        found: u16,
        /// The highest version this build reads.
        supported: u16,
    },
}

/// Why a value could not be encoded as MessagePack.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {envelope}: {source}")]
pub struct EncodeError {
    /// What was being encoded.
    pub envelope: &'static str,
    /// The encoder's complaint.
    #[source]
    pub source: rmp_serde::encode::Error,
}

/// A versioned message type. Implemented by every envelope of this crate.
pub trait Envelope: Serialize + DeserializeOwned {
    /// The name used in errors and logs.
    const NAME: &'static str;

    /// The version this value carries.
    fn version(&self) -> u16;

    /// Encodes as a MessagePack map.
    fn encode(&self) -> Result<Bytes, EncodeError> {
        rmp_serde::to_vec_named(self)
            .map(Bytes::from)
            .map_err(|source| EncodeError {
                envelope: Self::NAME,
                source,
            })
    }

    /// Decodes a message, checking its version first so a newer message is refused cleanly.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            v: Option<u16>,
        }
        let malformed = |source| DecodeError::Malformed {
            envelope: Self::NAME,
            source,
        };
        let probe: Probe = rmp_serde::from_slice(bytes).map_err(malformed)?;
        match probe.v {
            None => Err(DecodeError::MissingVersion {
                envelope: Self::NAME,
            }),
            Some(found) if found == 0 || found > PROTOCOL_VERSION => {
                Err(DecodeError::UnsupportedVersion {
                    envelope: Self::NAME,
                    found,
                    supported: PROTOCOL_VERSION,
                })
            }
            Some(_) => rmp_serde::from_slice(bytes).map_err(malformed),
        }
    }
}

/// One gateway dispatch, as gateway-proxy publishes it.
///
/// `payload` is the dispatch's `d` field, byte for byte as Discord sent it: never re-serialised,
/// so nothing Discord adds is lost on the way. Deserialise it with twilight-model (or any JSON
/// library). The metadata is repeated in [`headers`](crate::headers) for consumers that route
/// without decoding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayEvent {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u16,
    /// The dispatch event name (`t`), e.g. `GUILD_MEMBER_ADD`.
    pub event: String,
    /// The shard that received it.
    pub shard: u32,
    /// The gateway session it arrived in.
    pub session_id: String,
    /// The dispatch's sequence number (`s`) in that session.
    pub seq: u64,
    /// The guild it belongs to, when it has one.
    #[serde(default)]
    pub guild_id: Option<u64>,
    /// When gateway-proxy read it, milliseconds since the Unix epoch.
    pub received_at_ms: i64,
    /// Discord's JSON of `d`, as received.
    pub payload: Bytes,
}

impl Envelope for GatewayEvent {
    const NAME: &'static str = "GatewayEvent";

    fn version(&self) -> u16 {
        self.v
    }
}

/// A [`GatewayEvent`] that borrows its strings and Discord's JSON, so gateway-proxy encodes a
/// dispatch straight from the bytes it read, with one copy into the message instead of three.
/// It writes exactly the bytes [`GatewayEvent::encode`] writes for the same values; readers
/// decode a [`GatewayEvent`].
#[derive(Clone, Copy, Debug, Serialize)]
pub struct GatewayEventRef<'a> {
    /// See [`GatewayEvent::v`].
    pub v: u16,
    /// See [`GatewayEvent::event`].
    pub event: &'a str,
    /// See [`GatewayEvent::shard`].
    pub shard: u32,
    /// See [`GatewayEvent::session_id`].
    pub session_id: &'a str,
    /// See [`GatewayEvent::seq`].
    pub seq: u64,
    /// See [`GatewayEvent::guild_id`].
    pub guild_id: Option<u64>,
    /// See [`GatewayEvent::received_at_ms`].
    pub received_at_ms: i64,
    /// See [`GatewayEvent::payload`].
    pub payload: RawBytes<'a>,
}

/// Bytes serialised as one MessagePack `bin` (as [`Bytes`] is), not as a list of numbers.
#[derive(Clone, Copy, Debug)]
pub struct RawBytes<'a>(pub &'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl GatewayEventRef<'_> {
    /// Encodes as the MessagePack map of a [`GatewayEvent`], into a buffer sized once.
    pub fn encode(&self) -> Result<Bytes, EncodeError> {
        let mut out = Vec::with_capacity(
            self.payload.0.len() + self.event.len() + self.session_id.len() + 96,
        );
        rmp_serde::encode::write_named(&mut out, self)
            .map(|()| Bytes::from(out))
            .map_err(|source| EncodeError {
                envelope: GatewayEvent::NAME,
                source,
            })
    }
}

/// A command for a shard's WebSocket (presence update, request guild members), published by a
/// worker or an extension, sent by the gateway-proxy process that owns the shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayCommand {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u16,
    /// The shard to send it on.
    pub shard: u32,
    /// The gateway opcode (3 presence update, 8 request guild members).
    pub op: u8,
    /// The command's `d` as JSON, sent as is.
    pub data: Bytes,
}

impl Envelope for GatewayCommand {
    const NAME: &'static str = "GatewayCommand";

    fn version(&self) -> u16 {
        self.v
    }
}

/// A unit of due work, published by the scheduler and executed by a worker.
///
/// `id` is the scheduled action's id and doubles as the JetStream message id, so a job published
/// twice (a scheduler that crashed between publishing and marking it dispatched) is dropped by the
/// duplicate window, and a worker uses it to make the effect idempotent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u16,
    /// The scheduled action's id.
    pub id: String,
    /// What to do, e.g. `unban`; also the last token of the subject.
    pub kind: String,
    /// The guild it concerns, if any.
    #[serde(default)]
    pub guild_id: Option<u64>,
    /// When it was due, milliseconds since the Unix epoch.
    pub due_at_ms: i64,
    /// Which attempt this is, starting at 1.
    pub attempt: u32,
    /// The kind-specific body, itself MessagePack: see [`Job::body`].
    pub body: Bytes,
}

impl Job {
    /// A first-attempt job whose body is `body` encoded as MessagePack.
    pub fn new<T: Serialize>(
        id: impl Into<String>,
        kind: impl Into<String>,
        guild_id: Option<u64>,
        due_at_ms: i64,
        body: &T,
    ) -> Result<Self, EncodeError> {
        let body = rmp_serde::to_vec_named(body).map_err(|source| EncodeError {
            envelope: "Job body",
            source,
        })?;
        Ok(Self {
            v: PROTOCOL_VERSION,
            id: id.into(),
            kind: kind.into(),
            guild_id,
            due_at_ms,
            attempt: 1,
            body: Bytes::from(body),
        })
    }

    /// Decodes the kind-specific body.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        rmp_serde::from_slice(&self.body).map_err(|source| DecodeError::Malformed {
            envelope: "Job body",
            source,
        })
    }
}

impl Envelope for Job {
    const NAME: &'static str = "Job";

    fn version(&self) -> u16 {
        self.v
    }
}

/// Something that happened to a support ticket, on `{namespace}.tickets.{kind}` for extensions
/// (stored 7 days in the ticket-events stream). Published once per change: the change writes an
/// outbox row in its own transaction, and the JetStream message id is `ticket-event:{row}`, so a
/// retried publication is dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketEvent {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u16,
    /// `opened`, `claimed`, `member_added`, `member_removed`, `close_warning`, `close_requested`, `closed`, `reopened`.
    pub kind: String,
    /// The guild.
    pub guild_id: u64,
    /// The ticket's id (stable across its life).
    pub ticket_id: i64,
    /// The guild's ticket number.
    pub number: i32,
    /// Its channel.
    #[serde(default)]
    pub channel_id: Option<u64>,
    /// Who opened it.
    pub opener_id: u64,
    /// Who did this (the bot for automatic closes).
    pub actor_id: u64,
    /// The member added or removed, for those kinds.
    #[serde(default)]
    pub member_id: Option<u64>,
    /// A close's reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl Envelope for TicketEvent {
    const NAME: &'static str = "TicketEvent";

    fn version(&self) -> u16 {
        self.v
    }
}

/// A message given up after too many failed deliveries, kept for an operator to inspect or replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u16,
    /// The subject the message was published on; republish `message` there to replay it.
    pub original_subject: String,
    /// How many times it was delivered.
    pub deliveries: u64,
    /// The last error, one line.
    pub error: String,
    /// When it was given up, milliseconds since the Unix epoch.
    pub failed_at_ms: i64,
    /// The original message's payload, unchanged.
    pub message: Bytes,
}

impl Envelope for DeadLetter {
    const NAME: &'static str = "DeadLetter";

    fn version(&self) -> u16 {
        self.v
    }
}
