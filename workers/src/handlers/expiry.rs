//! The jobs that end temporary moderation: a temp-ban's unban, a role mute's end, and the renewal
//! that makes a timeout mute outlast Discord's 28 days. Each runs in the transaction that
//! completes its timer (see `jobs`), so it has one effect however often it is delivered.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::Job;
use aegis_storage::{CaseKind, CaseSource, Cases, NewCase, NewTimer, Timers};
use serde::Deserialize;
use tokio_postgres::Transaction;
use twilight_http::request::AuditLogReason;
use twilight_model::id::Id;
use twilight_model::id::marker::{GuildMarker, UserMarker};

use super::{HandlerError, Handlers};
use crate::commands::moderate::{RENEW_AFTER, renew_key, timeout_end};

/// `unban`: a temp-ban ends.
#[derive(Deserialize)]
pub(super) struct Unban {
    user_id: String,
    case: i32,
}

/// `unmute`: a role mute ends.
#[derive(Deserialize)]
pub(super) struct Unmute {
    user_id: String,
    role_id: String,
    case: i32,
}

/// `timeout_renew`: a timeout mute longer than 28 days (or endless) is set again.
#[derive(Deserialize)]
pub(super) struct Renew {
    user_id: String,
    /// When the mute ends, Unix seconds; none: until `/unmute`.
    until: Option<u64>,
    case: i32,
}

/// Discord's longest timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(28 * 86_400);

fn ids(job: &Job, user: &str) -> Result<(Id<GuildMarker>, Id<UserMarker>), HandlerError> {
    let guild = job
        .guild_id
        .and_then(Id::new_checked)
        .ok_or_else(|| HandlerError::Permanent(format!("{} job without a guild", job.kind)))?;
    let user = user
        .parse()
        .ok()
        .and_then(Id::new_checked)
        .ok_or_else(|| HandlerError::Permanent(format!("{} job user {user:?}", job.kind)))?;
    Ok((guild, user))
}

/// Whether Discord answered with one of these JSON error codes.
fn discord_code(err: &twilight_http::Error, codes: &[u64]) -> bool {
    matches!(
        err.kind(),
        twilight_http::error::ErrorType::Response { error: twilight_http::api_error::ApiError::General(e), .. } if codes.contains(&e.code)
    )
}

impl Handlers {
    /// Records the case of a scheduled lifting action.
    async fn scheduled_case(
        &self,
        tx: &Transaction<'_>,
        (guild, user): (Id<GuildMarker>, Id<UserMarker>),
        kind: CaseKind,
        reason: String,
        timer_id: i64,
    ) -> Result<(), HandlerError> {
        let case = NewCase {
            guild_id: guild.get(),
            kind,
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

    /// Lifts a temp-ban through rest-proxy and records an `unban` case with source `scheduled`.
    /// A ban already lifted (Discord's 10026 Unknown Ban) completes without a case.
    pub(super) async fn unban(
        &self,
        tx: &Transaction<'_>,
        job: &Job,
        timer_id: i64,
        body: Unban,
    ) -> Result<(), HandlerError> {
        let (guild, user) = ids(job, &body.user_id)?;
        let reason = format!("Temp-ban of case #{} expired", body.case);
        let lifted = self
            .commands
            .http
            .delete_ban(guild, user)
            .reason(&reason)
            .await;
        match lifted {
            Ok(_) => {}
            Err(err) if discord_code(&err, &[10026]) => {
                tracing::info!(guild = %guild, user = %user, "temp-ban already lifted");
                return Ok(());
            }
            Err(err) => return Err(HandlerError::Transient(format!("unban: {err}"))),
        }
        self.scheduled_case(tx, (guild, user), CaseKind::Unban, reason, timer_id)
            .await
    }

    /// Removes the mute role at the end of a role mute and records an `unmute` case. A member who
    /// left, or a role that is gone, ends the mute quietly.
    pub(super) async fn unmute(
        &self,
        tx: &Transaction<'_>,
        job: &Job,
        timer_id: i64,
        body: Unmute,
    ) -> Result<(), HandlerError> {
        let (guild, user) = ids(job, &body.user_id)?;
        let role = body
            .role_id
            .parse()
            .ok()
            .and_then(Id::new_checked)
            .ok_or_else(|| HandlerError::Permanent(format!("unmute role {:?}", body.role_id)))?;
        let reason = format!("Mute of case #{} expired", body.case);
        let removed = self
            .commands
            .http
            .remove_guild_member_role(guild, user, role)
            .reason(&reason)
            .await;
        match removed {
            Ok(_) => {}
            // Unknown Member, Unknown Role: nothing left to undo.
            Err(err) if discord_code(&err, &[10007, 10011]) => {
                tracing::info!(guild = %guild, user = %user, "mute already gone");
                return Ok(());
            }
            Err(err) => return Err(HandlerError::Transient(format!("unmute: {err}"))),
        }
        self.scheduled_case(tx, (guild, user), CaseKind::Unmute, reason, timer_id)
            .await
    }

    /// Sets the timeout of a long mute again (up to 28 days more, or to the mute's end) and, while
    /// the mute goes on past that, schedules the next renewal. A member who left is not renewed.
    pub(super) async fn renew_timeout(
        &self,
        tx: &Transaction<'_>,
        job: &Job,
        body: Renew,
    ) -> Result<(), HandlerError> {
        let (guild, user) = ids(job, &body.user_id)?;
        let now = SystemTime::now();
        let left = match body.until {
            Some(until) => (UNIX_EPOCH + Duration::from_secs(until))
                .duration_since(now)
                .unwrap_or_default(),
            None => Duration::MAX,
        };
        if left.is_zero() {
            return Ok(());
        }
        let until = timeout_end(left.min(MAX_TIMEOUT))
            .ok_or_else(|| HandlerError::Permanent("renewal time out of range".into()))?;
        let reason = format!("Mute of case #{} renewed", body.case);
        let renewed = self
            .commands
            .http
            .update_guild_member(guild, user)
            .communication_disabled_until(Some(until))
            .reason(&reason)
            .await;
        match renewed {
            Ok(_) => {}
            Err(err) if discord_code(&err, &[10007]) => {
                tracing::info!(guild = %guild, user = %user, "muted member left; not renewed");
                return Ok(());
            }
            Err(err) => return Err(HandlerError::Transient(format!("renew timeout: {err}"))),
        }
        if left > MAX_TIMEOUT {
            let timer = NewTimer {
                kind: "timeout_renew".to_owned(),
                guild_id: Some(guild.get()),
                payload: serde_json::json!({
                    "user_id": body.user_id,
                    "until": body.until,
                    "case": body.case,
                }),
                due_at: now + RENEW_AFTER,
                dedupe_key: renew_key(guild.get(), user.get()),
            };
            Timers::schedule_in(tx, &timer).await?;
        }
        Ok(())
    }
}
