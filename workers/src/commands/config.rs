//! `/config`: the guild's moderation settings (mod-log channel, mute role, DM on action, warning
//! expiry). Needs Manage Server. Without options it shows the current settings.

use aegis_storage::GuildSettings;
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::guild::Permissions;

use super::Commands;
use super::respond::Responder;
use crate::handlers::HandlerError;

fn describe(settings: &GuildSettings) -> String {
    let channel = settings
        .mod_log_channel
        .map_or("none".to_owned(), |c| format!("<#{c}>"));
    let role = settings
        .mute_role
        .map_or("none (Discord timeouts)".to_owned(), |r| format!("<@&{r}>"));
    let expiry = settings
        .warn_expiry_days
        .map_or("never".to_owned(), |d| format!("after {d} days"));
    format!(
        "Mod-log channel: {channel}\nMute role: {role}\nDM the member on action: {}\nWarnings expire: {expiry}",
        if settings.dm_on_action { "yes" } else { "no" }
    )
}

pub(super) async fn run(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some(guild_id) = interaction.guild_id.map(|g| g.get()) else {
        return Ok(());
    };
    let permissions = interaction
        .member
        .as_ref()
        .and_then(|m| m.permissions)
        .unwrap_or(Permissions::empty());
    if !permissions.intersects(Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR) {
        responder
            .reply("You need the Manage Server permission for this.", true)
            .await;
        return Ok(());
    }
    let mut settings = commands.settings.get(guild_id).await?;
    if data.options.is_empty() {
        responder.reply(&describe(&settings), true).await;
        return Ok(());
    }
    for option in &data.options {
        match (option.name.as_str(), &option.value) {
            ("mod_log_channel", CommandOptionValue::Channel(id)) => {
                settings.mod_log_channel = Some(id.get())
            }
            ("mute_role", CommandOptionValue::Role(id)) => settings.mute_role = Some(id.get()),
            ("dm_on_action", CommandOptionValue::Boolean(on)) => settings.dm_on_action = *on,
            ("warn_expiry_days", CommandOptionValue::Integer(days)) => {
                // 0 turns expiry off; anything else is checked by the settings' validation.
                settings.warn_expiry_days = match u32::try_from(*days) {
                    Ok(0) => None,
                    Ok(days) => Some(days),
                    Err(_) => Some(u32::MAX),
                };
            }
            _ => {}
        }
    }
    match commands.settings.set(guild_id, &settings).await? {
        Ok(()) => {
            responder
                .reply(&format!("Saved.\n{}", describe(&settings)), true)
                .await
        }
        Err(invalid) => responder.reply(&invalid.to_string(), true).await,
    }
    Ok(())
}
