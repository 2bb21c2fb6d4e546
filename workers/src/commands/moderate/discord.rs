//! The Discord side of a member action, through rest-proxy with the audit-log reason.

use std::time::{Duration, SystemTime};

use twilight_http::request::AuditLogReason;
use twilight_model::id::Id;
use twilight_model::util::Timestamp;

use super::super::{Commands, Refusal};
use super::check::{Checked, MAX_TIMEOUT};
use super::{Action, MAX_REASON, MuteBy};

/// The audit-log reason: who did it, and why.
fn audit_reason(checked: &Checked) -> String {
    let reason = checked.reason.as_deref().unwrap_or("no reason given");
    format!("By {}: {reason}", checked.moderator)
        .chars()
        .take(MAX_REASON)
        .collect()
}

/// Discord's timestamp `length` from now, for `communication_disabled_until`.
pub(crate) fn timeout_end(length: Duration) -> Option<Timestamp> {
    let end = SystemTime::now() + length;
    let secs = end.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    Timestamp::from_secs(i64::try_from(secs).ok()?).ok()
}

/// Discord's own message for a refused request, or the transport error.
pub(crate) fn discord_message(err: &twilight_http::Error) -> String {
    match err.kind() {
        twilight_http::error::ErrorType::Response { error, .. } => error.to_string(),
        _ => err.to_string(),
    }
}

/// Carries the action out on Discord. Discord's moderation calls are idempotent, so a retry
/// after a crash repeats them harmlessly.
pub(crate) async fn act(
    commands: &Commands,
    checked: &Checked,
    action: Action,
) -> Result<(), Refusal> {
    let (guild, user) = (Id::new(checked.guild_id), Id::new(checked.target));
    let reason = audit_reason(checked);
    let http = &commands.http;
    let sent = match (action, checked.mute) {
        (Action::Warn | Action::Note, _) => return Ok(()),
        (Action::Kick, _) => http
            .remove_guild_member(guild, user)
            .reason(&reason)
            .await
            .map(drop),
        (Action::Ban, _) => http
            .create_ban(guild, user)
            .delete_message_seconds(checked.delete_seconds)
            .reason(&reason)
            .await
            .map(drop),
        (Action::Timeout, _) | (Action::Mute, MuteBy::Timeout) => {
            // A mute longer than Discord's 28 days starts with 28 and is renewed by a job.
            let length = checked.duration.unwrap_or(MAX_TIMEOUT).min(MAX_TIMEOUT);
            let until = timeout_end(length)
                .ok_or_else(|| Refusal::BadOption("That timeout cannot be expressed.".into()))?;
            http.update_guild_member(guild, user)
                .communication_disabled_until(Some(until))
                .reason(&reason)
                .await
                .map(drop)
        }
        (Action::Untimeout, _) | (Action::Unmute, MuteBy::Timeout) => http
            .update_guild_member(guild, user)
            .communication_disabled_until(None)
            .reason(&reason)
            .await
            .map(drop),
        (Action::Mute, MuteBy::Role(role)) => http
            .add_guild_member_role(guild, user, Id::new(role))
            .reason(&reason)
            .await
            .map(drop),
        (Action::Unmute, MuteBy::Role(role)) => http
            .remove_guild_member_role(guild, user, Id::new(role))
            .reason(&reason)
            .await
            .map(drop),
        (Action::Softban, _) => {
            // A ban that deletes their messages (a day's worth unless asked), lifted at once.
            let seconds = if checked.delete_seconds == 0 {
                86_400
            } else {
                checked.delete_seconds
            };
            let banned = http
                .create_ban(guild, user)
                .delete_message_seconds(seconds)
                .reason(&reason)
                .await;
            match banned {
                Ok(_) => http.delete_ban(guild, user).reason(&reason).await.map(drop),
                Err(err) => Err(err),
            }
        }
        (Action::Unban, _) => http.delete_ban(guild, user).reason(&reason).await.map(drop),
    };
    sent.map_err(|err| Refusal::Discord(discord_message(&err)))
}

/// Tells the target by DM, when the guild asks for it; says whether the DM arrived. Sent before
/// a kick or ban, while the target still shares a server with the bot. A closed DM (Discord's
/// 50007) is common and not an error.
pub(crate) async fn tell_target(
    commands: &Commands,
    checked: &Checked,
    action: Action,
    until: Option<SystemTime>,
) -> Option<bool> {
    let phrase = action.dm()?;
    if !checked.settings.dm_on_action {
        return None;
    }
    let until = until
        .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| format!(" until <t:{}:f>", d.as_secs()))
        .unwrap_or_default();
    let why = checked
        .reason
        .as_deref()
        .map(|r| format!("\nReason: {r}"))
        .unwrap_or_default();
    let text = format!("You were {phrase} **{}**{until}.{why}", checked.guild_name);
    let text: String = text.chars().take(2_000).collect();
    let user = Id::new(checked.target);
    let sent = async {
        let channel = commands
            .http
            .create_private_channel(user)
            .await
            .map_err(|e| discord_message(&e))?
            .model()
            .await
            .map_err(|e| e.to_string())?;
        commands
            .http
            .create_message(channel.id)
            .content(&text)
            .await
            .map(drop)
            .map_err(|e| discord_message(&e))
    };
    match sent.await {
        Ok(()) => Some(true),
        Err(err) => {
            tracing::info!(user = checked.target, error = %err, "cannot DM the target");
            Some(false)
        }
    }
}
