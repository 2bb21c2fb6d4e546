//! The commands Aegis registers, by bulk overwrite (idempotent: the same set twice changes nothing).

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionType, CommandType,
};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::GuildMarker;

use super::Commands;

fn option(
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

/// Every command, with `default_member_permissions` so Discord hides them from members who
/// cannot use them (the workers check again: server admins can change those defaults).
pub(crate) fn definitions() -> Vec<Command> {
    #[allow(deprecated)]
    let warn = Command {
        application_id: None,
        contexts: None,
        default_member_permissions: Some(Permissions::MODERATE_MEMBERS),
        dm_permission: None,
        description: "Warn a member and record a case".to_owned(),
        description_localizations: None,
        guild_id: None,
        id: None,
        integration_types: None,
        kind: CommandType::ChatInput,
        name: "warn".to_owned(),
        name_localizations: None,
        nsfw: None,
        options: vec![
            option(
                "user",
                "The member to warn",
                CommandOptionType::User,
                true,
                None,
            ),
            option(
                "reason",
                "Why (shown in the case)",
                CommandOptionType::String,
                false,
                Some(512),
            ),
        ],
        version: Id::new(1),
    };
    vec![warn]
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
