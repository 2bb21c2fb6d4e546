//! Answering an interaction through rest-proxy.

use twilight_model::application::interaction::Interaction;
use twilight_model::channel::message::{AllowedMentions, MessageFlags};
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};

use super::Commands;

/// Answers with a message (ephemeral for refusals), mentioning nobody. A failure (too late,
/// already answered) is logged: the effect, if any, is already committed.
pub(crate) async fn reply(
    commands: &Commands,
    interaction: &Interaction,
    text: &str,
    ephemeral: bool,
) {
    let response = InteractionResponse {
        kind: InteractionResponseType::ChannelMessageWithSource,
        data: Some(InteractionResponseData {
            content: Some(text.to_owned()),
            flags: ephemeral.then_some(MessageFlags::EPHEMERAL),
            allowed_mentions: Some(AllowedMentions::default()),
            ..Default::default()
        }),
    };
    let result = commands
        .http
        .interaction(interaction.application_id)
        .create_response(interaction.id, &interaction.token, &response)
        .await;
    if let Err(err) = result {
        tracing::warn!(interaction = %interaction.id, error = %err, "cannot answer the interaction");
    }
}
