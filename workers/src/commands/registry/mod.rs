//! The commands Aegis registers, by bulk overwrite (idempotent: the same set twice changes nothing).

mod channels;
mod tickets;

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionType, CommandOptionValue, CommandType,
};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::GuildMarker;

use super::Commands;

pub(super) fn option(
    name: &str,
    description: &str,
    kind: CommandOptionType,
    required: bool,
    max_length: Option<u16>,
) -> CommandOption {
    CommandOption {
        autocomplete: None,
        channel_types: None,
        file_types: None,
        choices: None,
        description: description.to_owned(),
        description_localizations: None,
        kind,
        max_length,
        max_value: None,
        min_length: None,
        min_value: None,
        name: name.to_owned(),
        name_localizations: None,
        options: None,
        required: Some(required),
    }
}

pub(super) fn command(
    name: &str,
    description: &str,
    permissions: Permissions,
    options: Vec<CommandOption>,
) -> Command {
    #[allow(deprecated)]
    Command {
        application_id: None,
        contexts: None,
        default_member_permissions: Some(permissions),
        dm_permission: None,
        description: description.to_owned(),
        description_localizations: None,
        guild_id: None,
        id: None,
        integration_types: None,
        kind: CommandType::ChatInput,
        name: name.to_owned(),
        name_localizations: None,
        nsfw: None,
        options,
        version: Id::new(1),
    }
}

/// Every command, with `default_member_permissions` so Discord hides them from members who
/// cannot use them (the workers check again: server admins can change those defaults).
pub(crate) fn definitions() -> Vec<Command> {
    let user = |what: &str| option("user", what, CommandOptionType::User, true, None);
    let reason = || {
        option(
            "reason",
            "Why (kept in the case and the audit log)",
            CommandOptionType::String,
            false,
            Some(512),
        )
    };
    let mut delete_days = option(
        "delete_days",
        "Delete their messages of the last days (0-7)",
        CommandOptionType::Integer,
        false,
        None,
    );
    delete_days.min_value = Some(CommandOptionValue::Integer(0));
    delete_days.max_value = Some(CommandOptionValue::Integer(7));
    vec![
        command(
            "warn",
            "Warn a member and record a case",
            Permissions::MODERATE_MEMBERS,
            vec![user("The member to warn"), reason()],
        ),
        command(
            "note",
            "Record a note about a member",
            Permissions::MODERATE_MEMBERS,
            vec![
                user("The member"),
                option(
                    "text",
                    "The note",
                    CommandOptionType::String,
                    true,
                    Some(512),
                ),
            ],
        ),
        command(
            "kick",
            "Kick a member",
            Permissions::KICK_MEMBERS,
            vec![user("The member to kick"), reason()],
        ),
        command(
            "ban",
            "Ban a user, for good or for a while",
            Permissions::BAN_MEMBERS,
            vec![
                user("The user to ban"),
                reason(),
                option(
                    "duration",
                    "For how long, like 7d (empty: for good)",
                    CommandOptionType::String,
                    false,
                    Some(16),
                ),
                delete_days,
            ],
        ),
        command(
            "unban",
            "Lift a ban",
            Permissions::BAN_MEMBERS,
            vec![user("The user to unban"), reason()],
        ),
        {
            let number = || {
                let mut number = option(
                    "number",
                    "The case number",
                    CommandOptionType::Integer,
                    true,
                    None,
                );
                number.min_value = Some(CommandOptionValue::Integer(1));
                number.autocomplete = Some(true);
                number
            };
            let sub = |name: &str, description: &str, mut options: Vec<CommandOption>| {
                let mut sub = option(
                    name,
                    description,
                    CommandOptionType::SubCommand,
                    false,
                    None,
                );
                sub.required = None;
                options.insert(0, number());
                sub.options = Some(options);
                sub
            };
            command(
                "case",
                "Show or edit a case",
                Permissions::MODERATE_MEMBERS,
                vec![
                    sub("show", "Show a case and its notes", Vec::new()),
                    sub(
                        "reason",
                        "Change a case's reason",
                        vec![option(
                            "reason",
                            "The new reason",
                            CommandOptionType::String,
                            true,
                            Some(512),
                        )],
                    ),
                    sub(
                        "delete",
                        "Delete a case (its number is not reused)",
                        Vec::new(),
                    ),
                    sub("hide", "Hide a case from /cases", Vec::new()),
                ],
            )
        },
        command(
            "cases",
            "List a user's cases",
            Permissions::MODERATE_MEMBERS,
            vec![user("The user")],
        ),
        command(
            "softban",
            "Ban and unban at once, deleting a member's recent messages",
            Permissions::BAN_MEMBERS,
            vec![user("The member"), reason(), {
                let mut days = option(
                    "delete_days",
                    "Days of messages to delete (1-7, default 1)",
                    CommandOptionType::Integer,
                    false,
                    None,
                );
                days.min_value = Some(CommandOptionValue::Integer(1));
                days.max_value = Some(CommandOptionValue::Integer(7));
                days
            }],
        ),
        command(
            "config",
            "Show or change Aegis's settings for this server",
            Permissions::MANAGE_GUILD,
            vec![
                option(
                    "mod_log_channel",
                    "Where moderation actions are logged",
                    CommandOptionType::Channel,
                    false,
                    None,
                ),
                option(
                    "mute_role",
                    "The role /mute gives",
                    CommandOptionType::Role,
                    false,
                    None,
                ),
                option(
                    "dm_on_action",
                    "DM members about actions taken on them",
                    CommandOptionType::Boolean,
                    false,
                    None,
                ),
                {
                    let mut days = option(
                        "warn_expiry_days",
                        "Warnings stop counting after days (0: never)",
                        CommandOptionType::Integer,
                        false,
                        None,
                    );
                    days.min_value = Some(CommandOptionValue::Integer(0));
                    days.max_value = Some(CommandOptionValue::Integer(3650));
                    days
                },
            ],
        ),
        command(
            "timeout",
            "Time a member out (Discord's timeout, at most 28 days)",
            Permissions::MODERATE_MEMBERS,
            vec![
                user("The member"),
                option(
                    "duration",
                    "For how long, like 10m, 2h or 7d",
                    CommandOptionType::String,
                    true,
                    Some(16),
                ),
                reason(),
            ],
        ),
        command(
            "untimeout",
            "Lift a member's timeout",
            Permissions::MODERATE_MEMBERS,
            vec![user("The member"), reason()],
        ),
        command(
            "mute",
            "Mute a member: the mute role when one is set, else a timeout Aegis renews",
            Permissions::MODERATE_MEMBERS,
            vec![
                user("The member"),
                option(
                    "duration",
                    "For how long, like 2h or 60d (empty: until /unmute)",
                    CommandOptionType::String,
                    false,
                    Some(16),
                ),
                reason(),
            ],
        ),
        command(
            "unmute",
            "Lift a member's mute",
            Permissions::MODERATE_MEMBERS,
            vec![user("The member"), reason()],
        ),
    ]
    .into_iter()
    .chain(channels::definitions(reason()))
    .chain(std::iter::once(tickets::definition()))
    .collect()
}

/// Overwrites the application's commands (globally, or in one guild for development).
pub(crate) async fn register(
    commands: &Commands,
    guild: Option<Id<GuildMarker>>,
) -> Result<usize, String> {
    let application = commands
        .http
        .current_user_application()
        .await
        .map_err(|e| e.to_string())?
        .model()
        .await
        .map_err(|e| e.to_string())?;
    let client = commands.http.interaction(application.id);
    let set = definitions();
    let registered = match guild {
        Some(guild) => client.set_guild_commands(guild, &set).await,
        None => client.set_global_commands(&set).await,
    }
    .map_err(|e| e.to_string())?
    .models()
    .await
    .map_err(|e| e.to_string())?;
    Ok(registered.len())
}
