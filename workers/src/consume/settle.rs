//! What happens to a message after its handler ran: ack, retry later, or dead-letter.

use std::time::Duration;

use aegis_protocol::Subjects;
use async_nats::jetstream::{self, AckKind};

use super::dead_letter::dead_letter;
use crate::handlers::HandlerError;
use crate::metrics::{Metrics, OutcomeLabels};

/// How one message's handling ended.
pub(crate) struct Settle<'a> {
    pub(crate) js: &'a jetstream::Context,
    pub(crate) subjects: &'a Subjects,
    pub(crate) metrics: &'a Metrics,
    /// `events`, `jobs`, `interactions`: the dead-letter subject and metric label.
    pub(crate) source: &'static str,
    pub(crate) max_deliveries: u64,
}

/// The outcome for the caller: retried, acked, or given up (with the error, for the caller's own
/// bookkeeping such as marking a timer dead).
pub(crate) enum Settled {
    Done,
    Retrying,
    GaveUp(String),
}

impl Settle<'_> {
    /// Acks after success (confirmed by the server, so an in-order consumer's slot is free);
    /// retries a transient failure with a growing, jittered delay; dead-letters a permanent
    /// failure or the last attempt, then terminates the message.
    pub(crate) async fn settle(
        &self,
        message: &jetstream::Message,
        outcome: Result<(), HandlerError>,
    ) -> Settled {
        let deliveries = message
            .info()
            .map_or(1, |info| u64::try_from(info.delivered).unwrap_or(1));
        let label = |outcome: &'static str| OutcomeLabels {
            source: self.source,
            outcome,
        };
        match outcome {
            Ok(()) => {
                self.metrics.handled.get_or_create(&label("ok")).inc();
                if let Err(err) = message.double_ack().await {
                    tracing::warn!(source = self.source, error = %err, "ack not confirmed; the message may be handled again (idempotent)");
                }
                Settled::Done
            }
            Err(err) => {
                let permanent = matches!(err, HandlerError::Permanent(_));
                if !permanent && deliveries < self.max_deliveries {
                    self.metrics.handled.get_or_create(&label("retried")).inc();
                    let base = 200 * 2_u64.pow(u32::try_from(deliveries.min(8)).unwrap_or(8));
                    let delay = Duration::from_millis(base).mul_f64(0.75 + fastrand::f64() / 2.0);
                    tracing::warn!(source = self.source, deliveries, error = %err, ?delay, "handling failed; retrying");
                    if let Err(err) = message.ack_with(AckKind::Nak(Some(delay))).await {
                        tracing::debug!(error = %err, "nak failed; redelivered after ack_wait");
                    }
                    return Settled::Retrying;
                }
                let error = err.to_string();
                let subject = message.subject.as_str();
                match dead_letter(
                    self.js,
                    self.subjects,
                    self.source,
                    subject,
                    deliveries,
                    &error,
                    message.payload.clone(),
                )
                .await
                {
                    Ok(()) => {
                        tracing::error!(
                            source = self.source,
                            deliveries,
                            error,
                            subject,
                            "message dead-lettered"
                        );
                        self.metrics
                            .handled
                            .get_or_create(&label("dead_lettered"))
                            .inc();
                        if let Err(err) = message.ack_with(AckKind::Term).await {
                            tracing::warn!(error = %err, "cannot terminate a dead-lettered message");
                        }
                        Settled::GaveUp(error)
                    }
                    Err(err) => {
                        // Stored nowhere yet: keep it and try again later.
                        tracing::warn!(source = self.source, error = %err, "cannot dead-letter; retrying the message");
                        let _ = message
                            .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                            .await;
                        Settled::Retrying
                    }
                }
            }
        }
    }
}
