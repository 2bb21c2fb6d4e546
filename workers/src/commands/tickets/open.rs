//! Opening a ticket: the panel's button (or select) shows the category's form when it has one;
//! the form (or the click, without one) opens the ticket.
//!
//! In one transaction: the interaction's claim, the open limit (serialised per guild and user,
//! so concurrent clicks cannot exceed it), the ticket's number, the private channel with its exact
//! overwrites, the auto-close timer and the `opened` event. A Discord refusal rolls it all back.

use std::time::{Duration, SystemTime};

use aegis_storage::{
    Category, NewTicket, NewTimer, Opened, Ticket, Tickets, Timers, claim_interaction,
};
use twilight_http::request::AuditLogReason;
use twilight_model::application::interaction::Interaction;
use twilight_model::channel::ChannelType;
use twilight_model::channel::message::component::{
    ButtonStyle, Component, Label, TextInput, TextInputStyle,
};
use twilight_model::channel::message::embed::EmbedField;
use twilight_model::channel::message::{AllowedMentions, Embed, MentionType};
use twilight_model::channel::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::guild::Permissions;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;

use super::super::Commands;
use super::super::moderate::discord_message;
use super::super::respond::Responder;
use super::{TicketEventKind, button, invoker, row, schedule_event};
use crate::handlers::HandlerError;

/// What the opener and staff may do in a ticket channel.
pub(crate) const MEMBER_ALLOW: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::READ_MESSAGE_HISTORY)
    .union(Permissions::ATTACH_FILES)
    .union(Permissions::EMBED_LINKS);
/// The bot also manages the channel and its messages.
const BOT_ALLOW: Permissions = MEMBER_ALLOW
    .union(Permissions::MANAGE_CHANNELS)
    .union(Permissions::MANAGE_MESSAGES);

/// The exact overwrites of a ticket channel: nobody but the opener, the staff roles and the bot.
pub(crate) fn overwrites(
    guild_id: u64,
    opener: u64,
    staff_roles: &[u64],
    bot: u64,
) -> Vec<PermissionOverwrite> {
    let mut overwrites = vec![PermissionOverwrite {
        allow: Permissions::empty(),
        deny: Permissions::VIEW_CHANNEL,
        id: Id::new(guild_id),
        kind: PermissionOverwriteType::Role,
    }];
    overwrites.extend(staff_roles.iter().map(|role| PermissionOverwrite {
        allow: MEMBER_ALLOW | Permissions::MANAGE_MESSAGES,
        deny: Permissions::empty(),
        id: Id::new(*role),
        kind: PermissionOverwriteType::Role,
    }));
    for (member, allow) in [(opener, MEMBER_ALLOW), (bot, BOT_ALLOW)] {
        overwrites.push(PermissionOverwrite {
            allow,
            deny: Permissions::empty(),
            id: Id::new(member),
            kind: PermissionOverwriteType::Member,
        });
    }
    overwrites
}

/// The channel name from the category's pattern: `{number}` (zero-padded to 4) and `{user}`.
pub(crate) fn channel_name(pattern: &str, number: i32, user: &str) -> String {
    let user: String = user
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_lowercase();
    pattern
        .replace("{number}", &format!("{number:04}"))
        .replace("{user}", &user)
        .chars()
        .take(100)
        .collect()
}

/// The panel's click: the form when the category has questions, else the ticket at once.
pub(super) async fn start(
    commands: &Commands,
    interaction: &Interaction,
    category_id: i64,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some(guild_id) = interaction.guild_id.map(|g| g.get()) else {
        return Ok(());
    };
    let Some(category) = commands.categories.get(guild_id, category_id).await? else {
        let text = "This kind of ticket no longer exists.";
        responder.reply(text, true).await;
        return Ok(());
    };
    if category.questions.is_empty() {
        return open(commands, interaction, &category, Vec::new(), responder).await;
    }
    // Refuse before the form rather than after it.
    if let Some(refusal) = refusal(commands, interaction, &category).await? {
        responder.reply(&refusal, true).await;
        return Ok(());
    }
    let rows = category
        .questions
        .iter()
        .enumerate()
        .map(|(i, q)| {
            // Discord's current modal layout: a Label around each text input.
            #[allow(deprecated)] // `TextInput::label`, left empty as the Label carries it
            let input = TextInput {
                custom_id: format!("q{i}"),
                id: None,
                label: None,
                max_length: Some(q.max_length),
                min_length: None,
                placeholder: None,
                required: Some(q.required),
                style: TextInputStyle::Paragraph,
                value: None,
            };
            Component::Label(Label {
                component: Box::new(Component::TextInput(input)),
                description: None,
                id: None,
                label: q.label.clone(),
            })
        })
        .collect();
    let modal = InteractionResponse {
        kind: InteractionResponseType::Modal,
        data: Some(InteractionResponseData {
            custom_id: Some(format!("ticket:form:{}", category.id)),
            title: Some(category.name.chars().take(45).collect()),
            components: Some(rows),
            ..Default::default()
        }),
    };
    responder.respond(&modal).await;
    Ok(())
}

/// The submitted form.
pub(super) async fn submit(
    commands: &Commands,
    interaction: &Interaction,
    category_id: i64,
    inputs: Vec<(String, String)>,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some(guild_id) = interaction.guild_id.map(|g| g.get()) else {
        return Ok(());
    };
    let Some(category) = commands.categories.get(guild_id, category_id).await? else {
        responder
            .reply("This kind of ticket no longer exists.", true)
            .await;
        return Ok(());
    };
    let mut answers = Vec::new();
    for (i, question) in category.questions.iter().enumerate() {
        let answer = inputs
            .iter()
            .find(|(id, _)| *id == format!("q{i}"))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        let length = answer.chars().count();
        if length > usize::from(question.max_length) {
            let text = format!(
                "Your answer to \"{}\" is {length} characters; the limit is {}.",
                question.label, question.max_length
            );
            responder.reply(&text, true).await;
            return Ok(());
        }
        if question.required && answer.is_empty() {
            let text = format!("Please answer \"{}\".", question.label);
            responder.reply(&text, true).await;
            return Ok(());
        }
        answers.push((question.label.clone(), answer));
    }
    open(commands, interaction, &category, answers, responder).await
}

/// Why this member may not open a ticket here, if they may not.
async fn refusal(
    commands: &Commands,
    interaction: &Interaction,
    category: &Category,
) -> Result<Option<String>, HandlerError> {
    let user = invoker(interaction);
    if commands
        .categories
        .is_blacklisted(category.guild_id, user)
        .await?
    {
        return Ok(Some(
            "You cannot open tickets in this server. Ask a moderator if you think this is a mistake."
                .to_owned(),
        ));
    }
    Ok(None)
}

async fn open(
    commands: &Commands,
    interaction: &Interaction,
    category: &Category,
    answers: Vec<(String, String)>,
    responder: &Responder,
) -> Result<(), HandlerError> {
    if let Some(refusal) = refusal(commands, interaction, category).await? {
        responder.reply(&refusal, true).await;
        return Ok(());
    }
    let opener = invoker(interaction);
    let username = interaction
        .member
        .as_ref()
        .and_then(|m| m.user.as_ref())
        .map_or_else(|| opener.to_string(), |u| u.name.clone());
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
    let new = NewTicket {
        guild_id: category.guild_id,
        category_id: category.id,
        opener_id: opener,
        answers: serde_json::Value::Array(
            answers
                .iter()
                .map(|(q, a)| serde_json::json!({ "question": q, "answer": a }))
                .collect(),
        ),
        dedupe_key: format!("interaction:{}", interaction.id),
    };
    let ticket = match Tickets::open_in(&tx, &new, category.open_limit).await? {
        Opened::New(ticket) => *ticket,
        Opened::AtLimit(live) => {
            drop(tx);
            let text = format!(
                "You already have {live} open ticket(s) of this kind, the most allowed: please use {}.",
                if live == 1 { "it" } else { "them" }
            );
            responder.reply(&text, true).await;
            return Ok(());
        }
    };
    let name = channel_name(&category.name_pattern, ticket.number, &username);
    let overwrites = overwrites(
        category.guild_id,
        opener,
        &category.staff_roles,
        commands.bot_user_id,
    );
    let reason = format!("Ticket #{} opened by {opener}", ticket.number);
    let created = if category.private_threads {
        let parent = interaction.channel.as_ref().map(|c| c.id);
        open_thread(commands, parent, &name, opener).await
    } else {
        let mut create = commands
            .http
            .create_guild_channel(Id::new(category.guild_id), &name)
            .kind(ChannelType::GuildText)
            .permission_overwrites(overwrites.as_slice());
        if let Some(parent) = category.parent_channel_id {
            create = create.parent_id(Id::new(parent));
        }
        match create.reason(&reason).await {
            Ok(response) => response
                .model()
                .await
                .map(|c| c.id)
                .map_err(|e| e.to_string()),
            Err(err) => Err(discord_message(&err)),
        }
    };
    let channel = match created {
        Ok(channel) => channel,
        Err(why) => {
            drop(tx);
            let text = format!("I could not open the ticket: {why}");
            responder.reply(&text, true).await;
            return Ok(());
        }
    };
    Tickets::set_channel_in(&tx, ticket.id, channel.get()).await?;
    let ticket = Ticket {
        channel_id: Some(channel.get()),
        ..ticket
    };
    if let Some(secs) = category.auto_close_secs {
        schedule_inactivity(&tx, &ticket, Duration::from_secs(secs.unsigned_abs())).await?;
    }
    let cause = format!("interaction:{}", interaction.id);
    schedule_event(
        &tx,
        &ticket,
        TicketEventKind::Opened,
        opener,
        None,
        None,
        &cause,
    )
    .await?;
    tx.commit().await.map_err(transient)?;
    welcome(commands, &ticket, category, &answers).await;
    let text = format!("Your ticket is open: <#{channel}>");
    responder.reply(&text, true).await;
    Ok(())
}

/// A private thread in the panel's channel with the opener in it (staff join through the welcome
/// message's role mentions, as Discord adds mentioned members to private threads).
async fn open_thread(
    commands: &Commands,
    parent: Option<Id<twilight_model::id::marker::ChannelMarker>>,
    name: &str,
    opener: u64,
) -> Result<Id<twilight_model::id::marker::ChannelMarker>, String> {
    let parent = parent.ok_or_else(|| "no channel to open a thread in".to_owned())?;
    let thread = commands
        .http
        .create_thread(parent, name, ChannelType::PrivateThread)
        .invitable(false)
        .await
        .map_err(|e| discord_message(&e))?
        .model()
        .await
        .map_err(|e| e.to_string())?;
    if let Err(err) = commands
        .http
        .add_thread_member(thread.id, Id::new(opener))
        .await
    {
        // Without its opener the thread is no ticket: take it away again.
        let _ = commands.http.delete_channel(thread.id).await;
        return Err(discord_message(&err));
    }
    Ok(thread.id)
}

/// The timer that checks a ticket for inactivity (see the `ticket_inactive` job).
pub(crate) async fn schedule_inactivity(
    client: &impl tokio_postgres::GenericClient,
    ticket: &Ticket,
    after: Duration,
) -> Result<(), aegis_storage::StorageError> {
    let timer = NewTimer {
        kind: "ticket_inactive".to_owned(),
        guild_id: Some(ticket.guild_id),
        payload: serde_json::json!({ "ticket_id": ticket.id, "stage": "warn" }),
        due_at: SystemTime::now() + after,
        dedupe_key: format!("ticket_inactive:{}", ticket.id),
    };
    Timers::schedule_in(client, &timer).await.map(drop)
}

/// The first message in the channel: who opened it, the form's answers, Close and Claim.
async fn welcome(
    commands: &Commands,
    ticket: &Ticket,
    category: &Category,
    answers: &[(String, String)],
) {
    let Some(channel) = ticket.channel_id else {
        return;
    };
    let fields = answers
        .iter()
        .map(|(question, answer)| EmbedField {
            inline: false,
            name: question.chars().take(256).collect(),
            value: if answer.is_empty() {
                "(no answer)".to_owned()
            } else {
                answer.chars().take(1024).collect()
            },
        })
        .collect();
    let embed = Embed {
        author: None,
        color: Some(0x58_65_F2),
        description: Some(format!(
            "<@{}> opened this ticket. Staff will be with you shortly.",
            ticket.opener_id
        )),
        fields,
        flags: None,
        footer: None,
        image: None,
        kind: "rich".to_owned(),
        provider: None,
        thumbnail: None,
        timestamp: None,
        title: Some(format!("Ticket #{} · {}", ticket.number, category.name)),
        url: None,
        video: None,
    };
    let buttons = row(vec![
        button(
            format!("ticket:close:{}", ticket.id),
            "Close",
            ButtonStyle::Danger,
        ),
        button(
            format!("ticket:claim:{}", ticket.id),
            "Claim",
            ButtonStyle::Secondary,
        ),
    ]);
    let mentions: String = std::iter::once(format!("<@{}>", ticket.opener_id))
        .chain(category.staff_roles.iter().map(|r| format!("<@&{r}>")))
        .collect::<Vec<_>>()
        .join(" ");
    let allowed = AllowedMentions {
        parse: Vec::<MentionType>::new(),
        replied_user: false,
        roles: category.staff_roles.iter().map(|r| Id::new(*r)).collect(),
        users: vec![Id::new(ticket.opener_id)],
    };
    let sent = commands
        .http
        .create_message(Id::new(channel))
        .content(&mentions)
        .embeds(&[embed])
        .components(&[buttons])
        .allowed_mentions(Some(&allowed))
        .await;
    if let Err(err) = sent {
        tracing::warn!(ticket = ticket.id, error = %err, "cannot post the ticket's welcome");
    }
}

#[cfg(test)]
mod tests {
    use twilight_model::guild::Permissions;

    use super::{channel_name, overwrites};

    #[test]
    fn channel_names_follow_the_pattern() {
        assert_eq!(channel_name("ticket-{number}", 7, "X"), "ticket-0007");
        assert_eq!(
            channel_name("{user}-{number}", 12, "Ann Lee!"),
            "annlee-0012"
        );
    }

    #[test]
    fn only_the_opener_staff_and_bot_see_the_channel() {
        let set = overwrites(1, 2, &[3, 4], 5);
        assert_eq!(set.len(), 5);
        assert_eq!(set[0].deny, Permissions::VIEW_CHANNEL, "@everyone");
        assert!(
            set[1..]
                .iter()
                .all(|o| o.allow.contains(Permissions::VIEW_CHANNEL))
        );
    }
}
