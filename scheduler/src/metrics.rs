//! Scheduler metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels by job kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabels {
    pub(crate) kind: String,
}

/// Every metric of a scheduler.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    pub(crate) due: Gauge,
    pub(crate) claimed: Counter,
    pub(crate) fired: Family<KindLabels, Counter>,
    pub(crate) lateness: Histogram,
    pub(crate) publish_failures: Counter,
    pub(crate) reclaimed: Counter,
    pub(crate) duplicates: Counter,
}

impl Metrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            due: Gauge::default(),
            claimed: Counter::default(),
            fired: Family::default(),
            // 1 ms .. ~65 s
            lateness: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            publish_failures: Counter::default(),
            reclaimed: Counter::default(),
            duplicates: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("scheduler");
        r.register(
            "due",
            "Timers due and not yet dispatched",
            metrics.due.clone(),
        );
        r.register("claimed", "Timers claimed", metrics.claimed.clone());
        r.register("fired", "Jobs published, by kind", metrics.fired.clone());
        r.register(
            "lateness_seconds",
            "From a timer's due time to its job's JetStream ack",
            metrics.lateness.clone(),
        );
        r.register(
            "publish_failures",
            "Jobs JetStream did not acknowledge (they fire after the lease)",
            metrics.publish_failures.clone(),
        );
        r.register(
            "reclaimed",
            "Timers claimed again after a lease ran out (their scheduler died or could not publish)",
            metrics.reclaimed.clone(),
        );
        r.register(
            "duplicates",
            "Re-published jobs JetStream dropped as duplicates (already fired; not counted in fired)",
            metrics.duplicates.clone(),
        );
        metrics
    }
}
