//! Dispatches as JetStream messages: built once, sent (and sent again) by a shard's outbox.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aegis_protocol::{
    GatewayEventRef, PROTOCOL_VERSION, PartitionCount, RawBytes, Subjects, event_message_id,
    headers, partition_of,
};
use async_nats::jetstream;
use async_nats::{HeaderMap, HeaderName, Subject};
use bytes::Bytes;
use serde_json::value::RawValue;

use crate::frame::guild_id_of;

/// Turns dispatches into JetStream messages.
#[derive(Clone, Debug)]
pub(crate) struct Publisher {
    pub(crate) subjects: Subjects,
    pub(crate) partitions: PartitionCount,
}

/// One dispatch as it is published (as often as it takes); the message id makes every copy,
/// and every replay by Discord, land once.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) session_id: Arc<str>,
    pub(crate) seq: u64,
    /// When it was read off the socket.
    pub(crate) read_at: Instant,
    subject: Subject,
    headers: EventHeaders,
    payload: Bytes,
}

impl Publisher {
    /// Builds the message of a dispatch, copying Discord's JSON once, straight into it.
    pub(crate) fn prepare(
        &self,
        shard: u32,
        session_id: &Arc<str>,
        seq: u64,
        event: &str,
        data: &RawValue,
        read_at: Instant,
    ) -> Option<Outgoing> {
        let guild_id = guild_id_of(event, data);
        let subject = if event == "INTERACTION_CREATE" {
            self.subjects.interactions()
        } else if let Some(guild) = guild_id {
            self.subjects
                .guild_event(partition_of(guild, self.partitions), event)
        } else {
            self.subjects.direct_event(event)
        };
        let received_at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let encoded = GatewayEventRef {
            v: PROTOCOL_VERSION,
            event,
            shard,
            session_id,
            seq,
            guild_id,
            received_at_ms,
            payload: RawBytes(data.get().as_bytes()),
        }
        .encode();
        let payload = match encoded {
            Ok(payload) => payload,
            Err(err) => {
                // Cannot happen for this plain struct; never publish something unreadable.
                tracing::error!(shard, seq, error = %err, "cannot encode a gateway event");
                return None;
            }
        };
        Some(Outgoing {
            session_id: Arc::clone(session_id),
            seq,
            read_at,
            subject: Subject::from(subject),
            headers: EventHeaders {
                message_id: event_message_id(shard, session_id, seq),
                event: event.to_owned(),
                shard,
                seq,
                guild_id,
                received_at_ms,
            },
            payload,
        })
    }
}

/// Why a dispatch could not be handed to the NATS client.
#[derive(Debug)]
pub(crate) enum EnqueueError {
    /// Larger than the server's `max_payload`: it never will be.
    TooLarge(String),
    /// Anything else (the client is closing, or was full for its timeout).
    Other(String),
}

impl Outgoing {
    /// Hands the message to the NATS client (it is written in the order of these calls);
    /// the future it returns is JetStream's ack.
    pub(crate) async fn enqueue(
        &self,
        js: &jetstream::Context,
    ) -> Result<jetstream::context::PublishAckFuture, EnqueueError> {
        // The header map is built for each attempt rather than cloned: attempts after the first
        // are rare, and the first then costs no copy of it.
        js.publish_with_headers(
            self.subject.clone(),
            self.headers.to_map(),
            self.payload.clone(),
        )
        .await
        .map_err(|err| match err.kind() {
            jetstream::context::PublishErrorKind::MaxPayloadExceeded => {
                EnqueueError::TooLarge(err.to_string())
            }
            _ => EnqueueError::Other(err.to_string()),
        })
    }

    /// The dispatch's event name.
    pub(crate) fn event(&self) -> &str {
        &self.headers.event
    }
}

/// The headers of one event, kept as values so each publish attempt builds its map once.
#[derive(Debug)]
struct EventHeaders {
    message_id: String,
    event: String,
    shard: u32,
    seq: u64,
    guild_id: Option<u64>,
    received_at_ms: i64,
}

impl EventHeaders {
    fn to_map(&self) -> HeaderMap {
        // Static names and moved values: no copy of either.
        let mut map = HeaderMap::new();
        map.insert(name(headers::MESSAGE_ID), self.message_id.clone());
        map.insert(name(headers::VERSION), PROTOCOL_VERSION_TEXT);
        map.insert(name(headers::EVENT), self.event.clone());
        map.insert(name(headers::SHARD), self.shard.to_string());
        map.insert(name(headers::SEQUENCE), self.seq.to_string());
        map.insert(name(headers::RECEIVED_AT), self.received_at_ms.to_string());
        if let Some(guild) = self.guild_id {
            map.insert(name(headers::GUILD_ID), guild.to_string());
        }
        map
    }
}

fn name(header: &'static str) -> HeaderName {
    HeaderName::from_static(header)
}

/// [`PROTOCOL_VERSION`] as a header value.
const PROTOCOL_VERSION_TEXT: &str = "1";
const _: () = assert!(PROTOCOL_VERSION == 1, "update PROTOCOL_VERSION_TEXT");
