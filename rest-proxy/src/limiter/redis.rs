//! Rate-limit state shared by every instance through Redis.
//!
//! Every decision is one Lua script (atomic, Redis's clock). When a Redis call fails, that call
//! and every later one fall back to the in-process [`MemoryStore`] holding `1/fallback_share` of
//! each limit (no request waits on a dead Redis), and the `redis` readiness component turns not
//! ready until the upkeep task's ping (every second) succeeds again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use aegis_service::Readiness;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use super::memory::MemoryStore;
use super::{Decision, INVALID_SLOTS, Outcome, Snapshot, UNLIMITED_FOR, scripts};

/// The Redis-backed store.
pub(crate) struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    reserve: Script,
    complete: Script,
    pause: Script,
    /// Route -> bucket hash, learned locally or read from Redis; `None` when Redis knew none
    /// (a route without rate-limit headers, or not answered yet). Safe to trust: a reservation
    /// checks the route's hash in Redis atomically and says `Stale` when it moved, which drops
    /// the entry here.
    routes: Mutex<HashMap<String, Option<String>>>,
    pub(crate) fallback: MemoryStore,
    healthy: AtomicBool,
    readiness: Readiness,
    members: AtomicU64,
    instance: u64,
    global_limit: u32,
    window_ms: u64,
    probe_lease_ms: u64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("healthy", &self.healthy)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on `conn` (connected lazily), keys under `prefix`.
    pub(crate) fn new(
        conn: ConnectionManager,
        prefix: String,
        fallback: MemoryStore,
        readiness: Readiness,
        global_limit: u32,
        window: Duration,
        probe_lease: Duration,
    ) -> Self {
        let instance = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| {
                u64::try_from(d.as_nanos() % u128::from(u64::MAX)).unwrap_or(0)
            })
            ^ u64::from(std::process::id());
        readiness.register("redis");
        Self {
            conn,
            prefix,
            reserve: Script::new(scripts::RESERVE),
            complete: Script::new(scripts::COMPLETE),
            pause: Script::new(scripts::PAUSE),
            routes: Mutex::default(),
            fallback,
            healthy: AtomicBool::new(false),
            readiness,
            members: AtomicU64::new(0),
            instance,
            global_limit,
            window_ms: millis(window),
            probe_lease_ms: millis(probe_lease),
        }
    }

    /// `{prefix}{kind}:{id}`. Ids start with a hash tag (`{token id}`, `{window}`), so the keys
    /// one script touches share a Redis Cluster slot.
    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// Records the outcome of a Redis call in the readiness; `None` on failure.
    fn check<T>(&self, result: redis::RedisResult<T>) -> Option<T> {
        match result {
            Ok(value) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!("redis reachable: sharing rate limits");
                    self.readiness.set("redis", true);
                }
                Some(value)
            }
            Err(err) => {
                if self.healthy.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %err, "redis unreachable: falling back to in-memory limits");
                }
                self.readiness.set("redis", false);
                None
            }
        }
    }

    /// Whether the last Redis call succeeded.
    pub(crate) fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Checks Redis (for readiness at start-up and recovery).
    pub(crate) async fn ping(&self) {
        let mut conn = self.conn.clone();
        let ping = redis::cmd("PING");
        let result: redis::RedisResult<String> =
            match tokio::time::timeout(Duration::from_millis(500), ping.query_async(&mut conn))
                .await
            {
                Ok(result) => result,
                Err(_) => Err(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "no answer to PING within 500 ms",
                ))),
            };
        self.check(result);
    }

    /// See [`MemoryStore::reserve`], for up to `want` requests of the route at once; the second
    /// value says whether Redis decided.
    pub(crate) async fn reserve(
        &self,
        token: &str,
        route: &str,
        hash: Option<&str>,
        bucket: &str,
        global: bool,
        want: u32,
    ) -> (Decision, bool) {
        if !self.healthy() {
            return (self.fallback.reserve(token, None, bucket, global), false);
        }
        let member = format!(
            "{:x}:{}",
            self.instance,
            self.members.fetch_add(1, Ordering::Relaxed)
        );
        let mut conn = self.conn.clone();
        // Taken before asking: times Redis reports relative to its "now" then land no later
        // here than they are, so a snapshot never claims a reset later than Redis holds.
        let asked = Instant::now();
        let result: redis::RedisResult<Vec<i64>> = self
            .reserve
            .key(self.key("bucket", &format!("{{{token}}}:{bucket}")))
            .key(self.key("global", &format!("{{{token}}}")))
            .key(self.key("pause", &format!("{{{token}}}")))
            .key(self.key("route", &format!("{{{token}}}:{route}")))
            .arg(u8::from(global))
            .arg(self.global_limit)
            .arg(self.window_ms)
            .arg(self.probe_lease_ms)
            .arg(member)
            .arg(hash.unwrap_or(""))
            .arg(want)
            .invoke_async(&mut conn)
            .await;
        let Some(reply) = self.check(result) else {
            return (self.fallback.reserve(token, None, bucket, global), false);
        };
        (decision(&reply, asked), true)
    }

    /// See [`MemoryStore::complete`].
    pub(crate) async fn complete(
        &self,
        token: &str,
        bucket: &str,
        outcome: &Outcome,
        probe: bool,
        epoch: Option<u64>,
    ) {
        let (kind, limit, remaining, ms) = match *outcome {
            Outcome::Headers {
                limit,
                remaining,
                reset_after,
            } => ("headers", limit, remaining, millis(reset_after)),
            Outcome::Unlimited => ("unlimited", 0, 0, 0),
            Outcome::Limited(retry) => ("limited", 0, 0, millis(retry)),
            Outcome::Release => ("release", 0, 0, 0),
        };
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<i64> = self
            .complete
            .key(self.key("bucket", &format!("{{{token}}}:{bucket}")))
            .arg(kind)
            .arg(u8::from(probe))
            .arg(limit)
            .arg(remaining)
            .arg(ms)
            .arg(millis(UNLIMITED_FOR))
            .arg(epoch.map_or(-1, |e| i64::try_from(e).unwrap_or(i64::MAX)))
            .invoke_async(&mut conn)
            .await;
        if self.check(result).is_none() {
            self.fallback.complete(token, bucket, outcome, probe, epoch);
        }
    }

    /// See [`MemoryStore::pause`]; applied locally too, so a Redis failure cannot lose it.
    pub(crate) async fn pause(&self, token: &str, retry_after: Duration) {
        self.fallback.pause(token, retry_after);
        if !self.healthy() {
            return;
        }
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<i64> = self
            .pause
            .key(self.key("pause", &format!("{{{token}}}")))
            .arg(millis(retry_after).max(1))
            .invoke_async(&mut conn)
            .await;
        self.check(result);
    }

    /// The bucket hash of `route`: from the local cache, else from Redis.
    pub(crate) async fn route_bucket(&self, token: &str, route: &str) -> Option<String> {
        let id = format!("{{{token}}}:{route}");
        if let Some(hash) = self
            .routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return hash.clone();
        }
        if !self.healthy() {
            return None;
        }
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<Option<String>> = conn.get(self.key("route", &id)).await;
        // Not remembered when Redis failed: the next request asks again.
        let hash = self.check(result)?;
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, hash.clone());
        hash
    }

    /// Drops the cached bucket hash of `route` (Redis holds another).
    pub(crate) fn forget_route(&self, token: &str, route: &str) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&format!("{{{token}}}:{route}"));
    }

    /// Remembers the bucket hash of `route` here and in Redis; returns whether it changed.
    pub(crate) async fn set_route_bucket(&self, token: &str, route: &str, hash: &str) -> bool {
        let id = format!("{{{token}}}:{route}");
        let changed = {
            let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
            if routes.get(&id).is_some_and(|h| h.as_deref() == Some(hash)) {
                false
            } else {
                routes.insert(id.clone(), Some(hash.to_owned()));
                true
            }
        };
        if changed && self.healthy() {
            let mut conn = self.conn.clone();
            let result: redis::RedisResult<()> =
                conn.set_ex(self.key("route", &id), hash, 86_400).await;
            self.check(result);
        }
        changed
    }

    /// Counts one invalid request in the shared 10-minute window; returns the window's count.
    pub(crate) async fn record_invalid(&self) -> u32 {
        let local = self.fallback.record_invalid();
        if !self.healthy() {
            return local;
        }
        let slot = super::invalid_slot();
        let mut conn = self.conn.clone();
        let key = self.key("invalid", &format!("{{window}}:{slot}"));
        let result: redis::RedisResult<(u32, i64)> = redis::pipe()
            .incr(&key, 1)
            .expire(
                &key,
                i64::try_from(INVALID_SLOTS * super::INVALID_SLOT + 60).unwrap_or(i64::MAX),
            )
            .query_async(&mut conn)
            .await;
        if self.check(result).is_none() {
            return local;
        }
        self.invalid_count().await.max(local)
    }

    /// Invalid requests over the last 10 minutes, all instances together.
    pub(crate) async fn invalid_count(&self) -> u32 {
        if !self.healthy() {
            return self.fallback.invalid_count();
        }
        let slot = super::invalid_slot();
        let keys: Vec<String> = (0..INVALID_SLOTS)
            .map(|i| self.key("invalid", &format!("{{window}}:{}", slot.saturating_sub(i))))
            .collect();
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<Vec<Option<u32>>> = conn.mget(keys).await;
        match self.check(result) {
            Some(counts) => counts.into_iter().flatten().sum(),
            None => self.fallback.invalid_count(),
        }
    }
}

/// The reservation script's answer (see [`scripts::RESERVE`]).
fn decision(reply: &[i64], asked: Instant) -> Decision {
    let value = |i: usize| reply.get(i).copied().unwrap_or(-1);
    let ms = |v: i64| Duration::from_millis(u64::try_from(v).unwrap_or(0));
    match value(0) {
        0 => {
            let (limit, remaining, reset_in, unlimited_in) =
                (value(3), value(4), value(5), value(6));
            let snapshot = if unlimited_in >= 0 {
                Some(Snapshot::Unlimited {
                    until: asked + ms(unlimited_in),
                })
            } else if let (Ok(limit), Ok(remaining), true) = (
                u32::try_from(limit),
                u32::try_from(remaining),
                reset_in >= 0,
            ) {
                Some(Snapshot::Counted {
                    limit,
                    remaining,
                    reset_at: asked + ms(reset_in),
                })
            } else {
                None
            };
            Decision::Go {
                probe: value(1) == 1,
                epoch: u64::try_from(value(2)).unwrap_or(0),
                snapshot,
                granted: u32::try_from(value(7)).unwrap_or(1).max(1),
            }
        }
        3 => Decision::Stale,
        1 => Decision::Wait(ms(value(1)).max(Duration::from_millis(1))),
        _ => Decision::Pending(ms(value(1)).min(super::POLL).max(Duration::from_millis(1))),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aegis_service::Readiness;
    use redis::AsyncCommands;

    use super::{Decision, MemoryStore, RedisStore};

    async fn store(
        prefix: &str,
        probe_lease: Duration,
    ) -> (RedisStore, redis::aio::ConnectionManager) {
        let client = redis::Client::open("redis://127.0.0.1:6379").expect("url");
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .expect("Redis at 127.0.0.1:6379");
        let window = Duration::from_millis(1_100);
        let store = RedisStore::new(
            conn.clone(),
            prefix.to_owned(),
            MemoryStore::new(50, window, 1, probe_lease),
            Readiness::new(),
            50,
            window,
            probe_lease,
        );
        store.ping().await;
        (store, conn)
    }

    fn prefix(tag: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("aegis-test:{tag}-{}-{nanos}:", std::process::id())
    }

    #[tokio::test]
    async fn a_window_whose_first_answer_never_came_lets_one_request_out_after_the_lease() {
        let prefix = prefix("stuck");
        let (store, mut conn) = store(&prefix, Duration::from_millis(200)).await;
        // A window refilled and used up by an instance that then died before any answer
        // came back: limit known, nothing left, its end unknown.
        let key = format!("{prefix}bucket:{{t}}:b:h:");
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let _: () = conn
            .hset_multiple(
                &key,
                &[
                    ("limit", 4),
                    ("remaining", 0),
                    ("reset", 0),
                    ("epoch", 1),
                    ("opened", now_ms),
                ],
            )
            .await
            .expect("seeded");
        let _: () = conn.pexpire(&key, 60_000).await.expect("expiry");
        let first = store.reserve("t", "GET /x|", None, "b:h:", true, 4).await;
        assert!(
            matches!(first, (Decision::Pending(wait), true) if wait >= Duration::from_millis(10)),
            "waits for the window's first answer, polling gently: {first:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let second = store.reserve("t", "GET /x|", None, "b:h:", true, 4).await;
        assert!(
            matches!(second, (Decision::Go { granted: 1, .. }, true)),
            "after the lease one request goes to learn the window again: {second:?}"
        );
        let third = store.reserve("t", "GET /x|", None, "b:h:", true, 4).await;
        assert!(
            matches!(third, (Decision::Pending(_), true)),
            "and only one: {third:?}"
        );
    }
}
