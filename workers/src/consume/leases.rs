//! Partition leases in Redis: which worker consumes which guild-event partition.
//!
//! Every worker heartbeats into a sorted set of live workers and holds a fair share,
//! `ceil(partitions / live workers)`, of partition leases (`SET NX PX`, renewed while held). A
//! worker over its share releases the surplus; one under it takes free partitions. So partitions
//! spread over the live workers and move within a lease period when one joins, leaves or dies.
//!
//! Order never depends on leases: each partition's consumer has one message in flight at a time
//! (see protocol), so two workers briefly holding the same partition still process it in order.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;
use redis::aio::ConnectionManager;

/// One worker's view of the leases.
pub(crate) struct Leases {
    redis: ConnectionManager,
    prefix: String,
    worker_id: String,
    partitions: u16,
    ttl: Duration,
    owned: BTreeSet<u16>,
}

const RENEW: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Leases {
    /// Leases of `partitions` partitions under `prefix` (namespaced per deployment).
    pub(crate) fn new(
        redis: ConnectionManager,
        prefix: String,
        worker_id: String,
        partitions: u16,
        ttl: Duration,
    ) -> Self {
        Self {
            redis,
            prefix,
            worker_id,
            partitions,
            ttl,
            owned: BTreeSet::new(),
        }
    }

    fn lease_key(&self, partition: u16) -> String {
        format!("{}:partition:{partition}", self.prefix)
    }

    fn workers_key(&self) -> String {
        format!("{}:workers", self.prefix)
    }

    /// One round: heartbeat, renew, give back or take partitions. Returns the partitions held now.
    pub(crate) async fn rebalance(&mut self) -> Result<BTreeSet<u16>, redis::RedisError> {
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let now = now_ms();
        let mut redis = self.redis.clone();
        let workers_key = self.workers_key();
        let (live,): (Vec<String>,) = redis::pipe()
            .zadd(&workers_key, &self.worker_id, now)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&workers_key)
            .arg("-inf")
            .arg(now.saturating_sub(ttl_ms))
            .ignore()
            .pexpire(&workers_key, i64::try_from(ttl_ms * 10).unwrap_or(i64::MAX))
            .ignore()
            .zrange(&workers_key, 0, -1)
            .query_async(&mut redis)
            .await?;
        let share = usize::from(self.partitions).div_ceil(live.len().max(1));

        // Renew what we hold; whatever fails to renew was lost (expired and taken).
        let renew = Script::new(RENEW);
        for partition in self.owned.clone() {
            let renewed: i64 = renew
                .key(self.lease_key(partition))
                .arg(&self.worker_id)
                .arg(ttl_ms)
                .invoke_async(&mut redis)
                .await?;
            if renewed == 0 {
                self.owned.remove(&partition);
            }
        }
        // Give back the surplus, highest partitions first.
        let release = Script::new(RELEASE);
        while self.owned.len() > share {
            let Some(partition) = self.owned.pop_last() else {
                break;
            };
            let _: i64 = release
                .key(self.lease_key(partition))
                .arg(&self.worker_id)
                .invoke_async(&mut redis)
                .await?;
        }
        // Take free partitions up to the share, starting at a point of our own so workers do not
        // all race for partition 0.
        let start =
            usize::try_from(fastrand::u32(..)).unwrap_or(0) % usize::from(self.partitions.max(1));
        for step in 0..usize::from(self.partitions) {
            if self.owned.len() >= share {
                break;
            }
            let Ok(partition) = u16::try_from((start + step) % usize::from(self.partitions)) else {
                continue;
            };
            if self.owned.contains(&partition) {
                continue;
            }
            let taken: Option<String> = redis::cmd("SET")
                .arg(self.lease_key(partition))
                .arg(&self.worker_id)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut redis)
                .await?;
            if taken.is_some() {
                self.owned.insert(partition);
            }
        }
        Ok(self.owned.clone())
    }

    /// Gives every lease back and leaves the live set (graceful shutdown: partitions move at once).
    pub(crate) async fn release_all(&mut self) {
        let mut redis = self.redis.clone();
        let release = Script::new(RELEASE);
        for partition in std::mem::take(&mut self.owned) {
            let _: Result<i64, _> = release
                .key(self.lease_key(partition))
                .arg(&self.worker_id)
                .invoke_async(&mut redis)
                .await;
        }
        let _: Result<i64, _> = redis::cmd("ZREM")
            .arg(self.workers_key())
            .arg(&self.worker_id)
            .query_async(&mut redis)
            .await;
    }
}
