//! Autocomplete for `/case … number`: the guild's newest cases whose number starts with what the
//! moderator typed, each named by what it was and to whom, so nobody has to look a number up.

use aegis_storage::Cases;
use twilight_model::application::command::{CommandOptionChoice, CommandOptionChoiceValue};
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};

use super::Commands;
use crate::handlers::HandlerError;

/// Discord shows at most 25 choices.
const CHOICES: i64 = 25;
/// Discord's limit on a choice's name.
const NAME_LIMIT: usize = 100;

/// The focused option's text, searching subcommands.
fn focused(options: &[CommandDataOption]) -> Option<(&str, &str)> {
    options.iter().find_map(|o| match &o.value {
        CommandOptionValue::Focused(text, _) => Some((o.name.as_str(), text.as_str())),
        CommandOptionValue::SubCommand(inner) | CommandOptionValue::SubCommandGroup(inner) => {
            focused(inner)
        }
        _ => None,
    })
}

/// Answers an autocomplete interaction (never deferred: Discord does not allow it).
pub(super) async fn suggest(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
) -> Result<(), HandlerError> {
    let allowed = interaction
        .member
        .as_ref()
        .and_then(|m| m.permissions)
        .is_some_and(|p| p.intersects(Permissions::MODERATE_MEMBERS | Permissions::ADMINISTRATOR));
    let mut choices = Vec::new();
    if let (true, Some(guild), "case", Some(("number", typed))) = (
        allowed,
        interaction.guild_id,
        data.name.as_str(),
        focused(&data.options),
    ) {
        let cases = Cases::new(commands.pool.clone())
            .numbered_like(guild.get(), typed, CHOICES)
            .await?;
        for case in cases {
            let reason = case.reason.as_deref().unwrap_or("no reason");
            let name = format!(
                "#{} {} {}: {reason}",
                case.number,
                case.kind.as_str(),
                case.target_id
            );
            choices.push(CommandOptionChoice {
                name: name.chars().take(NAME_LIMIT).collect(),
                name_localizations: None,
                value: CommandOptionChoiceValue::Integer(i64::from(case.number)),
            });
        }
    }
    let response = InteractionResponse {
        kind: InteractionResponseType::ApplicationCommandAutocompleteResult,
        data: Some(InteractionResponseData {
            choices: Some(choices),
            ..Default::default()
        }),
    };
    let sent = commands
        .http
        .interaction(interaction.application_id)
        .create_response(interaction.id, &interaction.token, &response)
        .await;
    if let Err(err) = sent {
        tracing::warn!(interaction = %interaction.id, error = %err, "cannot answer autocomplete");
    }
    Ok(())
}
