//! Executing the scheduler's jobs. Each runs in one transaction with the completion of its timer,
//! so a job delivered twice, or whose timer was cancelled, has no second effect.

use std::time::{Duration, SystemTime};

use aegis_protocol::Job;
use aegis_storage::{CaseKind, CaseSource, Cases, NewCase, NewTimer, RetainedTable, Timers};
use serde::Deserialize;

use super::{HandlerError, Handlers};

/// `warn_expiry`: a warning stops counting.
#[derive(Deserialize)]
struct WarnExpiry {
    case_id: i64,
}

/// `unban`: a temp-ban ends.
#[derive(Deserialize)]
struct Unban {
    user_id: String,
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
        if !Timers::complete(&tx, timer_id).await? {
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
            "unban" => {
                let body: Unban = parse(body)?;
                self.unban(&tx, job, timer_id, &body).await?;
            }
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

    /// Lifts a temp-ban through rest-proxy and records an `unban` case with source `scheduled`.
    /// A ban already lifted (Discord's 10026 Unknown Ban) completes without a case.
    async fn unban(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        job: &Job,
        timer_id: i64,
        body: &Unban,
    ) -> Result<(), HandlerError> {
        use twilight_http::request::AuditLogReason;
        let guild = job
            .guild_id
            .and_then(twilight_model::id::Id::new_checked)
            .ok_or_else(|| HandlerError::Permanent("unban job without a guild".into()))?;
        let user = body
            .user_id
            .parse()
            .ok()
            .and_then(twilight_model::id::Id::new_checked)
            .ok_or_else(|| HandlerError::Permanent(format!("unban job user {:?}", body.user_id)))?;
        let reason = format!("Temp-ban of case #{} expired", body.case);
        let lifted = self
            .commands
            .http
            .delete_ban(guild, user)
            .reason(&reason)
            .await;
        if let Err(err) = lifted {
            let unknown_ban = matches!(
                err.kind(),
                twilight_http::error::ErrorType::Response { error: twilight_http::api_error::ApiError::General(e), .. } if e.code == 10026
            );
            if unknown_ban {
                tracing::info!(guild = %guild, user = %user, "temp-ban already lifted");
                return Ok(());
            }
            return Err(HandlerError::Transient(format!("unban: {err}")));
        }
        let case = NewCase {
            guild_id: guild.get(),
            kind: CaseKind::Unban,
            target_id: user.get(),
            moderator_id: self.bot_user_id,
            reason: Some(reason),
            source: CaseSource::Scheduled,
            expires_at: None,
            dedupe_key: format!("timer:{timer_id}"),
        };
        Cases::insert(tx, &case).await?;
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

fn parse<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, HandlerError> {
    serde_json::from_value(body).map_err(|e| HandlerError::Permanent(format!("job body: {e}")))
}
