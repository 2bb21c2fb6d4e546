//! Executing the scheduler's jobs. Each runs in one transaction with the completion of its timer,
//! so a job delivered twice, or whose timer was cancelled, has no second effect.

use std::time::{Duration, SystemTime};

use aegis_protocol::Job;
use aegis_storage::{Cases, NewTimer, RetainedTable, Timers};
use serde::Deserialize;

use super::{HandlerError, Handlers};

/// `warn_expiry`: a warning stops counting.
#[derive(Deserialize)]
struct WarnExpiry {
    case_id: i64,
}

/// `mod_log`: post a case to the mod-log channel.
#[derive(Deserialize)]
struct ModLog {
    case: i32,
}

/// `retention`: delete a table's rows past their age, then set the next run.
#[derive(Deserialize)]
struct Retention {
    table: String,
    max_age_secs: u64,
    every_secs: u64,
}

impl Handlers {
    /// Runs one job.
    pub(crate) async fn job(&self, job: &Job) -> Result<(), HandlerError> {
        let timer_id: i64 = job.id.parse().map_err(|_| {
            HandlerError::Permanent(format!("job id {:?} is not a timer id", job.id))
        })?;
        let body: serde_json::Value = job
            .body()
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        let tx = conn
            .transaction()
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        if !Timers::complete(&tx, timer_id, job.due_at_ms).await? {
            tracing::debug!(
                timer_id,
                kind = job.kind,
                "timer cancelled or already done; nothing to do"
            );
            return Ok(());
        }
        let mut next = None;
        match job.kind.as_str() {
            "warn_expiry" => {
                let body: WarnExpiry = parse(body)?;
                Cases::expire_warning(&tx, body.case_id).await?;
            }
            "retention" => {
                let body: Retention = parse(body)?;
                let table = RetainedTable::parse(&body.table).ok_or_else(|| {
                    HandlerError::Permanent(format!("no retention for table {:?}", body.table))
                })?;
                let deleted = table
                    .purge(&tx, Duration::from_secs(body.max_age_secs))
                    .await?;
                tracing::info!(table = table.name(), deleted, "retention purge");
                next = Some((table, body));
            }
            "unban" => self.unban(&tx, job, timer_id, parse(body)?).await?,
            "unmute" => self.unmute(&tx, job, timer_id, parse(body)?).await?,
            "timeout_renew" => {
                // The renewal is itself a timer, set in this transaction.
                self.renew_timeout(&tx, job, parse(body)?).await?;
            }
            "mod_log" => {
                let body: ModLog = parse(body)?;
                let guild = job
                    .guild_id
                    .ok_or_else(|| HandlerError::Permanent("mod_log job without a guild".into()))?;
                crate::commands::modlog::post(&self.commands, guild, body.case).await?;
            }
            "ticket_event" => self.publish_ticket_event(job, body).await?,
            "ticket_close" => self.finish_ticket_close(&tx, parse(body)?).await?,
            "ticket_delete" => self.delete_closed_ticket(parse(body)?).await?,
            "ticket_inactive" => self.check_inactivity(&tx, timer_id, parse(body)?).await?,
            other => {
                return Err(HandlerError::Permanent(format!(
                    "unknown job kind {other:?}"
                )));
            }
        }
        tx.commit()
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        if let Some((table, body)) = next {
            // The next run of a recurring job: the same timer, moved on (idempotent on its key).
            let timer = NewTimer {
                kind: job.kind.clone(),
                guild_id: None,
                payload: serde_json::json!({ "table": body.table, "max_age_secs": body.max_age_secs, "every_secs": body.every_secs }),
                due_at: SystemTime::now() + Duration::from_secs(body.every_secs.max(60)),
                dedupe_key: format!("retention:{}", table.name()),
            };
            self.timers.schedule(&timer).await?;
        }
        Ok(())
    }

    /// Records a job given up after its last attempt on its timer.
    pub(crate) async fn job_given_up(&self, job: &Job, error: &str) {
        let Ok(timer_id) = job.id.parse::<i64>() else {
            return;
        };
        if let Err(err) = self.timers.mark_dead(timer_id, error).await {
            tracing::warn!(timer_id, error = %err, "cannot mark the timer dead");
        }
    }
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(
    body: serde_json::Value,
) -> Result<T, HandlerError> {
    serde_json::from_value(body).map_err(|e| HandlerError::Permanent(format!("job body: {e}")))
}
