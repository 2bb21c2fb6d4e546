//! The moderation commands that act on one user: `/warn`, `/note`, `/kick`, `/ban` (with an
//! optional duration: a temp-ban whose unban the scheduler fires) and `/unban`.
//!
//! Order, as the design asks: every check first (refusals are ephemeral and say why), then in one
//! transaction the interaction's claim, the Discord action (through rest-proxy, with the audit-log
//! reason), the case and any timer; then the answer. A redelivered interaction finds its claim and
//! does nothing; a crash before commit rolls everything back and the action is retried (Discord's
//! moderation calls are idempotent).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aegis_storage::{CaseKind, CaseSource, Cases, NewCase, NewTimer, Timers, claim_interaction};
use twilight_http::request::AuditLogReason;
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;

use super::respond::reply;
use super::{Actor, Commands, GuildFacts, Refusal, bot_may_act, may_act};
use crate::handlers::HandlerError;

/// Discord's limit on an audit-log reason; Aegis applies it to every reason.
pub(crate) const MAX_REASON: usize = 512;
/// Discord's longest timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(28 * 86_400);
/// Longest temp-ban Aegis schedules (a year).
const MAX_BAN_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// A command of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Warn,
    Note,
    Kick,
    Ban,
    Softban,
    Unban,
    Timeout,
    Untimeout,
}

impl Action {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "warn" => Some(Self::Warn),
            "note" => Some(Self::Note),
            "kick" => Some(Self::Kick),
            "ban" => Some(Self::Ban),
            "unban" => Some(Self::Unban),
            "softban" => Some(Self::Softban),
            "timeout" => Some(Self::Timeout),
            "untimeout" => Some(Self::Untimeout),
            _ => None,
        }
    }

    fn needed(self) -> (Permissions, &'static str) {
        match self {
            Self::Warn | Self::Note | Self::Timeout | Self::Untimeout => {
                (Permissions::MODERATE_MEMBERS, "Timeout Members")
            }
            Self::Kick => (Permissions::KICK_MEMBERS, "Kick Members"),
            Self::Ban | Self::Softban | Self::Unban => (Permissions::BAN_MEMBERS, "Ban Members"),
        }
    }

    fn past(self) -> &'static str {
        match self {
            Self::Warn => "warned",
            Self::Note => "noted",
            Self::Kick => "kicked",
            Self::Ban => "banned",
            Self::Unban => "unbanned",
            Self::Softban => "softbanned (messages deleted, free to rejoin)",
            Self::Timeout => "timed out",
            Self::Untimeout => "no longer timed out",
        }
    }
}

/// What the checks established.
struct Checked {
    guild_id: u64,
    moderator: u64,
    target: u64,
    reason: Option<String>,
    /// A temp-ban's or a timeout's length.
    duration: Option<Duration>,
    delete_seconds: u32,
}

pub(super) async fn run(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
    action: Action,
) -> Result<(), HandlerError> {
    let checked = match check(commands, interaction, data, action).await? {
        Ok(checked) => checked,
        Err(refusal) => {
            reply(commands, interaction, &refusal.to_string(), true).await;
            return Ok(());
        }
    };
    let transient = |e: aegis_storage::PgError| HandlerError::Transient(e.to_string());
    let mut conn = commands
        .pool
        .get()
        .await
        .map_err(|e| HandlerError::Transient(e.to_string()))?;
    let tx = conn.transaction().await.map_err(transient)?;
    if !claim_interaction(&tx, interaction.id.get()).await? {
        tracing::info!(interaction = %interaction.id, "interaction delivered again; already handled");
        return Ok(());
    }
    if let Err(refusal) = act_on_discord(commands, &checked, action).await {
        drop(tx); // rolls the claim back: nothing happened
        reply(commands, interaction, &refusal.to_string(), true).await;
        return Ok(());
    }
    let kind = match (action, checked.duration) {
        (Action::Warn, _) => CaseKind::Warn,
        (Action::Note, _) => CaseKind::Note,
        (Action::Kick, _) => CaseKind::Kick,
        (Action::Ban, None) => CaseKind::Ban,
        (Action::Ban, Some(_)) => CaseKind::Tempban,
        (Action::Unban, _) => CaseKind::Unban,
        (Action::Softban, _) => CaseKind::Softban,
        (Action::Timeout, _) => CaseKind::Timeout,
        (Action::Untimeout, _) => CaseKind::Untimeout,
    };
    let expires_at = checked.duration.map(|d| SystemTime::now() + d);
    let case = NewCase {
        guild_id: checked.guild_id,
        kind,
        target_id: checked.target,
        moderator_id: checked.moderator,
        reason: checked.reason.clone(),
        source: CaseSource::Command,
        expires_at,
        dedupe_key: format!("interaction:{}", interaction.id),
    };
    let Some(case) = Cases::insert(&tx, &case).await? else {
        return Err(HandlerError::Transient(
            "case dedupe key taken; retrying".into(),
        ));
    };
    if action == Action::Warn {
        // Where the guild set an expiry, the warning stops counting after it (a scheduled job).
        let settings = commands.settings.get(checked.guild_id).await?;
        if let Some(days) = settings.warn_expiry_days {
            let timer = NewTimer {
                kind: "warn_expiry".to_owned(),
                guild_id: Some(checked.guild_id),
                payload: serde_json::json!({ "case_id": case.id }),
                due_at: SystemTime::now() + Duration::from_secs(u64::from(days) * 86_400),
                dedupe_key: format!("warn_expiry:{}", case.id),
            };
            Timers::schedule_in(&tx, &timer).await?;
        }
    }
    let unban_key = format!("unban:{}:{}", checked.guild_id, checked.target);
    match (action, expires_at) {
        (Action::Ban, Some(due_at)) => {
            let timer = NewTimer {
                kind: "unban".to_owned(),
                guild_id: Some(checked.guild_id),
                payload: serde_json::json!({ "user_id": checked.target.to_string(), "case": case.number }),
                due_at,
                dedupe_key: unban_key,
            };
            Timers::schedule_in(&tx, &timer).await?;
        }
        // A permanent ban or an unban ends any pending temp-ban expiry.
        (Action::Ban | Action::Unban, None) => {
            Timers::cancel_in(&tx, &unban_key).await?;
        }
        _ => {}
    }
    tx.commit().await.map_err(transient)?;
    let why = checked.reason.map(|r| format!(": {r}")).unwrap_or_default();
    let until = expires_at
        .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| format!(" until <t:{}:f>", d.as_secs()))
        .unwrap_or_default();
    let text = format!(
        "**Case #{}**: <@{}> {}{until}{why}",
        case.number,
        checked.target,
        action.past()
    );
    reply(commands, interaction, &text, false).await;
    Ok(())
}

/// The audit-log reason: who did it, and why.
fn audit_reason(checked: &Checked) -> String {
    let reason = checked.reason.as_deref().unwrap_or("no reason given");
    format!("By {}: {reason}", checked.moderator)
        .chars()
        .take(MAX_REASON)
        .collect()
}

async fn act_on_discord(
    commands: &Commands,
    checked: &Checked,
    action: Action,
) -> Result<(), Refusal> {
    let (guild, user) = (Id::new(checked.guild_id), Id::new(checked.target));
    let reason = audit_reason(checked);
    let sent = match action {
        Action::Warn | Action::Note => return Ok(()),
        Action::Kick => commands
            .http
            .remove_guild_member(guild, user)
            .reason(&reason)
            .await
            .map(drop),
        Action::Ban => commands
            .http
            .create_ban(guild, user)
            .delete_message_seconds(checked.delete_seconds)
            .reason(&reason)
            .await
            .map(drop),
        Action::Timeout | Action::Untimeout => {
            let until = match checked.duration {
                Some(duration) => {
                    let end = SystemTime::now() + duration;
                    let secs = end
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let stamp = i64::try_from(secs)
                        .ok()
                        .and_then(|s| twilight_model::util::Timestamp::from_secs(s).ok())
                        .ok_or_else(|| {
                            Refusal::BadOption("That timeout cannot be expressed.".into())
                        })?;
                    Some(stamp)
                }
                None => None,
            };
            commands
                .http
                .update_guild_member(guild, user)
                .communication_disabled_until(until)
                .reason(&reason)
                .await
                .map(drop)
        }
        Action::Softban => {
            // A ban that deletes their messages (a day's worth unless asked), lifted at once.
            let seconds = if checked.delete_seconds == 0 {
                86_400
            } else {
                checked.delete_seconds
            };
            let banned = commands
                .http
                .create_ban(guild, user)
                .delete_message_seconds(seconds)
                .reason(&reason)
                .await;
            match banned {
                Ok(_) => commands
                    .http
                    .delete_ban(guild, user)
                    .reason(&reason)
                    .await
                    .map(drop),
                Err(err) => Err(err),
            }
        }
        Action::Unban => commands
            .http
            .delete_ban(guild, user)
            .reason(&reason)
            .await
            .map(drop),
    };
    sent.map_err(|err| Refusal::Discord(discord_message(&err)))
}

/// Discord's own message for a refused request, or the transport error.
fn discord_message(err: &twilight_http::Error) -> String {
    match err.kind() {
        twilight_http::error::ErrorType::Response { error, .. } => error.to_string(),
        _ => err.to_string(),
    }
}

fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    number.checked_mul(seconds).map(Duration::from_secs)
}

/// Everything that can refuse the command, before any effect.
async fn check(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
    action: Action,
) -> Result<Result<Checked, Refusal>, HandlerError> {
    let (Some(guild_id), Some(member)) = (interaction.guild_id, interaction.member.as_ref()) else {
        return Ok(Err(Refusal::BadOption(
            "This command works in servers only.".into(),
        )));
    };
    let Some(invoker_id) = member.user.as_ref().map(|u| u.id.get()) else {
        return Err(HandlerError::Permanent(
            "interaction member without a user".into(),
        ));
    };
    let (mut target, mut reason, mut duration, mut delete_days) = (None, None, None, 0_i64);
    for option in &data.options {
        match (option.name.as_str(), &option.value) {
            ("user", CommandOptionValue::User(id)) => target = Some(*id),
            ("reason" | "text", CommandOptionValue::String(text)) => {
                reason = Some(text.trim().to_owned())
            }
            ("duration", CommandOptionValue::String(text)) => duration = Some(text.clone()),
            ("delete_days", CommandOptionValue::Integer(days)) => delete_days = *days,
            _ => {}
        }
    }
    let Some(target) = target else {
        return Ok(Err(Refusal::BadOption("Choose a user.".into())));
    };
    if let Some(text) = &reason {
        let length = text.chars().count();
        if length > MAX_REASON {
            return Ok(Err(Refusal::BadOption(format!(
                "The reason is {length} characters; the limit is {MAX_REASON}."
            ))));
        }
    }
    if action == Action::Note && reason.as_deref().is_none_or(str::is_empty) {
        return Ok(Err(Refusal::BadOption("A note needs its text.".into())));
    }
    // Discord lifts a timeout itself and caps it at 28 days; a temp-ban Aegis lifts, up to a year.
    let (longest, longest_text) = match action {
        Action::Timeout => (MAX_TIMEOUT, "28 days"),
        _ => (MAX_BAN_DURATION, "a year"),
    };
    let duration = match (duration.as_deref(), action) {
        (None, Action::Timeout) => {
            return Ok(Err(Refusal::BadOption(
                "Say for how long, like 10m, 2h or 7d.".into(),
            )));
        }
        (None | Some(_), Action::Untimeout) | (None, _) => None,
        (Some(text), _) => match parse_duration(text) {
            Some(d) if !d.is_zero() && d <= longest => Some(d),
            _ => {
                return Ok(Err(Refusal::BadOption(format!(
                    "{text:?} is not a duration: use a number and m, h, d or w (at most {longest_text}), like 7d."
                ))));
            }
        },
    };
    if !(0..=7).contains(&delete_days) {
        return Ok(Err(Refusal::BadOption(
            "Messages can be deleted for 0 to 7 days.".into(),
        )));
    }
    let resolved = data.resolved.as_ref().and_then(|r| r.members.get(&target));
    let member_only = matches!(
        action,
        Action::Warn
            | Action::Note
            | Action::Kick
            | Action::Softban
            | Action::Timeout
            | Action::Untimeout
    );
    if resolved.is_none() && member_only {
        return Ok(Err(Refusal::NotAMember));
    }
    let target_actor = Actor {
        id: target.get(),
        roles: resolved
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default(),
        member: resolved.is_some(),
    };
    let guild = commands
        .http
        .guild(guild_id)
        .await
        .map_err(|e| HandlerError::Transient(format!("GET guild: {e}")))?
        .model()
        .await
        .map_err(|e| HandlerError::Transient(format!("guild body: {e}")))?;
    let facts = GuildFacts {
        owner_id: guild.owner_id.get(),
        positions: guild
            .roles
            .iter()
            .map(|r| (r.id.get(), r.position))
            .collect::<HashMap<_, _>>(),
    };
    let invoker = Actor {
        id: invoker_id,
        roles: member.roles.iter().map(|r| r.get()).collect(),
        member: true,
    };
    let permissions = member.permissions.unwrap_or(Permissions::empty());
    if let Err(refusal) = may_act(
        &invoker,
        permissions,
        action.needed(),
        &target_actor,
        commands.bot_user_id,
        &facts,
    ) {
        return Ok(Err(refusal));
    }
    if !matches!(action, Action::Warn | Action::Note) {
        let bot = commands
            .http
            .guild_member(guild_id, Id::new(commands.bot_user_id))
            .await
            .map_err(|e| HandlerError::Transient(format!("GET bot member: {e}")))?
            .model()
            .await
            .map_err(|e| HandlerError::Transient(format!("bot member body: {e}")))?;
        let bot_roles: Vec<u64> = bot.roles.iter().map(|r| r.get()).collect();
        let app = interaction.app_permissions.unwrap_or(Permissions::empty());
        if let Err(refusal) = bot_may_act(app, action.needed(), &bot_roles, &target_actor, &facts) {
            return Ok(Err(refusal));
        }
    }
    Ok(Ok(Checked {
        guild_id: guild_id.get(),
        moderator: invoker_id,
        target: target.get(),
        reason: reason.filter(|r| !r.is_empty()),
        duration,
        delete_seconds: u32::try_from(delete_days).unwrap_or(0) * 86_400,
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;

    #[test]
    fn durations_read_like_moderators_write_them() {
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("90m"), Some(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("2w"), Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("5y"), None);
    }
}
