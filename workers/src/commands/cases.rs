//! Reading and editing case history: `/case show|reason|delete|hide` and `/cases user`, whose
//! pages turn with buttons. All need Timeout Members; answers are ephemeral (moderation records
//! are for moderators).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use aegis_storage::{Case, Cases};
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::channel::message::component::{ActionRow, Button, ButtonStyle, Component};
use twilight_model::channel::message::{AllowedMentions, MessageFlags};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};

use super::Commands;
use super::moderate::MAX_REASON;
use super::respond::Responder;
use crate::handlers::HandlerError;

/// Cases per `/cases` page.
const PAGE: i64 = 10;

fn allowed(interaction: &Interaction) -> bool {
    let permissions = interaction
        .member
        .as_ref()
        .and_then(|m| m.permissions)
        .unwrap_or(Permissions::empty());
    permissions.intersects(Permissions::MODERATE_MEMBERS | Permissions::ADMINISTRATOR)
}

/// Answers the invoker without Timeout Members (ephemerally) and says whether it did.
async fn refused(interaction: &Interaction, responder: &Responder) -> bool {
    if allowed(interaction) {
        return false;
    }
    let text = "You need the Timeout Members permission for this.";
    responder.reply(text, true).await;
    true
}

fn line(case: &Case) -> String {
    let when = case
        .created_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let reason = case.reason.as_deref().unwrap_or("no reason");
    format!(
        "**#{}** {} <@{}> by <@{}> <t:{when}:R>: {reason}",
        case.number,
        case.kind.as_str(),
        case.target_id,
        case.moderator_id
    )
}

/// `/case show|reason|delete|hide number [...]`.
pub(super) async fn case(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some(guild_id) = interaction.guild_id.map(|g| g.get()) else {
        return Ok(());
    };
    if refused(interaction, responder).await {
        return Ok(());
    }
    let Some(sub) = data.options.first() else {
        return Ok(());
    };
    let CommandOptionValue::SubCommand(options) = &sub.value else {
        return Ok(());
    };
    let mut number = None;
    let mut text = None;
    for option in options {
        match (option.name.as_str(), &option.value) {
            ("number", CommandOptionValue::Integer(n)) => number = i32::try_from(*n).ok(),
            ("reason", CommandOptionValue::String(t)) => text = Some(t.trim().to_owned()),
            _ => {}
        }
    }
    let Some(number) = number.filter(|n| *n > 0) else {
        responder.reply("Give a case number.", true).await;
        return Ok(());
    };
    let cases = Cases::new(commands.pool.clone());
    let answer = match sub.name.as_str() {
        "show" => match cases.get(guild_id, number).await? {
            Some(case) => {
                let mut text = line(&case);
                for note in cases.notes(guild_id, number).await? {
                    let _ = write!(text, "\n> note by <@{}>: {}", note.author_id, note.body);
                }
                text
            }
            None => format!("There is no case #{number}."),
        },
        "reason" => match text.filter(|t| !t.is_empty()) {
            Some(t) if t.chars().count() > MAX_REASON => {
                format!("The reason is over {MAX_REASON} characters.")
            }
            Some(t) => match cases.set_reason(guild_id, number, &t).await? {
                true => format!("Case #{number}'s reason is now: {t}"),
                false => format!("There is no case #{number}."),
            },
            None => "Give the new reason.".to_owned(),
        },
        "delete" => match cases.delete(guild_id, number).await? {
            true => format!("Case #{number} deleted."),
            false => format!("There is no case #{number}."),
        },
        "hide" => match cases.set_hidden(guild_id, number, true).await? {
            true => format!("Case #{number} is hidden from /cases."),
            false => format!("There is no case #{number}."),
        },
        other => format!("Unknown subcommand {other}."),
    };
    responder.reply(&answer, true).await;
    Ok(())
}

/// `/cases user`: the first page.
pub(super) async fn list(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
    responder: &Responder,
) -> Result<(), HandlerError> {
    if refused(interaction, responder).await {
        return Ok(());
    }
    let target = data
        .options
        .iter()
        .find_map(|o| match (&*o.name, &o.value) {
            ("user", CommandOptionValue::User(id)) => Some(id.get()),
            _ => None,
        });
    let (Some(guild_id), Some(target)) = (interaction.guild_id.map(|g| g.get()), target) else {
        return Ok(());
    };
    let page = render(commands, guild_id, target, 0).await?;
    responder.answer(page).await;
    Ok(())
}

/// A `cases:{user}:{page}` button: the same message, another page.
pub(super) async fn turn_page(
    commands: &Commands,
    interaction: &Interaction,
    custom_id: &str,
) -> Result<(), HandlerError> {
    // A page turn reads one page: fast, so it never defers.
    let responder = Responder::new(Arc::clone(&commands.http), interaction, None);
    if refused(interaction, &responder).await {
        return Ok(());
    }
    let mut parts = custom_id.split(':').skip(1);
    let (Some(Ok(target)), Some(Ok(page))) = (
        parts.next().map(str::parse::<u64>),
        parts.next().map(str::parse::<i64>),
    ) else {
        return Err(HandlerError::Permanent(format!(
            "bad custom id {custom_id:?}"
        )));
    };
    let Some(guild_id) = interaction.guild_id.map(|g| g.get()) else {
        return Ok(());
    };
    let page = render(commands, guild_id, target, page.max(0)).await?;
    respond(
        commands,
        interaction,
        InteractionResponseType::UpdateMessage,
        page,
    )
    .await;
    Ok(())
}

/// One page of a user's cases, with Previous / Next buttons.
async fn render(
    commands: &Commands,
    guild_id: u64,
    target: u64,
    page: i64,
) -> Result<InteractionResponseData, HandlerError> {
    let cases = Cases::new(commands.pool.clone());
    // One more than a page tells whether a next page exists.
    let rows = cases
        .for_target(guild_id, target, PAGE + 1, page * PAGE)
        .await?;
    let more = rows.len() as i64 > PAGE;
    let mut content = format!("Cases of <@{target}>, page {}:\n", page + 1);
    if rows.is_empty() {
        content.push_str("none.");
    }
    for case in rows.iter().take(usize::try_from(PAGE).unwrap_or(10)) {
        content.push_str(&line(case));
        content.push('\n');
    }
    let button = |label: &str, to: i64, disabled: bool| {
        Component::Button(Button {
            custom_id: Some(format!("cases:{target}:{to}")),
            disabled,
            emoji: None,
            id: None,
            label: Some(label.to_owned()),
            sku_id: None,
            style: ButtonStyle::Secondary,
            url: None,
        })
    };
    let row = Component::ActionRow(ActionRow {
        components: vec![
            button("Previous", page - 1, page == 0),
            button("Next", page + 1, !more),
        ],
        id: None,
    });
    Ok(InteractionResponseData {
        content: Some(content),
        components: Some(vec![row]),
        flags: Some(MessageFlags::EPHEMERAL),
        allowed_mentions: Some(AllowedMentions::default()),
        ..Default::default()
    })
}

async fn respond(
    commands: &Commands,
    interaction: &Interaction,
    kind: InteractionResponseType,
    data: InteractionResponseData,
) {
    let response = InteractionResponse {
        kind,
        data: Some(data),
    };
    let sent = commands
        .http
        .interaction(interaction.application_id)
        .create_response(interaction.id, &interaction.token, &response)
        .await;
    if let Err(err) = sent {
        tracing::warn!(interaction = %interaction.id, error = %err, "cannot answer the interaction");
    }
}
