//! Working a ticket: claim, add and remove members, close (by button with confirmation, or
//! `/ticket close [reason]`).
//!
//! A close commits the ticket as `closing` with a `ticket_close` job due at once; the job writes
//! the transcript, deletes the channel, logs and tells the opener (see the workers' ticket jobs).

use aegis_storage::{Category, Claimed, NewTimer, Ticket, Tickets, Timers, claim_interaction};
use twilight_http::request::AuditLogReason;
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandDataOption, CommandOptionValue,
};
use twilight_model::channel::message::component::ButtonStyle;
use twilight_model::channel::message::{AllowedMentions, MessageFlags};
use twilight_model::http::interaction::InteractionResponseData;
use twilight_model::http::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::id::Id;

use super::super::Commands;
use super::super::moderate::{MAX_REASON, discord_message};
use super::super::respond::Responder;
use super::{
    TicketEventKind, button, invoker, is_staff, row, schedule_event, ticket_here, ticket_of,
};
use crate::handlers::HandlerError;

const NOT_A_TICKET: &str = "This is not an open ticket.";
const STAFF_ONLY: &str = "Only this ticket's staff can do that.";

/// Starts closing `ticket` in `client`'s transaction: `closing`, the `ticket_close` job, the
/// `closed` event, and no more inactivity checks. `false` if it was not open.
pub(crate) async fn close_ticket_in(
    client: &impl tokio_postgres::GenericClient,
    ticket: &Ticket,
    by: u64,
    reason: Option<&str>,
    cause: &str,
) -> Result<bool, HandlerError> {
    if !Tickets::begin_close_in(client, ticket.id, by, reason).await? {
        return Ok(false);
    }
    let job = NewTimer {
        kind: "ticket_close".to_owned(),
        guild_id: Some(ticket.guild_id),
        payload: serde_json::json!({ "ticket_id": ticket.id }),
        due_at: std::time::SystemTime::now(),
        dedupe_key: format!("ticket_close:{}", ticket.id),
    };
    Timers::schedule_in(client, &job).await?;
    Timers::cancel_in(client, &format!("ticket_inactive:{}", ticket.id)).await?;
    schedule_event(
        client,
        ticket,
        TicketEventKind::Closed,
        by,
        None,
        reason,
        cause,
    )
    .await?;
    Ok(true)
}

/// Closes after the checks every way of closing shares: an open ticket, and staff or its opener.
pub(super) async fn close(
    commands: &Commands,
    interaction: &Interaction,
    found: Option<(Ticket, Category)>,
    reason: Option<String>,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some((ticket, category)) = found else {
        responder.reply(NOT_A_TICKET, true).await;
        return Ok(());
    };
    let who = invoker(interaction);
    if who != ticket.opener_id && !is_staff(interaction, &category) {
        responder.reply(STAFF_ONLY, true).await;
        return Ok(());
    }
    if let Some(reason) = &reason
        && reason.chars().count() > MAX_REASON
    {
        let text = format!("The reason is over {MAX_REASON} characters.");
        responder.reply(&text, true).await;
        return Ok(());
    }
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
    let cause = format!("interaction:{}", interaction.id);
    if !close_ticket_in(&tx, &ticket, who, reason.as_deref(), &cause).await? {
        drop(tx);
        responder.reply(NOT_A_TICKET, true).await;
        return Ok(());
    }
    tx.commit().await.map_err(transient)?;
    let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
    let text = format!(
        "Ticket #{} closed by <@{who}>{why}. Saving the transcript; this channel will be deleted.",
        ticket.number
    );
    responder.reply(&text, false).await;
    Ok(())
}

/// `/ticket close [reason]`, in the ticket's channel.
pub(super) async fn close_command(
    commands: &Commands,
    interaction: &Interaction,
    options: &[CommandDataOption],
    responder: &Responder,
) -> Result<(), HandlerError> {
    let reason = options.iter().find_map(|o| match (&*o.name, &o.value) {
        ("reason", CommandOptionValue::String(text)) => Some(text.trim().to_owned()),
        _ => None,
    });
    let found = ticket_here(commands, interaction).await?;
    close(commands, interaction, found, reason, responder).await
}

/// The Close button: asks to confirm, only to whoever clicked.
pub(super) async fn ask_close(
    commands: &Commands,
    interaction: &Interaction,
    ticket_id: i64,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some((ticket, category)) = ticket_of(commands, interaction, ticket_id).await? else {
        responder.reply(NOT_A_TICKET, true).await;
        return Ok(());
    };
    let who = invoker(interaction);
    if who != ticket.opener_id && !is_staff(interaction, &category) {
        responder.reply(STAFF_ONLY, true).await;
        return Ok(());
    }
    let confirm = row(vec![button(
        format!("ticket:confirm:{ticket_id}"),
        "Close the ticket",
        ButtonStyle::Danger,
    )]);
    responder
        .answer(InteractionResponseData {
            content: Some("Close this ticket? Its transcript is saved first.".to_owned()),
            components: Some(vec![confirm]),
            flags: Some(MessageFlags::EPHEMERAL),
            allowed_mentions: Some(AllowedMentions::default()),
            ..Default::default()
        })
        .await;
    Ok(())
}

/// The confirmation's button.
pub(super) async fn close_button(
    commands: &Commands,
    interaction: &Interaction,
    ticket_id: i64,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let found = ticket_of(commands, interaction, ticket_id).await?;
    close(commands, interaction, found, None, responder).await
}

/// The Claim button.
pub(super) async fn claim(
    commands: &Commands,
    interaction: &Interaction,
    ticket_id: i64,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let found = ticket_of(commands, interaction, ticket_id).await?;
    claim_found(commands, interaction, found, responder).await
}

/// `/ticket claim`, in the ticket's channel.
pub(super) async fn claim_here(
    commands: &Commands,
    interaction: &Interaction,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let found = ticket_here(commands, interaction).await?;
    claim_found(commands, interaction, found, responder).await
}

async fn claim_found(
    commands: &Commands,
    interaction: &Interaction,
    found: Option<(Ticket, Category)>,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some((ticket, category)) = found else {
        responder.reply(NOT_A_TICKET, true).await;
        return Ok(());
    };
    if !is_staff(interaction, &category) {
        responder.reply(STAFF_ONLY, true).await;
        return Ok(());
    }
    let who = invoker(interaction);
    match commands.tickets.claim(ticket.id, who).await? {
        Claimed::Now => {
            let conn = commands
                .pool
                .get()
                .await
                .map_err(|e| HandlerError::Transient(e.to_string()))?;
            let cause = format!("interaction:{}", interaction.id);
            schedule_event(
                &*conn,
                &ticket,
                TicketEventKind::Claimed,
                who,
                None,
                None,
                &cause,
            )
            .await?;
            let text = format!("<@{who}> claimed this ticket and will help you.");
            responder.reply(&text, false).await;
        }
        Claimed::Already(owner) if owner == who => {
            responder
                .reply("You already claimed this ticket.", true)
                .await;
        }
        Claimed::Already(owner) => {
            let text = format!("<@{owner}> already claimed this ticket.");
            responder.reply(&text, true).await;
        }
        Claimed::NotOpen => responder.reply(NOT_A_TICKET, true).await,
    }
    Ok(())
}

/// `/ticket add user` and `/ticket remove user`, in the ticket's channel, by staff.
pub(super) async fn membership(
    commands: &Commands,
    interaction: &Interaction,
    options: &[CommandDataOption],
    add: bool,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some((ticket, category)) = ticket_here(commands, interaction).await? else {
        responder.reply(NOT_A_TICKET, true).await;
        return Ok(());
    };
    if !is_staff(interaction, &category) {
        responder.reply(STAFF_ONLY, true).await;
        return Ok(());
    }
    let Some(user) = options.iter().find_map(|o| match (&*o.name, &o.value) {
        ("user", CommandOptionValue::User(id)) => Some(id.get()),
        _ => None,
    }) else {
        responder.reply("Choose a member.", true).await;
        return Ok(());
    };
    if !add && user == ticket.opener_id {
        let text = "The opener stays in their ticket; close it instead.";
        responder.reply(text, true).await;
        return Ok(());
    }
    let Some(channel) = ticket.channel_id else {
        responder.reply(NOT_A_TICKET, true).await;
        return Ok(());
    };
    let who = invoker(interaction);
    let reason = format!("Ticket #{} by {who}", ticket.number);
    let (room, member) = (Id::new(channel), Id::new(user));
    let sent = match (add, category.private_threads) {
        (true, true) => commands
            .http
            .add_thread_member(room, member)
            .await
            .map(drop),
        (false, true) => commands
            .http
            .remove_thread_member(room, member)
            .await
            .map(drop),
        (true, false) => {
            let overwrite = PermissionOverwrite {
                allow: Some(super::open::MEMBER_ALLOW),
                deny: None,
                id: member.cast(),
                kind: PermissionOverwriteType::Member,
            };
            commands
                .http
                .update_channel_permission(room, &overwrite)
                .reason(&reason)
                .await
                .map(drop)
        }
        (false, false) => commands
            .http
            .delete_channel_permission(room)
            .member(member)
            .reason(&reason)
            .await
            .map(drop),
    };
    if let Err(err) = sent {
        let text = format!("Discord refused: {}", discord_message(&err));
        responder.reply(&text, true).await;
        return Ok(());
    }
    let conn = commands
        .pool
        .get()
        .await
        .map_err(|e| HandlerError::Transient(e.to_string()))?;
    let kind = if add {
        TicketEventKind::MemberAdded
    } else {
        TicketEventKind::MemberRemoved
    };
    let cause = format!("interaction:{}", interaction.id);
    schedule_event(&*conn, &ticket, kind, who, Some(user), None, &cause).await?;
    let text = if add {
        format!("<@{user}> was added to this ticket.")
    } else {
        format!("<@{user}> was removed from this ticket.")
    };
    responder.reply(&text, false).await;
    Ok(())
}
