//! Jobs from the scheduler: any worker takes any job, several at once.

use std::sync::Arc;
use std::time::Duration;

use aegis_protocol::{Envelope, Job, Topology};
use aegis_service::CancellationToken;
use async_nats::jetstream::consumer::PullConsumer;
use futures_util::StreamExt;
use tokio::sync::Semaphore;

use super::ConsumeContext;
use super::settle::{Settle, Settled};
use crate::handlers::HandlerError;

/// Consumes `aegis.jobs.>` through the shared `workers` consumer until `shutdown`, handling up to
/// `concurrency` jobs at a time. A job given up after its last attempt is marked dead in the
/// timer table as well as dead-lettered.
pub(crate) async fn consume_jobs(
    context: Arc<ConsumeContext>,
    concurrency: usize,
    shutdown: CancellationToken,
) {
    let consumer: PullConsumer = loop {
        let found = async {
            let stream = context
                .js
                .get_stream(context.topology.jobs_stream())
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
                tracing::warn!(error = %err, "cannot open the jobs consumer; retrying");
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
                tracing::debug!(error = %err, "jobs fetch failed");
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
                let job = Job::decode(&message.payload);
                let outcome = match &job {
                    Ok(job) => context.handlers.job(job).await,
                    Err(err) => Err(HandlerError::Permanent(err.to_string())),
                };
                let subjects = context.topology.subjects();
                let settle = Settle {
                    js: &context.js,
                    subjects: &subjects,
                    metrics: &context.metrics,
                    source: "jobs",
                    max_deliveries: context.max_deliveries,
                };
                if let (Settled::GaveUp(error), Ok(job)) =
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
