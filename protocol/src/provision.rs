//! Creates or updates the JetStream topology at start-up.

use std::time::Duration;

use async_nats::jetstream::{self, context::CreateStreamError, stream::ConsumerError};

use crate::Topology;

/// Why the topology could not be provisioned.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// A stream could not be created or updated (JetStream down, or a change it refuses).
    #[error("cannot create or update stream {stream}: {source}")]
    Stream {
        /// The stream's name.
        stream: String,
        /// The server's or client's error.
        #[source]
        source: CreateStreamError,
    },
    /// A durable consumer could not be created or updated.
    #[error("cannot create or update consumer {consumer} on stream {stream}: {source}")]
    Consumer {
        /// The stream's name.
        stream: String,
        /// The consumer's durable name.
        consumer: String,
        /// The server's or client's error.
        #[source]
        source: ConsumerError,
    },
}

/// How many times one stream or consumer is tried. Two processes provisioning at the same moment
/// can both see "not found" and both create: the loser gets an error that a retry resolves.
const ATTEMPTS: u32 = 5;

/// Creates every stream and durable consumer of `topology`, or updates them to match it.
///
/// Idempotent: calling it again with the same topology changes nothing, and any number of
/// processes may call it at the same moment (every Aegis process does at start-up).
pub async fn provision(js: &jetstream::Context, topology: &Topology) -> Result<(), ProvisionError> {
    for config in topology.streams() {
        let name = config.name.clone();
        retry(|| js.create_or_update_stream(config.clone()))
            .await
            .map_err(|source| ProvisionError::Stream {
                stream: name.clone(),
                source,
            })?;
        tracing::debug!(stream = %name, "stream provisioned");
    }
    for spec in topology.consumers() {
        let consumer = spec.config.durable_name.clone().unwrap_or_default();
        retry(|| js.create_consumer_on_stream(spec.config.clone(), spec.stream.as_str()))
            .await
            .map_err(|source| ProvisionError::Consumer {
                stream: spec.stream.clone(),
                consumer: consumer.clone(),
                source,
            })?;
    }
    tracing::info!(
        namespace = %topology.namespace,
        partitions = topology.partitions.get(),
        "JetStream topology provisioned"
    );
    Ok(())
}

async fn retry<T, E, F, Fut>(mut op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(value) => return Ok(value),
            Err(err) if attempt < ATTEMPTS => {
                tracing::debug!(attempt, error = %err, "provisioning raced or failed; retrying");
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}
