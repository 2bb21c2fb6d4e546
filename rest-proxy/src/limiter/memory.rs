//! Rate-limit state in this process: for a single instance, and as the conservative fallback of
//! the Redis store while Redis is unreachable.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Decision, INVALID_SLOTS, Outcome, POLL, UNLIMITED_FOR};

/// State of every token and bucket, behind one lock held for microseconds.
#[derive(Debug)]
pub(crate) struct MemoryStore {
    tokens: Mutex<HashMap<String, TokenState>>,
    routes: Mutex<HashMap<String, String>>,
    invalid: Mutex<VecDeque<(u64, u32)>>,
    global_limit: u32,
    window: Duration,
    /// Each limit is divided by this (1 for a single instance).
    share: u32,
    probe_lease: Duration,
}

#[derive(Debug, Default)]
struct TokenState {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
    buckets: HashMap<String, Bucket>,
}

#[derive(Debug, Default)]
struct Bucket {
    limit: Option<u32>,
    remaining: u32,
    /// Sent by this process in the current window (for the fallback share).
    used: u32,
    reset_at: Option<Instant>,
    /// Window generation, bumped on every refill.
    epoch: u64,
    probe_until: Option<Instant>,
    unlimited_until: Option<Instant>,
}

/// The value at `key`, created if missing, without allocating the key when it exists.
fn entry<'a, V: Default>(map: &'a mut HashMap<String, V>, key: &str) -> &'a mut V {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), V::default());
    }
    map.get_mut(key)
        .unwrap_or_else(|| unreachable!("inserted above"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// A store allowing `global_limit / share` requests per `window` per token and
    /// `limit / share` per bucket window.
    pub(crate) fn new(
        global_limit: u32,
        window: Duration,
        share: u32,
        probe_lease: Duration,
    ) -> Self {
        Self {
            tokens: Mutex::default(),
            routes: Mutex::default(),
            invalid: Mutex::default(),
            global_limit: (global_limit / share.max(1)).max(1),
            window,
            share: share.max(1),
            probe_lease,
        }
    }

    /// Tries to reserve one request on `bucket` (and a global slot when `global`), provided
    /// the route still maps to the hash it was resolved with (`check`: route and hash; `None`
    /// when routes are tracked elsewhere, as for the Redis store's fallback).
    pub(crate) fn reserve(
        &self,
        token: &str,
        check: Option<(&str, Option<&str>)>,
        bucket: &str,
        global: bool,
    ) -> Decision {
        let now = Instant::now();
        // Lock order: tokens, then routes (set_route_bucket takes routes alone).
        let mut tokens = lock(&self.tokens);
        if let Some((route, hash)) = check
            && lock(&self.routes)
                .get(&format!("{token}|{route}"))
                .map(String::as_str)
                != hash
        {
            return Decision::Stale;
        }
        let state = entry(&mut tokens, token);
        if global && let Some(until) = state.paused_until.filter(|u| *u > now) {
            return Decision::Wait(until - now);
        }
        let b = entry(&mut state.buckets, bucket);
        let mode = if b.unlimited_until.is_some_and(|u| u > now) {
            Mode::Free
        } else if let Some(limit) = b.limit {
            refill(b, limit, now);
            let share_limit = (limit / self.share).max(1);
            if b.remaining > 0 && b.used < share_limit {
                Mode::Take
            } else if let Some(reset) = b.reset_at {
                return Decision::Wait(
                    reset
                        .saturating_duration_since(now)
                        .max(Duration::from_millis(1)),
                );
            } else {
                return Decision::Pending(POLL);
            }
        } else if let Some(until) = b.probe_until.filter(|u| *u > now) {
            return Decision::Pending((until - now).min(POLL));
        } else {
            Mode::Probe
        };
        if global {
            while state
                .sent
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
            {
                state.sent.pop_front();
            }
            if state.sent.len() >= self.global_limit as usize {
                let oldest = state.sent.front().copied().unwrap_or(now);
                return Decision::Wait(
                    (oldest + self.window)
                        .saturating_duration_since(now)
                        .max(Duration::from_millis(1)),
                );
            }
            state.sent.push_back(now);
        }
        let b = entry(&mut state.buckets, bucket);
        match mode {
            Mode::Free => Decision::Go {
                probe: false,
                epoch: b.epoch,
                snapshot: None,
                granted: 1,
            },
            Mode::Take => {
                b.remaining -= 1;
                b.used += 1;
                Decision::Go {
                    probe: false,
                    epoch: b.epoch,
                    snapshot: None,
                    granted: 1,
                }
            }
            Mode::Probe => {
                b.probe_until = Some(now + self.probe_lease);
                Decision::Go {
                    probe: true,
                    epoch: b.epoch,
                    snapshot: None,
                    granted: 1,
                }
            }
        }
    }

    /// Records what Discord said about a request reserved on `bucket` in window `epoch` (`None`
    /// when it was reserved on another bucket).
    pub(crate) fn complete(
        &self,
        token: &str,
        bucket: &str,
        outcome: &Outcome,
        probe: bool,
        epoch: Option<u64>,
    ) {
        let now = Instant::now();
        let mut tokens = lock(&self.tokens);
        let state = entry(&mut tokens, token);
        let b = entry(&mut state.buckets, bucket);
        if probe {
            b.probe_until = None;
        }
        match *outcome {
            Outcome::Headers {
                limit,
                remaining,
                reset_after,
            } => {
                let reset_h = now + reset_after;
                b.unlimited_until = None;
                b.probe_until = None;
                match b.limit {
                    None => {
                        b.remaining = remaining;
                        b.reset_at = Some(reset_h);
                        b.used = 1;
                    }
                    Some(old) => {
                        refill(b, old, now);
                        match epoch {
                            // Same window: Discord's count can only lower ours; keep the later
                            // reset.
                            Some(e) if e == b.epoch => {
                                b.remaining = b.remaining.min(remaining);
                                b.reset_at = Some(b.reset_at.map_or(reset_h, |r| r.max(reset_h)));
                            }
                            // A response from a window already over: it says nothing now.
                            Some(_) => {}
                            // Reserved on another bucket: only lower the count.
                            None => b.remaining = b.remaining.min(remaining),
                        }
                    }
                }
                b.limit = Some(limit.max(1));
            }
            Outcome::Unlimited => {
                b.unlimited_until = Some(now + UNLIMITED_FOR);
            }
            Outcome::Limited(retry_after) => {
                let until = now + retry_after;
                b.remaining = 0;
                b.reset_at = Some(b.reset_at.map_or(until, |r| r.max(until)));
                b.limit = Some(b.limit.unwrap_or(1));
                b.probe_until = None;
            }
            Outcome::Release => {
                if !probe && b.limit.is_some() && b.reset_at.is_none() {
                    b.reset_at = Some(now + Duration::from_secs(1));
                }
            }
        }
        // An unknown bucket whose probe came back (its route learned its real bucket, or will
        // probe again) holds nothing worth keeping.
        if b.limit.is_none() && b.probe_until.is_none() && b.unlimited_until.is_none() {
            state.buckets.remove(bucket);
        }
    }

    /// Stops every globally limited request of `token` for `retry_after`.
    pub(crate) fn pause(&self, token: &str, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        let mut tokens = lock(&self.tokens);
        let state = tokens.entry(token.to_owned()).or_default();
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }

    /// The bucket hash learned for `route` of `token`.
    pub(crate) fn route_bucket(&self, token: &str, route: &str) -> Option<String> {
        lock(&self.routes).get(&format!("{token}|{route}")).cloned()
    }

    /// Remembers the bucket hash of `route`; returns whether it changed.
    pub(crate) fn set_route_bucket(&self, token: &str, route: &str, hash: &str) -> bool {
        let mut routes = lock(&self.routes);
        let key = format!("{token}|{route}");
        if routes.get(&key).is_some_and(|h| h == hash) {
            return false;
        }
        routes.insert(key, hash.to_owned());
        true
    }

    /// Counts one invalid request; returns the count over the last 10 minutes.
    pub(crate) fn record_invalid(&self) -> u32 {
        let slot = super::invalid_slot();
        let mut window = lock(&self.invalid);
        match window.back_mut() {
            Some((s, n)) if *s == slot => *n += 1,
            _ => window.push_back((slot, 1)),
        }
        sum_window(&mut window, slot)
    }

    /// Invalid requests over the last 10 minutes.
    pub(crate) fn invalid_count(&self) -> u32 {
        sum_window(&mut lock(&self.invalid), super::invalid_slot())
    }

    /// Forgets buckets idle for a while (their window long over, no probe out).
    pub(crate) fn prune(&self, idle: Duration) {
        let now = Instant::now();
        let mut tokens = lock(&self.tokens);
        for state in tokens.values_mut() {
            state.buckets.retain(|_, b| {
                let live = |t: Option<Instant>| t.is_some_and(|t| t + idle > now);
                live(b.reset_at) || live(b.probe_until) || live(b.unlimited_until)
            });
        }
        tokens.retain(|_, t| !t.buckets.is_empty() || !t.sent.is_empty());
    }
}

enum Mode {
    Free,
    Take,
    Probe,
}

fn refill(b: &mut Bucket, limit: u32, now: Instant) {
    if b.reset_at.is_some_and(|r| r <= now) {
        b.remaining = limit;
        b.used = 0;
        b.reset_at = None;
        b.epoch += 1;
    }
}

fn sum_window(window: &mut VecDeque<(u64, u32)>, slot: u64) -> u32 {
    let oldest = slot.saturating_sub(INVALID_SLOTS - 1);
    while window.front().is_some_and(|(s, _)| *s < oldest) {
        window.pop_front();
    }
    window.iter().map(|(_, n)| *n).sum()
}
