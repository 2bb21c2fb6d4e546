//! Everything that can refuse a member action, before any effect: options, the invoker's and the
//! bot's permissions, the role hierarchy.

use std::time::Duration;

use aegis_service::parse_duration;
use aegis_storage::GuildSettings;
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;

use super::super::{Actor, Commands, Refusal, bot_may_act, may_act};
use super::{Action, MAX_REASON, MuteBy};
use crate::handlers::HandlerError;

/// Discord's longest timeout.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_secs(28 * 86_400);
/// Longest temporary ban or mute Aegis schedules (a year).
const MAX_SCHEDULED: Duration = Duration::from_secs(365 * 86_400);

/// What the checks established.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) guild_id: u64,
    pub(crate) guild_name: String,
    pub(crate) moderator: u64,
    pub(crate) target: u64,
    pub(crate) reason: Option<String>,
    /// A temporary action's length.
    pub(crate) duration: Option<Duration>,
    pub(crate) delete_seconds: u32,
    pub(crate) mute: MuteBy,
    pub(crate) settings: GuildSettings,
}

/// The options of a member action.
struct Options {
    target: Option<Id<twilight_model::id::marker::UserMarker>>,
    reason: Option<String>,
    duration: Option<String>,
    delete_days: i64,
}

fn options(data: &CommandData) -> Options {
    let mut found = Options {
        target: None,
        reason: None,
        duration: None,
        delete_days: 0,
    };
    for option in &data.options {
        match (option.name.as_str(), &option.value) {
            ("user", CommandOptionValue::User(id)) => found.target = Some(*id),
            ("reason" | "text", CommandOptionValue::String(text)) => {
                found.reason = Some(text.trim().to_owned())
            }
            ("duration", CommandOptionValue::String(text)) => found.duration = Some(text.clone()),
            ("delete_days", CommandOptionValue::Integer(days)) => found.delete_days = *days,
            _ => {}
        }
    }
    found
}

/// The duration an action accepts: required, optional or ignored, and its longest.
fn duration(action: Action, text: Option<&str>) -> Result<Option<Duration>, Refusal> {
    let (longest, longest_text) = match action {
        Action::Timeout => (MAX_TIMEOUT, "28 days"),
        Action::Ban | Action::Mute => (MAX_SCHEDULED, "a year"),
        _ => return Ok(None),
    };
    let Some(text) = text else {
        return match action {
            Action::Timeout => Err(Refusal::BadOption(
                "Say for how long, like 10m, 2h or 7d.".into(),
            )),
            // A ban or mute without a duration lasts until lifted.
            _ => Ok(None),
        };
    };
    match parse_duration(text) {
        Some(d) if !d.is_zero() && d <= longest => Ok(Some(d)),
        _ => Err(Refusal::BadOption(format!(
            "{text:?} is not a duration: use a number and m, h, d or w (at most {longest_text}), like 7d."
        ))),
    }
}

/// Everything that can refuse the command, before any effect.
pub(crate) async fn check(
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
    let options = options(data);
    let Some(target) = options.target else {
        return Ok(Err(Refusal::BadOption("Choose a user.".into())));
    };
    let reason = options.reason;
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
    let settings = commands.settings.get(guild_id.get()).await?;
    let mute = settings.mute_role.map_or(MuteBy::Timeout, MuteBy::Role);
    let duration = match duration(action, options.duration.as_deref()) {
        Ok(duration) => duration,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if !(0..=7).contains(&options.delete_days) {
        return Ok(Err(Refusal::BadOption(
            "Messages can be deleted for 0 to 7 days.".into(),
        )));
    }
    let resolved = data.resolved.as_ref().and_then(|r| r.members.get(&target));
    if resolved.is_none() && action.member_only() {
        return Ok(Err(Refusal::NotAMember));
    }
    let target_actor = Actor {
        id: target.get(),
        roles: resolved
            .map(|m| m.roles.iter().map(|r| r.get()).collect())
            .unwrap_or_default(),
        member: resolved.is_some(),
    };
    let guild = commands.guilds.get(&commands.http, guild_id.get()).await?;
    let facts = guild.facts();
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
    if let Some(needed) = action.bot_needs(mute) {
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
        if let Err(refusal) = bot_may_act(app, needed, &bot_roles, &target_actor, &facts) {
            return Ok(Err(refusal));
        }
        if let (Action::Mute | Action::Unmute, MuteBy::Role(role)) = (action, mute) {
            match facts.positions.get(&role) {
                None => {
                    return Ok(Err(Refusal::BadOption(
                        "The mute role no longer exists: set another with /config mute_role."
                            .into(),
                    )));
                }
                Some(position) if *position >= facts.top_position(&bot_roles) => {
                    return Ok(Err(Refusal::BadOption(format!(
                        "The mute role <@&{role}> is at or above my highest role: move it below."
                    ))));
                }
                Some(_) => {}
            }
        }
    }
    Ok(Ok(Checked {
        guild_id: guild_id.get(),
        guild_name: guild.name,
        moderator: invoker_id,
        target: target.get(),
        reason: reason.filter(|r| !r.is_empty()),
        duration,
        delete_seconds: u32::try_from(options.delete_days).unwrap_or(0) * 86_400,
        mute,
        settings,
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Action, duration};

    #[test]
    fn each_action_takes_the_durations_it_can_keep() {
        assert!(duration(Action::Timeout, None).is_err(), "required");
        assert!(duration(Action::Timeout, Some("29d")).is_err(), "28 days");
        assert_eq!(
            duration(Action::Mute, Some("60d")),
            Ok(Some(Duration::from_secs(60 * 86_400))),
            "a mute outlives Discord's 28 days"
        );
        assert_eq!(duration(Action::Mute, None), Ok(None));
        assert!(duration(Action::Ban, Some("400d")).is_err(), "a year");
        assert_eq!(duration(Action::Kick, Some("junk")), Ok(None), "ignored");
    }
}
