//! Counters the control API exposes.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Per-shard dispatch figures.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct ShardStats {
    /// Dispatches sequenced for sessions of this shard.
    pub events: u64,
    /// Highest sequence number handed out on this shard.
    pub last_seq: u64,
}

/// A snapshot of the simulator's counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CountersSnapshot {
    /// WebSocket connections accepted.
    pub connections: u64,
    /// Connections by transport compression (`none`, `zlib-stream`, `zstd-stream`).
    pub connections_by_compression: BTreeMap<String, u64>,
    /// Successful IDENTIFYs.
    pub identifies: u64,
    /// Successful RESUMEs.
    pub resumes: u64,
    /// IDENTIFYs refused for breaking `max_concurrency` (answered with op 9).
    pub identify_violations: u64,
    /// Connections dropped because the client stopped heartbeating.
    pub heartbeat_misses: u64,
    /// Close codes the simulator sent, by code.
    pub closes_by_code: BTreeMap<u16, u64>,
    /// Dispatch figures by shard id.
    pub shards: BTreeMap<u32, ShardStats>,
    /// REST 429 responses by scope (`user`, `global`, `shared`, `cloudflare`).
    pub rest_429_by_scope: BTreeMap<String, u64>,
    /// REST requests served.
    pub rest_requests: u64,
}

/// Live counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections: AtomicU64,
    pub(crate) identifies: AtomicU64,
    pub(crate) resumes: AtomicU64,
    pub(crate) identify_violations: AtomicU64,
    pub(crate) heartbeat_misses: AtomicU64,
    pub(crate) rest_requests: AtomicU64,
    closes: Mutex<BTreeMap<u16, u64>>,
    compression: Mutex<BTreeMap<String, u64>>,
    shards: Mutex<BTreeMap<u32, ShardStats>>,
    rest_429: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn connected(&self, compression: &str) {
        Self::bump(&self.connections);
        *lock(&self.compression)
            .entry(compression.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn close_sent(&self, code: u16) {
        *lock(&self.closes).entry(code).or_default() += 1;
    }

    pub(crate) fn dispatched(&self, shard: u32, seq: u64) {
        let mut shards = lock(&self.shards);
        let s = shards.entry(shard).or_default();
        s.events += 1;
        s.last_seq = s.last_seq.max(seq);
    }

    pub(crate) fn rest_429(&self, scope: &str) {
        *lock(&self.rest_429).entry(scope.to_owned()).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            connections_by_compression: lock(&self.compression).clone(),
            identifies: self.identifies.load(Ordering::Relaxed),
            resumes: self.resumes.load(Ordering::Relaxed),
            identify_violations: self.identify_violations.load(Ordering::Relaxed),
            heartbeat_misses: self.heartbeat_misses.load(Ordering::Relaxed),
            closes_by_code: lock(&self.closes).clone(),
            shards: lock(&self.shards).clone(),
            rest_429_by_scope: lock(&self.rest_429).clone(),
            rest_requests: self.rest_requests.load(Ordering::Relaxed),
        }
    }
}
