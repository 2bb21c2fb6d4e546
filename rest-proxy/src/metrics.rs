//! Prometheus metrics of the proxy.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of a forwarded or locally answered request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// Normalised route template (`unknown` for undocumented roots).
    pub(crate) route: String,
    /// HTTP method.
    pub(crate) method: String,
    /// Status returned to the client.
    pub(crate) status: u16,
}

/// Labels naming a scope or a reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct KindLabels {
    /// The scope (`user`, `shared`, `global`) or reason (`deadline`, `token_invalid`, ...).
    pub(crate) kind: String,
}

/// Every metric rest-proxy exports.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) queue_seconds: Histogram,
    pub(crate) upstream_seconds: Histogram,
    pub(crate) rate_limited: Family<KindLabels, Counter>,
    pub(crate) refused: Family<KindLabels, Counter>,
    pub(crate) invalid_window: Gauge,
    pub(crate) bucket_changes: Counter,
    pub(crate) fallback: Counter,
    pub(crate) completions_skipped: Counter,
    pub(crate) batched: Counter,
    pub(crate) reloads: Counter,
}

fn buckets() -> impl Iterator<Item = f64> {
    [
        0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
        2.5, 5.0, 10.0, 30.0,
    ]
    .into_iter()
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            queue_seconds: Histogram::new(buckets()),
            upstream_seconds: Histogram::new(buckets()),
            rate_limited: Family::default(),
            refused: Family::default(),
            invalid_window: Gauge::default(),
            bucket_changes: Counter::default(),
            fallback: Counter::default(),
            completions_skipped: Counter::default(),
            batched: Counter::default(),
            reloads: Counter::default(),
        };
        let r = registry.sub_registry_with_prefix("rest");
        r.register(
            "requests",
            "Requests by route template, method and status returned",
            metrics.requests.clone(),
        );
        r.register(
            "queue_seconds",
            "Time requests waited for their rate limits",
            metrics.queue_seconds.clone(),
        );
        r.register(
            "upstream_seconds",
            "Time Discord took to answer (response headers)",
            metrics.upstream_seconds.clone(),
        );
        r.register(
            "discord_429",
            "429 responses from Discord by scope (user, shared, global)",
            metrics.rate_limited.clone(),
        );
        r.register(
            "refused",
            "Requests answered locally without reaching Discord, by reason",
            metrics.refused.clone(),
        );
        r.register(
            "invalid_requests_window",
            "Invalid requests (401, 403, non-shared 429) in the last 10 minutes",
            metrics.invalid_window.clone(),
        );
        r.register(
            "bucket_changes",
            "Routes whose X-RateLimit-Bucket changed",
            metrics.bucket_changes.clone(),
        );
        r.register(
            "redis_fallback",
            "Reservations decided in memory because Redis was unreachable",
            metrics.fallback.clone(),
        );
        r.register(
            "redis_completions_skipped",
            "Discord answers not written back to Redis because the reservation already held them",
            metrics.completions_skipped.clone(),
        );
        r.register(
            "redis_batched_reservations",
            "Reservations granted to a queue's head for a request behind it (no round trip of its own)",
            metrics.batched.clone(),
        );
        r.register(
            "reloads",
            "Reloads (SIGHUP): token file re-read, 401 and webhook-404 marks forgotten",
            metrics.reloads.clone(),
        );
        metrics
    }

    /// Counts a request answered with `status`.
    pub(crate) fn request(&self, route: &str, method: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
    }

    /// Counts a local refusal.
    pub(crate) fn refuse(&self, reason: &str) {
        self.refused
            .get_or_create(&KindLabels {
                kind: reason.to_owned(),
            })
            .inc();
    }
}
