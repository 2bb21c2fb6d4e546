//! Per-shard status: `/shards`, `/readyz` and the `shard_state` metric from one place.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use aegis_service::Readiness;
use serde::Serialize;

use crate::metrics::{Metrics, StateLabels};

/// Where a shard is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ShardState {
    /// Opening the WebSocket.
    Connecting,
    /// Connected, waiting for an IDENTIFY permit from the queue.
    WaitingToIdentify,
    /// IDENTIFY sent, waiting for READY.
    Identifying,
    /// RESUME sent, waiting for RESUMED.
    Resuming,
    /// READY or RESUMED received: events flow.
    Ready,
    /// Disconnected, about to reconnect.
    Reconnecting,
    /// Stopped on a fatal close code; needs an operator.
    Fatal,
    /// Stopped by shutdown.
    Stopped,
}

impl ShardState {
    const ALL: [Self; 8] = [
        Self::Connecting,
        Self::WaitingToIdentify,
        Self::Identifying,
        Self::Resuming,
        Self::Ready,
        Self::Reconnecting,
        Self::Fatal,
        Self::Stopped,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::WaitingToIdentify => "waiting_to_identify",
            Self::Identifying => "identifying",
            Self::Resuming => "resuming",
            Self::Ready => "ready",
            Self::Reconnecting => "reconnecting",
            Self::Fatal => "fatal",
            Self::Stopped => "stopped",
        }
    }
}

/// One shard's row of `/shards`.
#[derive(Clone, Debug, Serialize)]
pub struct ShardStatus {
    /// Shard id.
    pub shard: u32,
    /// Current state.
    pub state: ShardState,
    /// Current session, if identified.
    pub session_id: Option<String>,
    /// Last sequence number read.
    pub seq: u64,
    /// Last sequence number acknowledged by JetStream.
    pub acked_seq: u64,
    /// Heartbeat round trip, milliseconds.
    pub latency_ms: Option<u64>,
    /// Reconnects since start.
    pub reconnects: u64,
    /// Whether the shard stopped reading because JetStream is slow or down.
    pub backpressured: bool,
    /// The last error or close, for an operator.
    pub last_error: Option<String>,
}

/// The status of every shard of this process.
#[derive(Clone, Debug)]
pub struct ShardBoard {
    /// One lock per shard: every dispatch updates its shard's row, and shards must not contend.
    rows: Arc<BTreeMap<u32, Mutex<ShardStatus>>>,
    readiness: Readiness,
    metrics: Metrics,
}

impl ShardBoard {
    pub(crate) fn new(
        shards: impl Iterator<Item = u32>,
        readiness: Readiness,
        metrics: Metrics,
    ) -> Self {
        let rows = shards
            .map(|shard| {
                readiness.register(&format!("shard-{shard}"));
                let row = ShardStatus {
                    shard,
                    state: ShardState::Connecting,
                    session_id: None,
                    seq: 0,
                    acked_seq: 0,
                    latency_ms: None,
                    reconnects: 0,
                    backpressured: false,
                    last_error: None,
                };
                (shard, Mutex::new(row))
            })
            .collect();
        Self {
            rows: Arc::new(rows),
            readiness,
            metrics,
        }
    }

    pub(crate) fn update(&self, shard: u32, f: impl FnOnce(&mut ShardStatus)) {
        if let Some(row) = self.rows.get(&shard) {
            f(&mut row.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }

    pub(crate) fn set_state(&self, shard: u32, state: ShardState) {
        self.update(shard, |row| row.state = state);
        // Ready means events flow; a stopped or fatal shard is not ready either.
        self.readiness
            .set(&format!("shard-{shard}"), state == ShardState::Ready);
        for candidate in ShardState::ALL {
            let value = i64::from(candidate == state);
            self.metrics
                .state
                .get_or_create(&StateLabels {
                    shard,
                    state: candidate.name(),
                })
                .set(value);
        }
    }

    /// A copy of every row, ordered by shard.
    pub fn snapshot(&self) -> Vec<ShardStatus> {
        self.rows
            .values()
            .map(|row| row.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect()
    }

    /// `/shards` as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.snapshot())
            .unwrap_or_else(|err| format!(r#"{{"error":"{err}"}}"#))
    }
}
