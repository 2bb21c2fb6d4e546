//! Prometheus metrics of gateway-proxy.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of per-event counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EventLabels {
    pub(crate) shard: u32,
    pub(crate) event: String,
}

/// Labels of per-shard metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ShardLabels {
    pub(crate) shard: u32,
}

/// Labels of a shard's state (one series per state, 1 for the current one).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StateLabels {
    pub(crate) shard: u32,
    pub(crate) state: &'static str,
}

/// Labels of reconnects.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReasonLabels {
    pub(crate) shard: u32,
    pub(crate) reason: &'static str,
}

/// Every metric, registered once per process.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    pub(crate) events: Family<EventLabels, Counter>,
    pub(crate) excluded: Family<EventLabels, Counter>,
    pub(crate) publish_latency: Histogram,
    pub(crate) publish_retries: Counter,
    pub(crate) backpressured: Family<ShardLabels, Gauge>,
    pub(crate) state: Family<StateLabels, Gauge>,
    pub(crate) reconnects: Family<ReasonLabels, Counter>,
    pub(crate) identify_waiting: Gauge,
    pub(crate) gateway_latency: Family<ShardLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub(crate) commands: Family<ShardLabels, Counter>,
    pub(crate) publish_link_up: Gauge,
    pub(crate) events_too_large: Counter,
    pub(crate) publish_links: Counter,
}

impl Metrics {
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            events: Family::default(),
            excluded: Family::default(),
            // 100 us .. ~4.6 s, each bucket sqrt(2) wider than the last: fine enough to tell a
            // 3 ms p99 from a 5 ms one.
            publish_latency: Histogram::new(exponential_buckets(
                0.0001,
                std::f64::consts::SQRT_2,
                32,
            )),
            publish_retries: Counter::default(),
            backpressured: Family::default(),
            state: Family::default(),
            reconnects: Family::default(),
            identify_waiting: Gauge::default(),
            gateway_latency: Family::default(),
            commands: Family::default(),
            publish_link_up: Gauge::default(),
            events_too_large: Counter::default(),
            publish_links: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("gateway");
        r.register(
            "events",
            "Dispatches published to JetStream, by shard and event",
            metrics.events.clone(),
        );
        r.register(
            "events_excluded",
            "Dispatches dropped by AEGIS_GATEWAY_EXCLUDE_EVENTS",
            metrics.excluded.clone(),
        );
        r.register(
            "publish_latency_seconds",
            "From reading a dispatch off the WebSocket to JetStream's ack",
            metrics.publish_latency.clone(),
        );
        r.register(
            "publish_retries",
            "JetStream publishes retried (NATS down or slow)",
            metrics.publish_retries.clone(),
        );
        r.register(
            "backpressured",
            "1 while a shard has stopped reading because its publish window is full",
            metrics.backpressured.clone(),
        );
        r.register(
            "shard_state",
            "1 for the shard's current state",
            metrics.state.clone(),
        );
        r.register(
            "reconnects",
            "Reconnects by shard and reason",
            metrics.reconnects.clone(),
        );
        r.register(
            "identify_waiting",
            "Shards waiting for an IDENTIFY permit",
            metrics.identify_waiting.clone(),
        );
        r.register(
            "latency_seconds",
            "Heartbeat round trip of each shard",
            metrics.gateway_latency.clone(),
        );
        r.register(
            "commands",
            "Gateway commands sent, by shard",
            metrics.commands.clone(),
        );
        r.register(
            "events_too_large",
            "Dispatches dropped because they exceed the NATS server's max_payload",
            metrics.events_too_large.clone(),
        );
        r.register(
            "publish_connected",
            "1 while the NATS connection events are published on is up",
            metrics.publish_link_up.clone(),
        );
        r.register(
            "publish_connections",
            "NATS connections opened to publish events (a broken one is replaced, not reconnected)",
            metrics.publish_links.clone(),
        );
        metrics
    }
}
