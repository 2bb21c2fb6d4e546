//! Per-user command rate limits, in Redis: a fixed window per guild and user, shared by every
//! worker. Redis is a cache here, not the truth: when it is down or slow the command runs (a lost
//! Redis costs protection from spam, never a moderator's command).

use std::time::Duration;

use redis::aio::ConnectionManager;

/// A user's command budget: `count` commands per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserLimit {
    /// Commands allowed per window.
    pub count: u32,
    /// The window.
    pub window: Duration,
}

/// The limiter.
#[derive(Clone)]
pub(crate) struct Limiter {
    pub(crate) redis: ConnectionManager,
    pub(crate) prefix: String,
    pub(crate) limit: UserLimit,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// How long Redis gets before the command runs unlimited.
const REDIS_WAIT: Duration = Duration::from_millis(100);

impl Limiter {
    /// Counts one command of `user` in `guild`; `Some(wait)` when over the budget.
    pub(crate) async fn over(&self, guild: u64, user: u64, now_ms: u64) -> Option<Duration> {
        let window_ms = u64::try_from(self.limit.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let slot = now_ms / window_ms;
        let key = format!("{}:ratelimit:commands:{guild}:{user}:{slot}", self.prefix);
        let mut redis = self.redis.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .incr(&key, 1_u32)
            .pexpire(&key, i64::try_from(window_ms).unwrap_or(i64::MAX))
            .ignore();
        let counted = pipe.query_async::<(u32,)>(&mut redis);
        match tokio::time::timeout(REDIS_WAIT, counted).await {
            Ok(Ok((count,))) if count > self.limit.count => {
                Some(Duration::from_millis((slot + 1) * window_ms - now_ms))
            }
            Ok(Ok(_)) => None,
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "rate-limit store unavailable; not limiting");
                None
            }
            Err(_) => {
                tracing::debug!("rate-limit store timed out; not limiting");
                None
            }
        }
    }
}
