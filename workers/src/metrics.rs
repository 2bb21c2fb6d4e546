//! Worker metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of handled messages.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OutcomeLabels {
    pub(crate) source: &'static str,
    pub(crate) outcome: &'static str,
}

/// Every metric of a worker.
#[derive(Clone, Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) handled: Family<OutcomeLabels, Counter>,
    pub(crate) partitions_owned: Gauge,
}

impl Metrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let r = registry.sub_registry_with_prefix("worker");
        r.register(
            "messages",
            "Messages handled, by source and outcome (ok, retried, dead_lettered)",
            metrics.handled.clone(),
        );
        r.register(
            "partitions_owned",
            "Guild-event partitions this worker consumes",
            metrics.partitions_owned.clone(),
        );
        metrics
    }
}
