//! IDENTIFY pacing across processes: a twilight-gateway-queue `Queue` backed by Redis.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::oneshot;
use twilight_gateway_queue::Queue;

/// One IDENTIFY per `shard % max_concurrency` bucket per interval, however many gateway-proxy
/// processes share the bot.
///
/// Each bucket is a Redis key taken with `SET NX PX`: whoever sets it may identify, and the key
/// expires after the interval plus a safety margin, which opens the bucket again. Nobody deletes
/// it early, so a process that dies right after identifying still holds its bucket for the full
/// interval. While Redis is unreachable no permit is given: a shard waits rather than risk an
/// IDENTIFY that Discord would count against the bot.
#[derive(Clone)]
pub struct RedisQueue {
    redis: ConnectionManager,
    prefix: String,
    max_concurrency: u32,
    hold: Duration,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("prefix", &self.prefix)
            .field("max_concurrency", &self.max_concurrency)
            .field("hold", &self.hold)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// A queue for `max_concurrency` buckets, each opening `interval` after its last IDENTIFY.
    ///
    /// The bucket is held a little longer than `interval` (a twentieth of it, at least 50 ms):
    /// the IDENTIFY leaves a moment after the permit, and that moment varies between processes.
    pub fn new(
        redis: ConnectionManager,
        prefix: &str,
        max_concurrency: u16,
        interval: Duration,
    ) -> Self {
        let margin = (interval / 20).max(Duration::from_millis(50));
        Self {
            redis,
            prefix: prefix.to_owned(),
            max_concurrency: u32::from(max_concurrency.max(1)),
            hold: interval + margin,
        }
    }

    fn key(&self, bucket: u32) -> String {
        format!(
            "{}:gateway:identify:{}:{bucket}",
            self.prefix, self.max_concurrency
        )
    }
}

impl Queue for RedisQueue {
    fn enqueue(&self, shard: u32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut redis = self.redis.clone();
        let key = self.key(shard % self.max_concurrency);
        let hold_ms = u64::try_from(self.hold.as_millis()).unwrap_or(u64::MAX);
        tokio::spawn(async move {
            loop {
                if tx.is_closed() {
                    return;
                }
                let taken: Result<Option<String>, _> = redis::cmd("SET")
                    .arg(&key)
                    .arg(shard)
                    .arg("NX")
                    .arg("PX")
                    .arg(hold_ms)
                    .query_async(&mut redis)
                    .await;
                match taken {
                    Ok(Some(_)) => {
                        let _ = tx.send(());
                        return;
                    }
                    Ok(None) => {
                        let ttl: i64 = redis::cmd("PTTL")
                            .arg(&key)
                            .query_async(&mut redis)
                            .await
                            .unwrap_or(50);
                        let wait = u64::try_from(ttl).unwrap_or(10).clamp(5, hold_ms.max(5));
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    Err(err) => {
                        tracing::warn!(shard, error = %err, "identify queue: Redis unreachable; waiting");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        rx
    }
}
