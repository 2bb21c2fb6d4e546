//! Guild events: the partitions this worker holds, each consumed one message at a time, in order.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aegis_protocol::{Envelope, GatewayEvent, Topology};
use aegis_service::{CancellationToken, Readiness};
use async_nats::jetstream::{self, consumer::PullConsumer};
use futures_util::StreamExt;
use tokio::task::JoinSet;

use super::Leases;
use super::settle::{Settle, Settled};
use crate::handlers::{HandlerError, Handlers};
use crate::metrics::Metrics;

/// What every consuming task shares.
#[derive(Debug)]
pub(crate) struct ConsumeContext {
    pub(crate) js: jetstream::Context,
    pub(crate) topology: Topology,
    pub(crate) handlers: Handlers,
    pub(crate) metrics: Metrics,
    pub(crate) max_deliveries: u64,
    /// The partitions held after the last rebalance (for status and tests).
    pub(crate) held: std::sync::Mutex<Vec<u16>>,
}

/// Keeps this worker's share of partitions: rebalances the leases every third of their life and
/// starts or stops one consuming task per held partition.
pub(crate) async fn supervise_partitions(
    context: Arc<ConsumeContext>,
    mut leases: Leases,
    lease_ttl: Duration,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    let mut running: BTreeMap<u16, CancellationToken> = BTreeMap::new();
    let mut tasks = JoinSet::new();
    let mut tick = tokio::time::interval(lease_ttl / 3);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        }
        let held = match leases.rebalance().await {
            Ok(held) => {
                readiness.set("partition-leases", true);
                held
            }
            Err(err) => {
                // Without Redis no lease can be renewed: stop consuming rather than risk two
                // workers per partition for long (order would still hold, work would double).
                tracing::warn!(error = %err, "cannot renew partition leases; pausing guild events");
                readiness.set("partition-leases", false);
                Default::default()
            }
        };
        running.retain(|partition, stop| {
            let keep = held.contains(partition);
            if !keep {
                stop.cancel();
            }
            keep
        });
        for partition in held {
            if running.contains_key(&partition) {
                continue;
            }
            let stop = shutdown.child_token();
            running.insert(partition, stop.clone());
            tasks.spawn(consume_partition(Arc::clone(&context), partition, stop));
        }
        context
            .metrics
            .partitions_owned
            .set(i64::try_from(running.len()).unwrap_or(i64::MAX));
        *context
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = running.keys().copied().collect();
    }
    for stop in running.values() {
        stop.cancel();
    }
    while tasks.join_next().await.is_some() {}
    leases.release_all().await;
    context.metrics.partitions_owned.set(0);
}

/// Consumes one partition until `stop`: fetch one event, handle it, ack it, next.
async fn consume_partition(context: Arc<ConsumeContext>, partition: u16, stop: CancellationToken) {
    let name = Topology::partition_consumer(partition);
    let consumer: PullConsumer = loop {
        let found = async {
            let stream = context
                .js
                .get_stream(context.topology.events_stream())
                .await
                .map_err(|e| e.to_string())?;
            stream.get_consumer(&name).await.map_err(|e| e.to_string())
        };
        match found.await {
            Ok(consumer) => break consumer,
            Err(err) => {
                tracing::warn!(partition, error = %err, "cannot open the partition consumer; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = stop.cancelled() => return,
                }
            }
        }
    };
    tracing::debug!(partition, "consuming partition");
    while !stop.is_cancelled() {
        let batch = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_millis(500))
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                tracing::debug!(partition, error = %err, "fetch failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        while let Some(message) = batch.next().await {
            let Ok(message) = message else { continue };
            process(&context, partition, message).await;
        }
    }
}

async fn process(context: &ConsumeContext, partition: u16, message: jetstream::Message) {
    let outcome = match GatewayEvent::decode(&message.payload) {
        Ok(event) => context.handlers.guild_event(&event).await,
        Err(err) => Err(HandlerError::Permanent(err.to_string())),
    };
    let subjects = context.topology.subjects();
    let settle = Settle {
        js: &context.js,
        subjects: &subjects,
        metrics: &context.metrics,
        source: "events",
        max_deliveries: context.max_deliveries,
    };
    if let Settled::GaveUp(error) = settle.settle(&message, outcome).await {
        tracing::debug!(
            partition,
            error,
            "partition moves past a dead-lettered event"
        );
    }
}
