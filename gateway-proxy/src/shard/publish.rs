//! Publishing dispatches into JetStream, retried until acknowledged.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aegis_protocol::{
    Envelope, GatewayEvent, PROTOCOL_VERSION, PartitionCount, Subjects, event_message_id, headers,
    partition_of,
};
use aegis_service::CancellationToken;
use async_nats::HeaderMap;
use async_nats::jetstream;
use bytes::Bytes;
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
    /// Builds the message now (copying `data`), and returns a future that publishes it and
    /// waits for the ack, retrying with backoff while NATS is down or slow. The message id makes
    /// every retry, and every replay by Discord, land once.
    pub(crate) fn publish(
        &self,
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
        let envelope = GatewayEvent {
            v: PROTOCOL_VERSION,
            event: event.to_owned(),
            shard,
            session_id: session_id.to_string(),
            seq,
            guild_id,
            received_at_ms,
            payload: Bytes::copy_from_slice(data.get().as_bytes()),
        };
        let mut hdrs = HeaderMap::new();
        hdrs.insert(
            headers::MESSAGE_ID,
            event_message_id(shard, session_id, seq).as_str(),
        );
        hdrs.insert(headers::VERSION, PROTOCOL_VERSION.to_string().as_str());
        hdrs.insert(headers::EVENT, event);
        hdrs.insert(headers::SHARD, shard.to_string().as_str());
        hdrs.insert(headers::SEQUENCE, seq.to_string().as_str());
        hdrs.insert(headers::RECEIVED_AT, received_at_ms.to_string().as_str());
        if let Some(guild) = guild_id {
            hdrs.insert(headers::GUILD_ID, guild.to_string().as_str());
        }
        let encoded = envelope.encode();
        let this = self.clone();
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
            let mut attempt: u32 = 0;
            loop {
                let sent = this
                    .js
                    .publish_with_headers(subject.clone(), hdrs.clone(), payload.clone())
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
