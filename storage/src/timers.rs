//! Durable timers: the `scheduled_actions` table that schedulers claim and workers complete.

use std::time::{Duration, SystemTime};

use tokio_postgres::{GenericClient, Row};

use crate::{Pool, StorageError};

/// A timer to set.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTimer {
    /// What to do when it fires (the job kind, e.g. `unban`).
    pub kind: String,
    /// The guild it concerns.
    pub guild_id: Option<u64>,
    /// The kind's parameters.
    pub payload: serde_json::Value,
    /// When it fires.
    pub due_at: SystemTime,
    /// Identifies the timer for cancel and reschedule (e.g. `unban:{guild}:{user}`).
    pub dedupe_key: String,
}

/// A timer claimed by a scheduler.
#[derive(Clone, Debug, PartialEq)]
pub struct DueTimer {
    /// Row id: the job id and its JetStream message id.
    pub id: i64,
    /// Job kind.
    pub kind: String,
    /// Guild.
    pub guild_id: Option<u64>,
    /// Parameters.
    pub payload: serde_json::Value,
    /// When it was due.
    pub due_at: SystemTime,
    /// How many times it has been claimed (1 on the first).
    pub attempts: i32,
}

/// The timer table.
#[derive(Clone, Debug)]
pub struct Timers {
    pool: Pool,
}

fn due_from_row(row: &Row) -> Result<DueTimer, StorageError> {
    let guild: Option<i64> = row.try_get("guild_id")?;
    Ok(DueTimer {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        guild_id: guild.and_then(|g| u64::try_from(g).ok()),
        payload: row.try_get("payload")?,
        due_at: row.try_get("due_at")?,
        attempts: row.try_get("attempts")?,
    })
}

impl Timers {
    /// Timers in `pool`'s database.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Sets a timer, or moves the pending one with the same key to the new time and payload (a
    /// new timeout replaces the old expiry). Returns its id.
    pub async fn schedule(&self, timer: &NewTimer) -> Result<i64, StorageError> {
        let conn = self.pool.get().await?;
        Self::schedule_in(&*conn, timer).await
    }

    /// [`schedule`](Self::schedule) inside the caller's transaction (with the action that sets it).
    pub async fn schedule_in(
        client: &impl GenericClient,
        timer: &NewTimer,
    ) -> Result<i64, StorageError> {
        let guild = timer
            .guild_id
            .map(i64::try_from)
            .transpose()
            .map_err(|_| StorageError::Corrupt("guild id out of range".into()))?;
        let row = client
            .query_one(
                "INSERT INTO scheduled_actions (kind, guild_id, payload, due_at, dedupe_key)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (dedupe_key) DO UPDATE
                 SET kind = EXCLUDED.kind, guild_id = EXCLUDED.guild_id, payload = EXCLUDED.payload,
                     due_at = EXCLUDED.due_at, status = 'pending', attempts = 0, lease_until = NULL, last_error = NULL
                 RETURNING id",
                &[&timer.kind, &guild, &timer.payload, &timer.due_at, &timer.dedupe_key],
            )
            .await?;
        Ok(row.try_get(0)?)
    }

    /// Cancels a timer that has not fired; `false` if there was none pending.
    pub async fn cancel(&self, dedupe_key: &str) -> Result<bool, StorageError> {
        let conn = self.pool.get().await?;
        Self::cancel_in(&*conn, dedupe_key).await
    }

    /// [`cancel`](Self::cancel) inside the caller's transaction.
    pub async fn cancel_in(
        client: &impl GenericClient,
        dedupe_key: &str,
    ) -> Result<bool, StorageError> {
        let updated = client
            .execute(
                "UPDATE scheduled_actions SET status = 'cancelled' WHERE dedupe_key = $1 AND status = 'pending'",
                &[&dedupe_key],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Claims up to `limit` due timers, oldest due first, for `lease`: no other scheduler takes
    /// them until the lease runs out (`FOR UPDATE SKIP LOCKED`, so schedulers never wait on each
    /// other). A scheduler that dies before [`mark_dispatched`](Self::mark_dispatched) leaves them
    /// to be claimed again after the lease.
    pub async fn claim_due(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<DueTimer>, StorageError> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "WITH due AS (
                     SELECT id FROM scheduled_actions
                     WHERE status = 'pending' AND due_at <= now()
                       AND (lease_until IS NULL OR lease_until < now())
                     ORDER BY due_at, id
                     LIMIT $1
                     FOR UPDATE SKIP LOCKED
                 )
                 UPDATE scheduled_actions a
                 SET lease_until = now() + make_interval(secs => $2::bigint / 1000.0), attempts = a.attempts + 1
                 FROM due WHERE a.id = due.id
                 RETURNING a.id, a.kind, a.guild_id, a.payload, a.due_at, a.attempts",
                &[&limit, &lease_ms],
            )
            .await?;
        let mut due: Vec<DueTimer> = rows.iter().map(due_from_row).collect::<Result<_, _>>()?;
        due.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.id.cmp(&b.id)));
        Ok(due)
    }

    /// Marks timers as published (their job is in JetStream; a worker completes them). Only rows
    /// still under this claim's lease: a worker may already have run the job and rescheduled the
    /// same timer (a recurring or self-renewing job), which clears the lease, and that new
    /// schedule must stay pending.
    pub async fn mark_dispatched(&self, ids: &[i64]) -> Result<(), StorageError> {
        let conn = self.pool.get().await?;
        conn.execute(
            "UPDATE scheduled_actions SET status = 'dispatched', lease_until = NULL
             WHERE id = ANY($1) AND status = 'pending' AND lease_until IS NOT NULL",
            &[&ids],
        )
        .await?;
        Ok(())
    }

    /// Completes a fired timer inside the transaction of its effect: `false` if it was cancelled,
    /// already completed, or rescheduled since this job was published (its due time is no longer
    /// `due_at_ms`), in which case the caller rolls back and does nothing.
    pub async fn complete(
        client: &impl GenericClient,
        id: i64,
        due_at_ms: i64,
    ) -> Result<bool, StorageError> {
        let updated = client
            .execute(
                "UPDATE scheduled_actions SET status = 'done', lease_until = NULL
                 WHERE id = $1 AND status IN ('pending', 'dispatched')
                 AND abs(extract(epoch FROM due_at) * 1000 - $2::bigint) < 1",
                &[&id, &due_at_ms],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Records a timer given up after its last attempt.
    pub async fn mark_dead(&self, id: i64, error: &str) -> Result<(), StorageError> {
        let conn = self.pool.get().await?;
        conn.execute(
            "UPDATE scheduled_actions SET status = 'dead', last_error = $2 WHERE id = $1 AND status <> 'done'",
            &[&id, &error],
        )
        .await?;
        Ok(())
    }

    /// Sets a recurring timer at start-up: inserted if its key is new; if one is pending, its
    /// payload is refreshed (a changed configuration) and its due time kept.
    pub async fn ensure(&self, timer: &NewTimer) -> Result<(), StorageError> {
        let guild = timer
            .guild_id
            .map(i64::try_from)
            .transpose()
            .map_err(|_| StorageError::Corrupt("guild id out of range".into()))?;
        let conn = self.pool.get().await?;
        conn.execute(
            "INSERT INTO scheduled_actions (kind, guild_id, payload, due_at, dedupe_key)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (dedupe_key) DO UPDATE SET payload = EXCLUDED.payload
             WHERE scheduled_actions.status = 'pending'",
            &[
                &timer.kind,
                &guild,
                &timer.payload,
                &timer.due_at,
                &timer.dedupe_key,
            ],
        )
        .await?;
        Ok(())
    }

    /// How many timers are due and not yet dispatched.
    pub async fn due_count(&self) -> Result<i64, StorageError> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_one("SELECT count(*) FROM scheduled_actions WHERE status = 'pending' AND due_at <= now()", &[])
            .await?;
        Ok(row.try_get(0)?)
    }

    /// When the next pending timer is due, if any (a scheduler sleeps until then).
    pub async fn next_due(&self) -> Result<Option<SystemTime>, StorageError> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_one(
                "SELECT min(due_at) FROM scheduled_actions WHERE status = 'pending'",
                &[],
            )
            .await?;
        Ok(row.try_get(0)?)
    }
}
