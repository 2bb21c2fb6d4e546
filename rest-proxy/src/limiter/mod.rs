//! The rate limiter: per-bucket FIFO queues in front of a state store (memory or Redis).
//!
//! A request waits its turn in its route's FIFO queue (method, route template, top-level
//! resource), resolves its bucket (`b:{hash}:{major}` once Discord's `X-RateLimit-Bucket` is known
//! for the route, else the conservative `r:{route}` bucket, which lets one request out at a time
//! until Discord answers), then asks the store for a reservation: the store checks the token's
//! global pause, the bucket's remaining count and the token's rolling global window atomically,
//! and consumes them together.

mod memory;
mod queue;
mod redis;
mod scripts;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;

pub(crate) use memory::MemoryStore;
pub(crate) use redis::RedisStore;

use queue::{Granted, RouteQueue};
/// Longest sleep while a bucket waits on a response elsewhere (a probe, a window's first reply).
pub(crate) const POLL: Duration = Duration::from_millis(20);
/// How long a route answered without rate-limit headers is treated as having none.
pub(crate) const UNLIMITED_FOR: Duration = Duration::from_secs(300);
/// Seconds per slot of the invalid-request window.
pub(crate) const INVALID_SLOT: u64 = 10;
/// Slots in the invalid-request window (60 x 10 s = Discord's 10 minutes).
pub(crate) const INVALID_SLOTS: u64 = 60;

/// The current slot of the invalid-request window.
pub(crate) fn invalid_slot() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / INVALID_SLOT)
}

/// What the store says about a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send now; `probe` when the bucket is unknown and this request will teach it.
    Go {
        /// Whether this request is the bucket's probe.
        probe: bool,
        /// The bucket's window generation when reserved: a response from an older window says
        /// nothing about the current one.
        epoch: u64,
        /// The bucket as the store left it, when the store is remote: a response that tells it
        /// nothing new is then not sent back to it.
        snapshot: Option<Snapshot>,
        /// Reservations granted, this one included (more than one when asked for a batch).
        granted: u32,
    },
    /// Known wait (bucket reset, global window, global pause).
    Wait(Duration),
    /// Waiting on a response still in flight: ask again after this.
    Pending(Duration),
    /// The route's bucket changed since it was resolved: resolve it again.
    Stale,
}

/// How much later than the store's reset an answer's reset may be and still describe the same
/// window: network and scheduling delays, far below Discord's shortest window (1 s).
pub(crate) const SAME_WINDOW: Duration = Duration::from_millis(20);

/// A bucket as a remote store left it right after a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Snapshot {
    /// A counted window.
    Counted {
        /// Requests per window.
        limit: u32,
        /// Requests left after this reservation.
        remaining: u32,
        /// When the window resets, on this process's clock.
        reset_at: Instant,
    },
    /// A route without a per-route limit, known to be so until then.
    Unlimited {
        /// When the store stops treating the bucket as unlimited.
        until: Instant,
    },
}

impl Snapshot {
    /// Whether `outcome`, for a request reserved with this snapshot in the same window, tells
    /// the store nothing it needs: the same limit, a count no lower than the one the store
    /// already holds (the store keeps the lower), and a reset within [`SAME_WINDOW`] of the one
    /// it holds; or an unlimited route still known as such for a minute.
    ///
    /// Why a reset a little later than the store's may be dropped: every reset the store holds
    /// was computed as "Redis's now + Discord's reset-after" after Discord answered, so it is
    /// never earlier than Discord's real reset; a second answer of the same window only carries
    /// a different delay. A reset later by more than the tolerance is another window, and is
    /// written.
    pub(crate) fn makes_redundant(&self, outcome: &Outcome, now: Instant) -> bool {
        match (*self, *outcome) {
            (
                Self::Counted {
                    limit,
                    remaining,
                    reset_at,
                },
                Outcome::Headers {
                    limit: told_limit,
                    remaining: told_remaining,
                    reset_after,
                },
            ) => {
                limit == told_limit
                    && told_remaining >= remaining
                    && now + reset_after <= reset_at + SAME_WINDOW
            }
            (Self::Unlimited { until }, Outcome::Unlimited) => {
                until.saturating_duration_since(now) >= Duration::from_secs(60)
            }
            _ => false,
        }
    }
}

/// What Discord's response says about the bucket a request was reserved on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `X-RateLimit-Limit`, `-Remaining` and `-Reset-After`.
    Headers {
        /// Requests per window.
        limit: u32,
        /// Requests left in this window.
        remaining: u32,
        /// Time until the window resets.
        reset_after: Duration,
    },
    /// A success without rate-limit headers: the route has no per-route limit.
    Unlimited,
    /// A 429 on this bucket (user or shared scope): nothing until `retry_after`.
    Limited(Duration),
    /// No usable answer (error, timeout): just give back the probe.
    Release,
}

/// Where rate-limit state lives.
#[derive(Debug)]
pub(crate) enum Store {
    /// In this process only (`AEGIS_REST_SINGLE_INSTANCE=true`).
    Memory(MemoryStore),
    /// Shared through Redis, with an in-memory fallback.
    Redis(Box<RedisStore>),
}

/// A granted reservation, to be completed with Discord's answer.
#[derive(Debug, Clone)]
pub(crate) struct Permit {
    /// The bucket the reservation was made on.
    pub(crate) bucket: String,
    /// Whether this request probes an unknown bucket.
    pub(crate) probe: bool,
    /// The bucket's window generation when reserved.
    pub(crate) epoch: u64,
    /// Whether the in-memory fallback granted it (Redis unreachable).
    pub(crate) fallback: bool,
    /// The bucket as the remote store left it (see [`Snapshot`]).
    pub(crate) snapshot: Option<Snapshot>,
    /// Time spent queued.
    pub(crate) queued: Duration,
}

/// Why a request was not reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeadlineExceeded {
    /// Time already waited.
    pub(crate) waited: Duration,
    /// The known wait still ahead, when known.
    pub(crate) retry_after: Option<Duration>,
}

/// Queues and store.
#[derive(Debug)]
pub(crate) struct Limiter {
    store: Store,
    queues: Mutex<HashMap<String, Arc<RouteQueue>>>,
    /// Requests in flight by token and top-level resource: when a response teaches a bucket
    /// the request was not reserved on (first answer of a route, hash change), the others in
    /// flight may count against that bucket too.
    in_flight: Mutex<HashMap<String, u32>>,
    /// Counts answers not written back to the remote store (see [`Snapshot`]).
    skipped: Counter,
    /// Counts reservations taken from a queue's stash (see [`queue`]).
    batched: Counter,
    /// How long a stashed reservation stays usable ([`queue::stash_fresh`]); zero: no batches.
    stash_fresh: Duration,
    /// Bumped by every global pause, per-bucket 429 and route moving to another bucket: a
    /// stashed reservation made before any of these is not used.
    invalidations: AtomicU64,
}

impl Limiter {
    /// A limiter over `store`, counting skipped write-backs in `skipped` and reservations
    /// served from a batch in `batched`; `global_margin` bounds how long a batch may wait.
    pub(crate) fn new(
        store: Store,
        skipped: Counter,
        batched: Counter,
        global_margin: Duration,
    ) -> Self {
        Self {
            store,
            queues: Mutex::default(),
            in_flight: Mutex::default(),
            skipped,
            batched,
            stash_fresh: queue::stash_fresh(global_margin),
            invalidations: AtomicU64::new(0),
        }
    }

    fn invalidate(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }

    /// The store.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The bucket hash of `route_key` of `token` right now, and the bucket id it gives.
    pub(crate) async fn bucket_of(
        &self,
        token: &str,
        route_key: &str,
        major: &str,
    ) -> (Option<String>, String) {
        let hash = match &self.store {
            Store::Memory(m) => m.route_bucket(token, route_key),
            Store::Redis(r) => r.route_bucket(token, route_key).await,
        };
        let bucket = match &hash {
            Some(hash) => format!("b:{hash}:{major}"),
            None => format!("r:{route_key}"),
        };
        (hash, bucket)
    }

    /// Waits for a reservation: FIFO in the bucket's queue, then until the store grants it.
    /// Refuses when `deadline` passes or a known wait would end after it.
    pub(crate) async fn acquire(
        &self,
        token: &str,
        route_key: &str,
        major: &str,
        global: bool,
        deadline: Instant,
    ) -> Result<Permit, DeadlineExceeded> {
        let start = Instant::now();
        // One FIFO queue per route (method, template, top-level resource): requests of a route
        // leave in arrival order whether or not its bucket is known yet; routes sharing a bucket
        // meet in the store, which counts them together.
        let queue_key = format!("{token}:{route_key}");
        let queue = Arc::clone(
            self.queues
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(queue_key.clone())
                .or_default(),
        );
        let result = self
            .wait_turn(&queue, token, route_key, major, global, start, deadline)
            .await;
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::strong_count(&queue) == 2 {
            queues.remove(&queue_key);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn wait_turn(
        &self,
        queue: &Arc<RouteQueue>,
        token: &str,
        route_key: &str,
        major: &str,
        global: bool,
        start: Instant,
        deadline: Instant,
    ) -> Result<Permit, DeadlineExceeded> {
        let exceeded = |retry_after| DeadlineExceeded {
            waited: start.elapsed(),
            retry_after,
        };
        let Ok(mut turn) = tokio::time::timeout_at(deadline, queue.turn.lock()).await else {
            return Err(exceeded(None));
        };
        let invalidations = self.invalidations.load(Ordering::SeqCst);
        if let Some(granted) = turn.take(Instant::now(), self.stash_fresh, invalidations) {
            // Reserved by an earlier head of this queue for the requests behind it.
            self.batched.inc();
            self.count_in_flight(token, major);
            return Ok(Permit {
                bucket: granted.bucket,
                probe: false,
                epoch: granted.epoch,
                fallback: false,
                snapshot: granted.snapshot,
                queued: start.elapsed(),
            });
        }
        loop {
            // Resolved again on every attempt: the bucket may be learned while this waits.
            // The store reserves only if the route still maps to `hash` (atomically), so no
            // request goes out on a bucket the route just left.
            let (hash, bucket) = self.bucket_of(token, route_key, major).await;
            let hash = hash.as_deref();
            // Counted as in flight before asking, not after: a finish that learns a new bucket
            // for this resource meanwhile must count this request if the store grants it.
            self.count_in_flight(token, major);
            // Read before asking: a move or pause while the store answers voids the batch.
            let invalidations = self.invalidations.load(Ordering::SeqCst);
            let (decision, fallback) = match &self.store {
                Store::Memory(m) => (
                    m.reserve(token, Some((route_key, hash)), &bucket, global),
                    false,
                ),
                Store::Redis(r) => {
                    // The map holds one reference, each request of the route one.
                    let want = if self.stash_fresh.is_zero() {
                        1
                    } else {
                        queue::batch_size(Arc::strong_count(queue).saturating_sub(1))
                    };
                    let (d, by_redis) = r
                        .reserve(token, route_key, hash, &bucket, global, want)
                        .await;
                    (d, !by_redis)
                }
            };
            let now = Instant::now();
            match decision {
                Decision::Go {
                    probe,
                    epoch,
                    snapshot,
                    granted,
                } => {
                    if granted > 1 {
                        let extra = Granted {
                            bucket: bucket.clone(),
                            epoch,
                            snapshot,
                            at: now,
                            invalidations,
                        };
                        turn.put(&extra, granted - 1);
                    }
                    return Ok(Permit {
                        bucket,
                        probe,
                        epoch,
                        fallback,
                        snapshot,
                        queued: now - start,
                    });
                }
                Decision::Wait(_) | Decision::Stale | Decision::Pending(_) => {
                    self.uncount_in_flight(token, major);
                }
            }
            match decision {
                Decision::Go { .. } => {}
                Decision::Wait(wait) => {
                    if now + wait > deadline {
                        return Err(exceeded(Some(wait)));
                    }
                    tokio::time::sleep(wait).await;
                }
                Decision::Stale => {
                    if let Store::Redis(r) = &self.store {
                        r.forget_route(token, route_key);
                    }
                }
                Decision::Pending(wait) => {
                    if now + wait > deadline {
                        tokio::time::sleep_until(deadline).await;
                        return Err(exceeded(None));
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One more request in flight on `token`'s top-level resource `major`.
    fn count_in_flight(&self, token: &str, major: &str) {
        *self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(format!("{token}:{major}"))
            .or_default() += 1;
    }

    /// One request fewer in flight on `major`; returns how many remain.
    fn uncount_in_flight(&self, token: &str, major: &str) -> u32 {
        let key = format!("{token}:{major}");
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let n = in_flight.get(&key).copied().unwrap_or(0).saturating_sub(1);
        if n == 0 {
            in_flight.remove(&key);
        } else {
            in_flight.insert(key, n);
        }
        n
    }

    /// Requests in flight on `major` (asking the store included).
    fn in_flight_on(&self, token: &str, major: &str) -> u32 {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&format!("{token}:{major}"))
            .copied()
            .unwrap_or(0)
    }

    /// Records Discord's answer to a request reserved with `permit`: `outcome` goes to the
    /// bucket `learned` from `X-RateLimit-Bucket` (`route_key` moves to `hash` first, then the
    /// bucket's state is written) or else the permit's own, whose probe is given back last. A count learned
    /// for a bucket the request was not reserved on is lowered by the other requests in flight on
    /// the same top-level resource (counted after the route moved), since they may count against
    /// it too. Returns whether the
    /// route's bucket changed.
    pub(crate) async fn finish(
        &self,
        token: &str,
        major: &str,
        permit: &Permit,
        learned: Option<(&str, &str)>,
        mut outcome: Outcome,
    ) -> bool {
        let target = learned.map_or_else(
            || permit.bucket.clone(),
            |(_, hash)| format!("b:{hash}:{major}"),
        );
        self.uncount_in_flight(token, major);
        let moved = target != permit.bucket;
        if matches!(outcome, Outcome::Limited(_)) {
            // A 429 on the bucket: what a batch reserved before it is not used.
            self.invalidate();
        }
        // The route moves first; only then are the others counted, so that every request that
        // could still be granted on the old bucket is among them (requests count themselves
        // before they ask the store); then the new bucket learns its count. A request of the
        // route that resolves after the move finds the new bucket (unknown: it probes).
        let changed = match learned {
            Some((route_key, hash)) => self.learn(token, route_key, hash).await,
            None => false,
        };
        if moved && let Outcome::Headers { remaining, .. } = &mut outcome {
            *remaining = remaining.saturating_sub(self.in_flight_on(token, major));
        }
        self.complete(token, &target, &outcome, permit).await;
        if moved {
            self.complete(token, &permit.bucket, &Outcome::Release, permit)
                .await;
        }
        changed
    }

    /// Records `outcome` on `bucket` for a request reserved with `permit`.
    async fn complete(&self, token: &str, bucket: &str, outcome: &Outcome, permit: &Permit) {
        let own = bucket == permit.bucket;
        let probe = permit.probe && own;
        let epoch = own.then_some(permit.epoch);
        match (&self.store, permit.fallback) {
            (Store::Memory(m), _) => m.complete(token, bucket, outcome, probe, epoch),
            (Store::Redis(r), true) => r.fallback.complete(token, bucket, outcome, probe, epoch),
            (Store::Redis(r), false) => {
                // Most answers repeat what the reservation already left in Redis: skip the
                // round trip (and half of Redis's work per request) for those.
                let redundant = own
                    && !probe
                    && permit
                        .snapshot
                        .is_some_and(|s| s.makes_redundant(outcome, Instant::now()));
                if redundant {
                    self.skipped.inc();
                } else {
                    r.complete(token, bucket, outcome, probe, epoch).await;
                }
            }
        }
    }

    /// Learns that `route_key` belongs to bucket `hash`; returns whether that changed.
    async fn learn(&self, token: &str, route_key: &str, hash: &str) -> bool {
        let changed = match &self.store {
            Store::Memory(m) => m.set_route_bucket(token, route_key, hash),
            Store::Redis(r) => r.set_route_bucket(token, route_key, hash).await,
        };
        if changed {
            self.invalidate();
        }
        changed
    }

    /// Pauses every globally limited request of `token`.
    pub(crate) async fn pause(&self, token: &str, retry_after: Duration) {
        self.invalidate();
        match &self.store {
            Store::Memory(m) => m.pause(token, retry_after),
            Store::Redis(r) => r.pause(token, retry_after).await,
        }
    }

    /// Counts an invalid request; returns the window's count.
    pub(crate) async fn record_invalid(&self) -> u32 {
        match &self.store {
            Store::Memory(m) => m.record_invalid(),
            Store::Redis(r) => r.record_invalid().await,
        }
    }

    /// Invalid requests in the current 10-minute window.
    pub(crate) async fn invalid_count(&self) -> u32 {
        match &self.store {
            Store::Memory(m) => m.invalid_count(),
            Store::Redis(r) => r.invalid_count().await,
        }
    }
}
