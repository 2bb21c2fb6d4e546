//! Work any worker may take, several at once: jobs from the scheduler and interactions.

use std::sync::Arc;
use std::time::Duration;

use aegis_protocol::{Envelope, GatewayEvent, Job, Topology};
use aegis_service::CancellationToken;
use async_nats::jetstream::consumer::PullConsumer;
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use super::ConsumeContext;
use super::settle::{Settle, Settled};
use crate::handlers::HandlerError;

/// Which shared stream a consumer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Work {
    /// `aegis.jobs.>`: a job given up after its last attempt is also marked dead on its timer.
    Jobs,
    /// `aegis.interactions`: slash commands and the other interactions.
    Interactions,
}

impl Work {
    fn source(self) -> &'static str {
        match self {
            Self::Jobs => "jobs",
            Self::Interactions => "interactions",
        }
    }
}

/// Consumes one shared stream through its `workers` consumer until `shutdown`, handling up to
/// `concurrency` messages at a time.
pub(crate) async fn consume_work(
    context: Arc<ConsumeContext>,
    work: Work,
    concurrency: usize,
    shutdown: CancellationToken,
) {
    let consumer: PullConsumer = loop {
        let found = async {
            let name = match work {
                Work::Jobs => context.topology.jobs_stream(),
                Work::Interactions => context.topology.interactions_stream(),
            };
            let stream = context
                .js
                .get_stream(name)
                .await
                .map_err(|e| e.to_string())?;
            stream
                .get_consumer(Topology::WORKERS_CONSUMER)
                .await
                .map_err(|e| e.to_string())
        };
        match found.await {
            Ok(consumer) => break consumer,
            Err(err) => {
                tracing::warn!(source = work.source(), error = %err, "cannot open the consumer; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        }
    };
    let permits = Arc::new(Semaphore::new(concurrency));
    while !shutdown.is_cancelled() {
        let batch = consumer
            .fetch()
            .max_messages(concurrency)
            .expires(Duration::from_millis(500))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                tracing::debug!(source = work.source(), error = %err, "fetch failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        while let Some(message) = batch.next().await {
            let Ok(message) = message else { continue };
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                return;
            };
            let context = Arc::clone(&context);
            tokio::spawn(async move {
                let job = (work == Work::Jobs).then(|| Job::decode(&message.payload));
                let handled = async {
                    match (&job, work) {
                        (Some(Ok(job)), _) => context.handlers.job(job).await,
                        (Some(Err(err)), _) => Err(HandlerError::Permanent(err.to_string())),
                        (None, _) => match GatewayEvent::decode(&message.payload) {
                            Ok(event) => context.handlers.commands.interaction(&event).await,
                            Err(err) => Err(HandlerError::Permanent(err.to_string())),
                        },
                    }
                };
                // A long job (a big transcript) tells JetStream it is alive, so it is not
                // redelivered to another worker while it runs; a dead worker stops telling and
                // its job is redelivered after `ack_wait`.
                let outcome = tokio::select! {
                    outcome = handled => outcome,
                    never = keep_alive(&message, context.topology.ack_wait / 3) => match never {},
                };
                let subjects = context.topology.subjects();
                let settle = Settle {
                    js: &context.js,
                    subjects: &subjects,
                    metrics: &context.metrics,
                    source: work.source(),
                    max_deliveries: context.max_deliveries,
                };
                if let (Settled::GaveUp(error), Some(Ok(job))) =
                    (settle.settle(&message, outcome).await, &job)
                {
                    context.handlers.job_given_up(job, &error).await;
                }
                drop(permit);
            });
        }
    }
    // Let the jobs in progress finish before returning.
    let _ = permits
        .acquire_many(u32::try_from(concurrency).unwrap_or(u32::MAX))
        .await;
}

/// Sends "in progress" for `message` every `every`, forever.
async fn keep_alive(
    message: &async_nats::jetstream::Message,
    every: Duration,
) -> std::convert::Infallible {
    let every = every.max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        if let Err(err) = message
            .ack_with(async_nats::jetstream::AckKind::Progress)
            .await
        {
            tracing::debug!(error = %err, "cannot extend the ack deadline");
        }
    }
}
