//! Data retention: deleting rows past their age, table by table.

use std::time::Duration;

use tokio_postgres::GenericClient;

use crate::StorageError;

/// A table whose old rows are deleted. Only these can be purged: a job names one, never SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetainedTable {
    /// Command analytics (the seed keeps 90 days).
    CommandUsage,
    /// Interaction idempotency records (a day covers any redelivery).
    ProcessedInteractions,
    /// Timers that finished, were cancelled or died, with their errors (the seed keeps error logs
    /// 30 days).
    FinishedTimers,
    /// Moderation cases and their notes, the audit trail (the seed keeps audit logs 2 years).
    /// Case numbers are never reused after a purge: the counter row stays.
    Cases,
}

impl RetainedTable {
    /// Every retained table with its name in jobs and its default age.
    pub const ALL: [(Self, &'static str, Duration); 4] = [
        (
            Self::CommandUsage,
            "command_usage",
            Duration::from_secs(90 * 86_400),
        ),
        (
            Self::ProcessedInteractions,
            "processed_interactions",
            Duration::from_secs(86_400),
        ),
        (
            Self::FinishedTimers,
            "finished_timers",
            Duration::from_secs(30 * 86_400),
        ),
        (Self::Cases, "cases", Duration::from_secs(730 * 86_400)),
    ];

    /// The table of a job's name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(t, _, _)| *t)
    }

    /// Its name in jobs.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map_or("", |(_, n, _)| n)
    }

    fn delete_sql(self) -> &'static str {
        match self {
            Self::CommandUsage => {
                "DELETE FROM command_usage WHERE used_at < now() - make_interval(secs => $1)"
            }
            Self::ProcessedInteractions => {
                "DELETE FROM processed_interactions WHERE processed_at < now() - make_interval(secs => $1)"
            }
            Self::FinishedTimers => {
                "DELETE FROM scheduled_actions WHERE status IN ('done', 'cancelled', 'dead')
                 AND created_at < now() - make_interval(secs => $1)"
            }
            Self::Cases => "DELETE FROM cases WHERE created_at < now() - make_interval(secs => $1)",
        }
    }

    /// Deletes this table's rows older than `max_age`; returns how many.
    pub async fn purge(
        self,
        client: &impl GenericClient,
        max_age: Duration,
    ) -> Result<u64, StorageError> {
        Ok(client
            .execute(self.delete_sql(), &[&max_age.as_secs_f64()])
            .await?)
    }
}
