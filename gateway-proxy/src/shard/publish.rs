//! Publishing dispatches into JetStream, retried until acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aegis_protocol::{
    GatewayEventRef, PROTOCOL_VERSION, PartitionCount, RawBytes, Subjects, event_message_id,
    headers, partition_of,
};
use aegis_service::CancellationToken;
use async_nats::jetstream;
use async_nats::{HeaderMap, HeaderName};
use futures_util::future::BoxFuture;
use serde_json::value::RawValue;

use crate::frame::guild_id_of;
use crate::metrics::Metrics;

/// A dispatch JetStream has acknowledged.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) session_id: Arc<str>,
    pub(crate) seq: u64,
}

/// A publish given up because the process is shutting down; Discord replays it on resume.
#[derive(Debug)]
pub(crate) struct Abandoned;

/// Turns dispatches into JetStream publishes.
#[derive(Clone, Debug)]
pub(crate) struct Publisher {
    pub(crate) js: jetstream::Context,
    pub(crate) subjects: Subjects,
    pub(crate) partitions: PartitionCount,
    pub(crate) metrics: Metrics,
    pub(crate) shutdown: CancellationToken,
}

impl Publisher {
    /// Builds the message now (copying `data` once), and returns a future that publishes it and
    /// waits for the ack, retrying with backoff while NATS is down or slow. The message id makes
    /// every retry, and every replay by Discord, land once.
    pub(crate) fn publish(
        self: &Arc<Self>,
        shard: u32,
        session_id: &Arc<str>,
        seq: u64,
        event: &str,
        data: &RawValue,
        read_at: Instant,
    ) -> BoxFuture<'static, Result<Published, Abandoned>> {
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
        // Discord's JSON is copied once, straight into the encoded message.
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
        let headers = EventHeaders {
            message_id: event_message_id(shard, session_id, seq),
            event: event.to_owned(),
            shard,
            seq,
            guild_id,
            received_at_ms,
        };
        // One reference count for the future, not a copy of the context and every metric.
        let this = Arc::clone(self);
        let session_id = Arc::clone(session_id);
        Box::pin(async move {
            let payload = match encoded {
                Ok(payload) => payload,
                Err(err) => {
                    // Cannot happen for this plain struct; never publish something unreadable.
                    tracing::error!(shard, seq, error = %err, "cannot encode a gateway event");
                    return Err(Abandoned);
                }
            };
            let subject = async_nats::Subject::from(subject);
            let mut attempt: u32 = 0;
            loop {
                // Built again for each attempt rather than cloned: retries are rare, and the
                // first attempt then costs no copy of the map.
                let sent = this
                    .js
                    .publish_with_headers(subject.clone(), headers.to_map(), payload.clone())
                    .await;
                let error = match sent {
                    Ok(ack) => match ack.await {
                        Ok(_) => {
                            this.metrics
                                .publish_latency
                                .observe(read_at.elapsed().as_secs_f64());
                            return Ok(Published { session_id, seq });
                        }
                        Err(err) => err.to_string(),
                    },
                    Err(err) => err.to_string(),
                };
                if this.shutdown.is_cancelled() {
                    return Err(Abandoned);
                }
                attempt = attempt.saturating_add(1);
                this.metrics.publish_retries.inc();
                if attempt == 1 || attempt.is_multiple_of(20) {
                    tracing::warn!(
                        shard,
                        seq,
                        attempt,
                        error,
                        "JetStream publish failed; retrying"
                    );
                }
                let backoff = Duration::from_millis(50 * 2_u64.pow(attempt.min(6)));
                tokio::select! {
                    () = tokio::time::sleep(backoff.mul_f64(0.5 + fastrand::f64() / 2.0)) => {}
                    () = this.shutdown.cancelled() => return Err(Abandoned),
                }
            }
        })
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
