//! Setting tickets up (Manage Server): `/ticket category`, `/ticket blacklist`, `/ticket panel`.

use std::time::Duration;

use aegis_storage::{NewCategory, Question};
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandDataOption, CommandOptionValue,
};
use twilight_model::channel::message::Embed;
use twilight_model::channel::message::component::{
    ActionRow, Button, ButtonStyle, Component, SelectMenu, SelectMenuOption, SelectMenuType,
};
use twilight_model::guild::Permissions;

use super::super::Commands;
use super::super::respond::Responder;
use super::invoker;
use crate::handlers::HandlerError;

/// Discord's limits: a modal has at most 5 inputs, an input label at most 45 characters.
const MAX_QUESTIONS: usize = 5;
const MAX_LABEL: usize = 45;
/// Panels show buttons up to this many categories, a select beyond (at most 25 options).
const MAX_BUTTONS: usize = 5;
const MAX_OPTIONS: usize = 25;

async fn manages_server(interaction: &Interaction, responder: &Responder) -> bool {
    let permissions = interaction
        .member
        .as_ref()
        .and_then(|m| m.permissions)
        .unwrap_or(Permissions::empty());
    if permissions.intersects(Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR) {
        return true;
    }
    let text = "You need the Manage Server permission for this.";
    responder.reply(text, true).await;
    false
}

/// Reads `Q1 | Q2 | Q3` into form questions, or says what is wrong.
pub(crate) fn parse_questions(text: &str) -> Result<Vec<Question>, String> {
    let labels: Vec<&str> = text
        .split('|')
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .collect();
    if labels.len() > MAX_QUESTIONS {
        return Err(format!(
            "A form has at most {MAX_QUESTIONS} questions; {} given.",
            labels.len()
        ));
    }
    labels
        .into_iter()
        .map(|label| {
            if label.chars().count() > MAX_LABEL {
                return Err(format!(
                    "The question {label:?} is over {MAX_LABEL} characters."
                ));
            }
            Ok(Question {
                label: label.to_owned(),
                required: true,
                max_length: 1_000,
            })
        })
        .collect()
}

/// `/ticket category name staff_role [parent] [questions] [limit] [log_channel] [auto_close]
/// [name_pattern]`: creates or replaces a category.
pub(super) async fn category(
    commands: &Commands,
    interaction: &Interaction,
    options: &[CommandDataOption],
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some(guild_id) = interaction.guild_id.map(|g| g.get()) else {
        return Ok(());
    };
    if !manages_server(interaction, responder).await {
        return Ok(());
    }
    let mut new = NewCategory {
        guild_id,
        name: String::new(),
        staff_roles: Vec::new(),
        parent_channel_id: None,
        name_pattern: "ticket-{number}".to_owned(),
        questions: Vec::new(),
        open_limit: 1,
        log_channel_id: None,
        auto_close_secs: None,
        reopen_secs: 0,
        private_threads: false,
    };
    let mut problem = None;
    for option in options {
        match (option.name.as_str(), &option.value) {
            ("name", CommandOptionValue::String(name)) => new.name = name.trim().to_owned(),
            ("staff_role", CommandOptionValue::Role(role)) => new.staff_roles.push(role.get()),
            ("parent", CommandOptionValue::Channel(channel)) => {
                new.parent_channel_id = Some(channel.get())
            }
            ("log_channel", CommandOptionValue::Channel(channel)) => {
                new.log_channel_id = Some(channel.get())
            }
            ("limit", CommandOptionValue::Integer(limit)) => match i32::try_from(*limit) {
                Ok(limit @ 1..=25) => new.open_limit = limit,
                _ => problem = Some("The open limit is 1 to 25.".to_owned()),
            },
            ("questions", CommandOptionValue::String(text)) => match parse_questions(text) {
                Ok(questions) => new.questions = questions,
                Err(why) => problem = Some(why),
            },
            ("auto_close", CommandOptionValue::String(text)) => {
                match aegis_service::parse_duration(text) {
                    _ if text.trim() == "off" => new.auto_close_secs = None,
                    Some(d) if d >= Duration::from_secs(1) => {
                        new.auto_close_secs = i64::try_from(d.as_secs()).ok();
                    }
                    _ => problem = Some(format!("{text:?} is not a duration like 48h, or off.")),
                }
            }
            ("reopen_window", CommandOptionValue::String(text)) => {
                match aegis_service::parse_duration(text) {
                    _ if text.trim() == "off" => new.reopen_secs = 0,
                    Some(d) if d <= Duration::from_secs(7 * 86_400) => {
                        new.reopen_secs = i64::try_from(d.as_secs()).unwrap_or(0);
                    }
                    _ => problem = Some(format!("{text:?} is not a duration up to 7d, or off.")),
                }
            }
            ("private_thread", CommandOptionValue::Boolean(on)) => new.private_threads = *on,
            ("name_pattern", CommandOptionValue::String(text)) => {
                new.name_pattern = text.trim().to_owned()
            }
            _ => {}
        }
    }
    if new.name.is_empty() || new.name.chars().count() > 50 {
        problem = Some("Name the category (1 to 50 characters).".to_owned());
    }
    if !new.name_pattern.contains("{number}") || new.name_pattern.chars().count() > 90 {
        problem = Some("The name pattern needs `{number}` (and at most 90 characters).".to_owned());
    }
    if let Some(problem) = problem {
        responder.reply(&problem, true).await;
        return Ok(());
    }
    let saved = commands.categories.upsert(&new).await?;
    let text = format!(
        "Ticket category **{}** saved: staff {}, {} question(s), {} open per member{}.",
        saved.name,
        saved
            .staff_roles
            .iter()
            .map(|r| format!("<@&{r}>"))
            .collect::<Vec<_>>()
            .join(" "),
        saved.questions.len(),
        saved.open_limit,
        saved
            .auto_close_secs
            .map(|s| format!(", auto-close after {s} s inactive"))
            .unwrap_or_default()
    );
    responder.reply(&text, true).await;
    Ok(())
}

/// `/ticket blacklist user [remove]`.
pub(super) async fn blacklist(
    commands: &Commands,
    interaction: &Interaction,
    options: &[CommandDataOption],
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some(guild_id) = interaction.guild_id.map(|g| g.get()) else {
        return Ok(());
    };
    if !manages_server(interaction, responder).await {
        return Ok(());
    }
    let (mut user, mut remove) = (None, false);
    for option in options {
        match (option.name.as_str(), &option.value) {
            ("user", CommandOptionValue::User(id)) => user = Some(id.get()),
            ("remove", CommandOptionValue::Boolean(flag)) => remove = *flag,
            _ => {}
        }
    }
    let Some(user) = user else {
        responder.reply("Choose a user.", true).await;
        return Ok(());
    };
    commands
        .categories
        .set_blacklisted(guild_id, user, invoker(interaction), !remove)
        .await?;
    let text = if remove {
        format!("<@{user}> may open tickets again.")
    } else {
        format!("<@{user}> can no longer open tickets.")
    };
    responder.reply(&text, true).await;
    Ok(())
}

/// The panel's components: a button per category, or a select when there are many.
fn panel_components(categories: &[aegis_storage::Category]) -> Vec<Component> {
    if categories.len() <= MAX_BUTTONS {
        let buttons = categories
            .iter()
            .map(|c| {
                Component::Button(Button {
                    custom_id: Some(format!("ticket:open:{}", c.id)),
                    disabled: false,
                    emoji: None,
                    id: None,
                    label: Some(c.name.clone()),
                    sku_id: None,
                    style: ButtonStyle::Primary,
                    url: None,
                })
            })
            .collect();
        return vec![Component::ActionRow(ActionRow {
            components: buttons,
            id: None,
        })];
    }
    let options = categories
        .iter()
        .take(MAX_OPTIONS)
        .map(|c| SelectMenuOption {
            default: false,
            description: None,
            emoji: None,
            label: c.name.clone(),
            value: c.id.to_string(),
        })
        .collect();
    vec![Component::ActionRow(ActionRow {
        components: vec![Component::SelectMenu(SelectMenu {
            channel_types: None,
            custom_id: "ticket:choose".to_owned(),
            default_values: None,
            disabled: false,
            id: None,
            kind: SelectMenuType::Text,
            max_values: Some(1),
            min_values: Some(1),
            options: Some(options),
            placeholder: Some("What do you need help with?".to_owned()),
            required: None,
        })],
        id: None,
    })]
}

/// `/ticket panel [title] [description]`: posts the panel in this channel.
pub(super) async fn panel(
    commands: &Commands,
    interaction: &Interaction,
    options: &[CommandDataOption],
    responder: &Responder,
) -> Result<(), HandlerError> {
    let (Some(guild_id), Some(channel)) = (
        interaction.guild_id.map(|g| g.get()),
        interaction.channel.as_ref().map(|c| c.id),
    ) else {
        return Ok(());
    };
    if !manages_server(interaction, responder).await {
        return Ok(());
    }
    let categories = commands.categories.list(guild_id).await?;
    if categories.is_empty() {
        let text = "Create a ticket category first: /ticket category.";
        responder.reply(text, true).await;
        return Ok(());
    }
    let text_option = |name: &str| {
        options.iter().find_map(|o| match (&*o.name, &o.value) {
            (n, CommandOptionValue::String(text)) if n == name => Some(text.clone()),
            _ => None,
        })
    };
    let embed = Embed {
        author: None,
        color: Some(0x58_65_F2),
        description: Some(
            text_option("description")
                .unwrap_or_else(|| "Open a ticket and our staff will help you.".to_owned()),
        ),
        fields: Vec::new(),
        flags: None,
        footer: None,
        image: None,
        kind: "rich".to_owned(),
        provider: None,
        thumbnail: None,
        timestamp: None,
        title: Some(text_option("title").unwrap_or_else(|| "Support".to_owned())),
        url: None,
        video: None,
    };
    let posted = commands
        .http
        .create_message(channel)
        .embeds(&[embed])
        .components(&panel_components(&categories))
        .await;
    match posted {
        Ok(_) => responder.reply("Panel posted.", true).await,
        Err(err) => {
            let text = format!(
                "Discord refused: {}",
                super::super::moderate::discord_message(&err)
            );
            responder.reply(&text, true).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_questions;

    #[test]
    fn questions_are_split_on_bars_within_discords_limits() {
        let questions = parse_questions("What happened? | When? |").expect("two questions");
        assert_eq!(questions.len(), 2);
        assert_eq!(questions[1].label, "When?");
        assert!(parse_questions("a|b|c|d|e|f").is_err(), "six is too many");
        assert!(parse_questions(&"x".repeat(46)).is_err(), "label over 45");
    }
}
