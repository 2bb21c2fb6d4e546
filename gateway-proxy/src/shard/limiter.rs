//! Discord's gateway send limit: 120 payloads per 60 seconds per connection.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Counts what a connection sent in the last window. Gateway commands (presence, member
/// requests) may use the limit minus a reserve; heartbeats, IDENTIFY and RESUME always go out
/// and are counted, and the reserve guarantees they never push the connection over.
#[derive(Debug)]
pub(crate) struct SendLimiter {
    sent: VecDeque<Instant>,
    limit: usize,
    reserve: usize,
    window: Duration,
}

impl SendLimiter {
    /// Discord's limit with room for heartbeats (at most 2 a minute at the shortest interval
    /// Discord has used) and a reconnect's IDENTIFY or RESUME.
    pub(crate) fn discord() -> Self {
        Self {
            sent: VecDeque::new(),
            limit: 120,
            reserve: 10,
            window: Duration::from_secs(60),
        }
    }

    fn expire(&mut self, now: Instant) {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.sent.pop_front();
        }
    }

    /// Records one payload sent now.
    pub(crate) fn record(&mut self, now: Instant) {
        self.expire(now);
        self.sent.push_back(now);
    }

    /// Whether a gateway command may be sent now.
    pub(crate) fn command_allowed(&mut self, now: Instant) -> bool {
        self.expire(now);
        self.sent.len() < self.limit - self.reserve
    }

    /// When the next command slot frees up (now, if one is free).
    pub(crate) fn next_free(&mut self, now: Instant) -> Instant {
        self.expire(now);
        let used = self.sent.len();
        let budget = self.limit - self.reserve;
        if used < budget {
            return now;
        }
        // The slot frees when the oldest of the entries above the budget ages out.
        self.sent
            .get(used - budget)
            .map_or(now, |t| *t + self.window)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use super::SendLimiter;

    #[tokio::test(start_paused = true)]
    async fn commands_stop_at_the_budget_and_resume_after_the_window() {
        let mut limiter = SendLimiter::discord();
        let start = Instant::now();
        for _ in 0..110 {
            assert!(limiter.command_allowed(start));
            limiter.record(start);
        }
        assert!(
            !limiter.command_allowed(start),
            "110 commands leave the reserve of 10"
        );
        assert_eq!(limiter.next_free(start), start + Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(limiter.command_allowed(Instant::now()));
    }
}
