//! Channel moderation: `/slowmode`, `/lock` and `/unlock`. Each acts on one channel (the current
//! one unless named), records a case whose target is the channel, and posts it to the mod-log.
//!
//! `/lock` denies `@everyone` sending (messages, thread messages, new threads, reactions) through
//! the channel's `@everyone` overwrite, keeping what that overwrite was in `channel_locks`, so
//! `/unlock` restores exactly it rather than guessing.

use aegis_storage::{CaseKind, CaseSource, Cases, ChannelLocks, NewCase, claim_interaction};
use twilight_http::request::AuditLogReason;
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::channel::permission_overwrite::PermissionOverwriteType;
use twilight_model::guild::Permissions;
use twilight_model::http::permission_overwrite::{
    PermissionOverwrite, PermissionOverwriteType as OverwriteTarget,
};
use twilight_model::id::Id;

use super::moderate::{MAX_REASON, discord_message};
use super::respond::Responder;
use super::{Commands, Refusal, modlog};
use crate::handlers::HandlerError;

/// What a lock denies `@everyone`.
pub(crate) const LOCKED: Permissions = Permissions::SEND_MESSAGES
    .union(Permissions::SEND_MESSAGES_IN_THREADS)
    .union(Permissions::CREATE_PUBLIC_THREADS)
    .union(Permissions::CREATE_PRIVATE_THREADS)
    .union(Permissions::ADD_REACTIONS);

/// Discord's longest slowmode: 6 hours.
const MAX_SLOWMODE: u64 = 21_600;

/// A channel command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChannelAction {
    Slowmode,
    Lock,
    Unlock,
}

impl ChannelAction {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "slowmode" => Some(Self::Slowmode),
            "lock" => Some(Self::Lock),
            "unlock" => Some(Self::Unlock),
            _ => None,
        }
    }

    /// The invoker's permission, and the bot's (editing overwrites needs Manage Roles).
    fn needs(self) -> ((Permissions, &'static str), (Permissions, &'static str)) {
        let channels = (Permissions::MANAGE_CHANNELS, "Manage Channels");
        match self {
            Self::Slowmode => (channels, channels),
            Self::Lock | Self::Unlock => (channels, (Permissions::MANAGE_ROLES, "Manage Roles")),
        }
    }
}

/// The options and facts of a channel command, checked.
pub(crate) struct ChannelCall {
    pub(crate) guild_id: u64,
    pub(crate) channel_id: u64,
    pub(crate) moderator: u64,
    pub(crate) reason: Option<String>,
}

/// The checks every channel command shares: in a server, the invoker's and the bot's
/// permissions, the reason's length. The channel is the `channel` option or the current one.
pub(crate) fn check_call(
    interaction: &Interaction,
    data: &CommandData,
    needs: (Permissions, &'static str),
    bot_needs: (Permissions, &'static str),
) -> Result<ChannelCall, Refusal> {
    let (Some(guild_id), Some(member)) = (interaction.guild_id, interaction.member.as_ref()) else {
        return Err(Refusal::BadOption(
            "This command works in servers only.".into(),
        ));
    };
    let moderator = member.user.as_ref().map_or(0, |u| u.id.get());
    let granted = |held: Permissions, needed: Permissions| {
        held.contains(Permissions::ADMINISTRATOR) || held.contains(needed)
    };
    if !granted(member.permissions.unwrap_or(Permissions::empty()), needs.0) {
        return Err(Refusal::MissingPermission(needs.1));
    }
    if !granted(
        interaction.app_permissions.unwrap_or(Permissions::empty()),
        bot_needs.0,
    ) {
        return Err(Refusal::BotMissingPermission(bot_needs.1));
    }
    let mut channel_id = interaction.channel.as_ref().map(|c| c.id.get());
    let mut reason = None;
    for option in &data.options {
        match (option.name.as_str(), &option.value) {
            ("channel", CommandOptionValue::Channel(id)) => channel_id = Some(id.get()),
            ("reason", CommandOptionValue::String(text)) => {
                let text = text.trim();
                let length = text.chars().count();
                if length > MAX_REASON {
                    return Err(Refusal::BadOption(format!(
                        "The reason is {length} characters; the limit is {MAX_REASON}."
                    )));
                }
                reason = (!text.is_empty()).then(|| text.to_owned());
            }
            _ => {}
        }
    }
    let Some(channel_id) = channel_id else {
        return Err(Refusal::BadOption("Choose a channel.".into()));
    };
    Ok(ChannelCall {
        guild_id: guild_id.get(),
        channel_id,
        moderator,
        reason,
    })
}

/// Reads a slowmode like `30s`, `5m`, `2h`, or `off`/`0`, in seconds (at most 6 hours).
fn slowmode_seconds(text: &str) -> Option<u16> {
    let text = text.trim();
    if matches!(text, "0" | "off" | "none") {
        return Some(0);
    }
    let seconds = aegis_service::parse_duration(text)?.as_secs();
    (seconds <= MAX_SLOWMODE)
        .then(|| u16::try_from(seconds).ok())
        .flatten()
}

fn audit(call: &ChannelCall) -> String {
    let reason = call.reason.as_deref().unwrap_or("no reason given");
    format!("By {}: {reason}", call.moderator)
        .chars()
        .take(MAX_REASON)
        .collect()
}

pub(super) async fn run(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
    action: ChannelAction,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let (needs, bot_needs) = action.needs();
    let call = match check_call(interaction, data, needs, bot_needs) {
        Ok(call) => call,
        Err(refusal) => {
            responder.reply(&refusal.to_string(), true).await;
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
        return Ok(());
    }
    let channel = Id::new(call.channel_id);
    let reason = audit(&call);
    let (kind, what) = match action {
        ChannelAction::Slowmode => {
            let text = data
                .options
                .iter()
                .find_map(|o| match (&*o.name, &o.value) {
                    ("duration", CommandOptionValue::String(text)) => Some(text.as_str()),
                    _ => None,
                });
            let Some(seconds) = text.and_then(slowmode_seconds) else {
                let text = "Give a slowmode like 30s, 5m or 2h (at most 6h), or off.";
                responder.reply(text, true).await;
                return Ok(());
            };
            let set = commands
                .http
                .update_channel(channel)
                .rate_limit_per_user(seconds)
                .reason(&reason)
                .await;
            if let Err(err) = set {
                let refusal = Refusal::Discord(discord_message(&err));
                responder.reply(&refusal.to_string(), true).await;
                return Ok(());
            }
            let what = if seconds == 0 {
                "slowmode off".to_owned()
            } else {
                format!("slowmode {seconds}s")
            };
            (CaseKind::Slowmode, what)
        }
        ChannelAction::Lock | ChannelAction::Unlock => {
            match lock(commands, &tx, &call, action, &reason).await? {
                Ok(what) => (
                    if action == ChannelAction::Lock {
                        CaseKind::Lock
                    } else {
                        CaseKind::Unlock
                    },
                    what,
                ),
                Err(refusal) => {
                    responder.reply(&refusal.to_string(), true).await;
                    return Ok(());
                }
            }
        }
    };
    let case = NewCase {
        guild_id: call.guild_id,
        kind,
        target_id: call.channel_id,
        moderator_id: call.moderator,
        reason: Some(match &call.reason {
            Some(reason) => format!("{what}: {reason}"),
            None => what.clone(),
        }),
        source: CaseSource::Command,
        expires_at: None,
        dedupe_key: format!("interaction:{}", interaction.id),
    };
    let Some(case) = Cases::insert(&tx, &case).await? else {
        return Err(HandlerError::Transient("case dedupe key taken".into()));
    };
    let settings = commands.settings.get(call.guild_id).await?;
    modlog::schedule_in(&tx, &settings, call.guild_id, case.number).await?;
    tx.commit().await.map_err(transient)?;
    let text = format!("**Case #{}**: <#{}> {what}", case.number, call.channel_id);
    responder.reply(&text, false).await;
    Ok(())
}

/// Locks or unlocks the channel on Discord and in `channel_locks`; says what it did.
async fn lock(
    commands: &Commands,
    tx: &tokio_postgres::Transaction<'_>,
    call: &ChannelCall,
    action: ChannelAction,
    reason: &str,
) -> Result<Result<String, Refusal>, HandlerError> {
    let channel = Id::new(call.channel_id);
    let everyone: Id<twilight_model::id::marker::GuildMarker> = Id::new(call.guild_id);
    let current = match commands.http.channel(channel).await {
        Ok(response) => response
            .model()
            .await
            .map_err(|e| HandlerError::Transient(format!("channel body: {e}")))?,
        Err(err) => return Ok(Err(Refusal::Discord(discord_message(&err)))),
    };
    let prior = current
        .permission_overwrites
        .unwrap_or_default()
        .into_iter()
        .find(|o| o.kind == PermissionOverwriteType::Role && o.id == everyone.cast());
    let overwrite = |allow: Permissions, deny: Permissions| PermissionOverwrite {
        allow: Some(allow),
        deny: Some(deny),
        id: everyone.cast(),
        kind: OverwriteTarget::Role,
    };
    let sent = if action == ChannelAction::Lock {
        let before = prior.as_ref().map(|o| (o.allow.bits(), o.deny.bits()));
        if !ChannelLocks::lock_in(tx, call.guild_id, call.channel_id, before, call.moderator)
            .await?
        {
            return Ok(Err(Refusal::BadOption(
                "This channel is already locked: /unlock it first.".into(),
            )));
        }
        let (allow, deny) = prior.map_or((Permissions::empty(), Permissions::empty()), |o| {
            (o.allow, o.deny)
        });
        let locked = overwrite(allow - LOCKED, deny | LOCKED);
        commands
            .http
            .update_channel_permission(channel, &locked)
            .reason(reason)
            .await
            .map(drop)
    } else {
        let Some(restore) = ChannelLocks::unlock_in(tx, call.channel_id).await? else {
            return Ok(Err(Refusal::BadOption(
                "I did not lock this channel.".into(),
            )));
        };
        match restore {
            Some((allow, deny)) => {
                let restored = overwrite(
                    Permissions::from_bits_truncate(allow),
                    Permissions::from_bits_truncate(deny),
                );
                commands
                    .http
                    .update_channel_permission(channel, &restored)
                    .reason(reason)
                    .await
                    .map(drop)
            }
            None => commands
                .http
                .delete_channel_permission(channel)
                .role(everyone.cast())
                .reason(reason)
                .await
                .map(drop),
        }
    };
    match sent {
        Ok(()) if action == ChannelAction::Lock => Ok(Ok("locked".to_owned())),
        Ok(()) => Ok(Ok("unlocked".to_owned())),
        Err(err) => Ok(Err(Refusal::Discord(discord_message(&err)))),
    }
}

#[cfg(test)]
mod tests {
    use super::slowmode_seconds;

    #[test]
    fn slowmode_reads_seconds_to_six_hours_and_off() {
        assert_eq!(slowmode_seconds("30s"), Some(30));
        assert_eq!(slowmode_seconds("5m"), Some(300));
        assert_eq!(slowmode_seconds("6h"), Some(21_600));
        assert_eq!(slowmode_seconds("7h"), None);
        assert_eq!(slowmode_seconds("off"), Some(0));
        assert_eq!(slowmode_seconds("fast"), None);
    }
}
