//! Moderation done in Discord's own UI becomes cases with source `native`.
//!
//! The audit log is the one place that says who did what to whom and why, so native cases come
//! from `GUILD_AUDIT_LOG_ENTRY_CREATE` (intent GUILD_MODERATION, permission View Audit Log), with
//! the entry id as dedupe key: a redelivered event gives no second case. Entries made by the bot
//! itself are skipped, because the command that did it records its own case.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::GatewayEvent;
use aegis_storage::{CaseKind, CaseSource, NewCase};
use twilight_model::guild::audit_log::{AuditLogChange, AuditLogEntry, AuditLogEventType};

use super::{HandlerError, Handlers};

pub(super) async fn audit_log_entry(
    handlers: &Handlers,
    event: &GatewayEvent,
) -> Result<(), HandlerError> {
    let entry: AuditLogEntry = serde_json::from_slice(&event.payload).map_err(|e| {
        HandlerError::Permanent(format!("GUILD_AUDIT_LOG_ENTRY_CREATE payload: {e}"))
    })?;
    let Some(guild_id) = entry.guild_id.map(|g| g.get()).or(event.guild_id) else {
        return Err(HandlerError::Permanent(
            "audit log entry without a guild".to_owned(),
        ));
    };
    let moderator = entry.user_id.map_or(0, |u| u.get());
    if moderator == handlers.bot_user_id {
        return Ok(());
    }
    let Some((kind, expires_at)) = classify(&entry) else {
        return Ok(());
    };
    let Some(target) = entry.target_id.map(|t| t.get()) else {
        return Ok(());
    };
    let case = NewCase {
        guild_id,
        kind,
        target_id: target,
        moderator_id: moderator,
        reason: entry.reason.map(|r| r.chars().take(1024).collect()),
        source: CaseSource::Native,
        expires_at,
        dedupe_key: format!("audit:{}", entry.id),
    };
    let (recorded, new) = handlers.cases.create(&case).await?;
    if new {
        tracing::info!(
            guild_id,
            case = recorded.number,
            kind = kind.as_str(),
            "native action recorded as a case"
        );
    }
    Ok(())
}

/// The case kind of an audit-log entry, if it is a moderation action; with a timeout's end.
fn classify(entry: &AuditLogEntry) -> Option<(CaseKind, Option<SystemTime>)> {
    match entry.action_type {
        AuditLogEventType::MemberBanAdd => Some((CaseKind::Ban, None)),
        AuditLogEventType::MemberBanRemove => Some((CaseKind::Unban, None)),
        AuditLogEventType::MemberKick => Some((CaseKind::Kick, None)),
        AuditLogEventType::MemberUpdate => entry.changes.iter().find_map(|change| match change {
            AuditLogChange::CommunicationDisabledUntil {
                new: Some(until), ..
            } => {
                let micros = u64::try_from(until.as_micros()).ok()?;
                Some((
                    CaseKind::Timeout,
                    Some(UNIX_EPOCH + Duration::from_micros(micros)),
                ))
            }
            AuditLogChange::CommunicationDisabledUntil {
                new: None,
                old: Some(_),
            } => Some((CaseKind::Untimeout, None)),
            _ => None,
        }),
        _ => None,
    }
}
