//! One route's FIFO queue, and the reservations its head took for the requests behind it.
//!
//! Requests of a route take turns holding the queue, in arrival order (tokio's mutex is fair).
//! With the Redis store, a reservation costs a round trip, and a route whose requests arrive
//! faster than that would be served one round trip at a time. So the head asks for one
//! reservation for itself and each request waiting behind it, in one script call, and leaves the
//! extra ones here: the next holders take them without asking Redis, still in arrival order.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::Snapshot;

/// The most reservations one head asks for (itself included).
pub(crate) const MAX_BATCH: u32 = 16;

/// How long a reservation left for the next requests stays usable, at most. Its global-window
/// entry was stamped when Redis granted it, so it must be sent soon after: well inside the
/// global window's margin (`AEGIS_REST_GLOBAL_MARGIN`, 100 ms by default), which keeps the window
/// conservative; see [`stash_fresh`]. The next holders are already waiting, so they take it
/// within microseconds; one not taken in time is dropped, which only leaves the bucket less used
/// than it could be.
pub(crate) const STASH_FRESH: Duration = Duration::from_millis(5);

/// The freshness limit for a global margin of `margin`: a quarter of it, at most
/// [`STASH_FRESH`]; zero (no batches) below 4 ms.
pub(crate) fn stash_fresh(margin: Duration) -> Duration {
    let quarter = margin / 4;
    if quarter < Duration::from_millis(1) {
        Duration::ZERO
    } else {
        quarter.min(STASH_FRESH)
    }
}

/// A route's queue: hold [`RouteQueue::turn`] to be the head.
#[derive(Debug, Default)]
pub(crate) struct RouteQueue {
    pub(crate) turn: tokio::sync::Mutex<Stash>,
}

/// Reservations granted to a head for the requests queued behind it.
#[derive(Debug, Default)]
pub(crate) struct Stash {
    granted: VecDeque<Granted>,
}

/// One reservation made by an earlier head of the queue.
#[derive(Debug, Clone)]
pub(crate) struct Granted {
    /// The bucket it was made on.
    pub(crate) bucket: String,
    /// The bucket's window generation then.
    pub(crate) epoch: u64,
    /// The bucket as Redis left it after the whole batch.
    pub(crate) snapshot: Option<Snapshot>,
    /// When Redis granted it.
    pub(crate) at: Instant,
    /// The limiter's invalidation count then: a pause, a 429 or a route moving to another bucket
    /// since makes it unusable (see [`super::Limiter`]).
    pub(crate) invalidations: u64,
}

impl Stash {
    /// Leaves `count` reservations like `granted` for the next holders.
    pub(crate) fn put(&mut self, granted: &Granted, count: u32) {
        for _ in 0..count {
            self.granted.push_back(granted.clone());
        }
    }

    /// The oldest reservation still usable: granted within `fresh` of `now`, and nothing
    /// invalidated since (`invalidations` is the limiter's count now). Others are dropped.
    pub(crate) fn take(
        &mut self,
        now: Instant,
        fresh: Duration,
        invalidations: u64,
    ) -> Option<Granted> {
        while let Some(granted) = self.granted.pop_front() {
            if now.saturating_duration_since(granted.at) <= fresh
                && granted.invalidations == invalidations
            {
                return Some(granted);
            }
        }
        None
    }
}

/// How many reservations a head asks for: itself and those waiting behind it (`holders` counts
/// every request holding a reference to the queue, the head included), at most [`MAX_BATCH`].
pub(crate) fn batch_size(holders: usize) -> u32 {
    u32::try_from(holders.max(1))
        .unwrap_or(MAX_BATCH)
        .min(MAX_BATCH)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{Granted, MAX_BATCH, STASH_FRESH, Stash, batch_size, stash_fresh};

    #[test]
    fn stashed_reservations_are_taken_in_order_while_fresh() {
        let now = Instant::now();
        let granted = |epoch| Granted {
            bucket: "b:x:".to_owned(),
            epoch,
            snapshot: None,
            at: now,
            invalidations: 7,
        };
        let mut stash = Stash::default();
        stash.put(&granted(1), 2);
        stash.put(&granted(2), 1);
        let take = |stash: &mut Stash, at| stash.take(at, STASH_FRESH, 7).map(|g| g.epoch);
        assert_eq!(take(&mut stash, now), Some(1));
        assert_eq!(take(&mut stash, now), Some(1));
        assert_eq!(take(&mut stash, now), Some(2));
        assert!(take(&mut stash, now).is_none());
        stash.put(&granted(3), 3);
        let late = now + STASH_FRESH + Duration::from_millis(1);
        assert!(
            take(&mut stash, late).is_none(),
            "stale reservations are dropped"
        );
        assert!(take(&mut stash, now).is_none(), "and gone");
        stash.put(&granted(4), 1);
        assert!(
            stash.take(now, STASH_FRESH, 8).is_none(),
            "a pause, a 429 or a bucket change since makes them unusable"
        );
    }

    #[test]
    fn the_freshness_limit_stays_inside_the_global_margin() {
        assert_eq!(stash_fresh(Duration::from_millis(100)), STASH_FRESH);
        assert_eq!(
            stash_fresh(Duration::from_millis(8)),
            Duration::from_millis(2)
        );
        assert_eq!(stash_fresh(Duration::from_millis(2)), Duration::ZERO);
    }

    #[test]
    fn a_head_asks_for_itself_and_those_behind_it() {
        assert_eq!(batch_size(0), 1);
        assert_eq!(batch_size(1), 1);
        assert_eq!(batch_size(5), 5);
        assert_eq!(batch_size(1_000), MAX_BATCH);
    }
}
