//! Close requests (staff asks, the opener confirms) and reopening a closed ticket within its
//! category's reopen window.

use std::time::Duration;

use aegis_storage::{Tickets, Timers, claim_interaction};
use twilight_http::request::AuditLogReason;
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandDataOption, CommandOptionValue,
};
use twilight_model::channel::message::AllowedMentions;
use twilight_model::channel::message::component::ButtonStyle;
use twilight_model::http::interaction::InteractionResponseData;
use twilight_model::http::permission_overwrite::{PermissionOverwrite, PermissionOverwriteType};
use twilight_model::id::Id;

use super::super::Commands;
use super::super::respond::Responder;
use super::open::{MEMBER_ALLOW, schedule_inactivity};
use super::{
    TicketEventKind, button, invoker, is_staff, row, schedule_event, ticket_here, ticket_of,
};
use crate::handlers::HandlerError;

/// `/ticket closerequest [reason]`: staff asks the opener to confirm the close.
pub(super) async fn request_close(
    commands: &Commands,
    interaction: &Interaction,
    options: &[CommandDataOption],
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some((ticket, category)) = ticket_here(commands, interaction).await? else {
        responder.reply("This is not an open ticket.", true).await;
        return Ok(());
    };
    if !is_staff(interaction, &category) {
        responder
            .reply("Only this ticket's staff can do that.", true)
            .await;
        return Ok(());
    }
    let reason = options.iter().find_map(|o| match (&*o.name, &o.value) {
        ("reason", CommandOptionValue::String(text)) => Some(text.trim().to_owned()),
        _ => None,
    });
    let who = invoker(interaction);
    if !commands
        .tickets
        .request_close(ticket.id, who, reason.as_deref())
        .await?
    {
        responder.reply("This is not an open ticket.", true).await;
        return Ok(());
    }
    let conn = commands
        .pool
        .get()
        .await
        .map_err(|e| HandlerError::Transient(e.to_string()))?;
    let cause = format!("interaction:{}", interaction.id);
    schedule_event(
        &*conn,
        &ticket,
        TicketEventKind::CloseRequested,
        who,
        None,
        reason.as_deref(),
        &cause,
    )
    .await?;
    let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
    let row = row(vec![
        button(
            format!("ticket:accept:{}", ticket.id),
            "Close it",
            ButtonStyle::Danger,
        ),
        button(
            format!("ticket:keep:{}", ticket.id),
            "Keep it open",
            ButtonStyle::Secondary,
        ),
    ]);
    responder
        .answer(InteractionResponseData {
            content: Some(format!(
                "<@{}>, <@{who}> would like to close this ticket{why}. Is your question answered?",
                ticket.opener_id
            )),
            components: Some(vec![row]),
            allowed_mentions: Some(AllowedMentions {
                users: vec![Id::new(ticket.opener_id)],
                ..AllowedMentions::default()
            }),
            ..Default::default()
        })
        .await;
    Ok(())
}

/// The opener accepts a close request: closed with the request's reason.
pub(super) async fn accept_close(
    commands: &Commands,
    interaction: &Interaction,
    ticket_id: i64,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let found = ticket_of(commands, interaction, ticket_id).await?;
    let reason = found
        .as_ref()
        .and_then(|(t, _)| t.close_request_reason.clone());
    super::manage::close(commands, interaction, found, reason, responder).await
}

/// The opener keeps the ticket open.
pub(super) async fn keep_open(
    commands: &Commands,
    interaction: &Interaction,
    ticket_id: i64,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some((ticket, category)) = ticket_of(commands, interaction, ticket_id).await? else {
        return Ok(());
    };
    let who = invoker(interaction);
    if who != ticket.opener_id && !is_staff(interaction, &category) {
        responder.reply("Only the opener answers this.", true).await;
        return Ok(());
    }
    responder
        .reply(&format!("<@{who}> keeps this ticket open."), false)
        .await;
    Ok(())
}

/// Reopens a closed ticket whose channel is still there (within the reopen window): the opener
/// may write again, the pending deletion is cancelled.
pub(super) async fn reopen(
    commands: &Commands,
    interaction: &Interaction,
    ticket_id: i64,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some((ticket, category)) = ticket_of(commands, interaction, ticket_id).await? else {
        return Ok(());
    };
    let who = invoker(interaction);
    if who != ticket.opener_id && !is_staff(interaction, &category) {
        responder
            .reply("Only the opener or staff can reopen it.", true)
            .await;
        return Ok(());
    }
    let Some(channel) = ticket.channel_id else {
        responder
            .reply("This ticket can no longer be reopened.", true)
            .await;
        return Ok(());
    };
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
    if !Tickets::reopen_in(&tx, ticket.id).await? {
        drop(tx);
        responder
            .reply("This ticket can no longer be reopened.", true)
            .await;
        return Ok(());
    }
    Timers::cancel_in(&tx, &format!("ticket_delete:{}", ticket.id)).await?;
    if let Some(secs) = category.auto_close_secs {
        schedule_inactivity(&tx, &ticket, Duration::from_secs(secs.unsigned_abs())).await?;
    }
    let cause = format!("interaction:{}", interaction.id);
    schedule_event(
        &tx,
        &ticket,
        TicketEventKind::Reopened,
        who,
        None,
        None,
        &cause,
    )
    .await?;
    // The opener may write again (the close took that away).
    let overwrite = PermissionOverwrite {
        allow: Some(MEMBER_ALLOW),
        deny: None,
        id: Id::new(ticket.opener_id),
        kind: PermissionOverwriteType::Member,
    };
    let reason = format!("Ticket #{} reopened by {who}", ticket.number);
    if let Err(err) = commands
        .http
        .update_channel_permission(Id::new(channel), &overwrite)
        .reason(&reason)
        .await
    {
        drop(tx);
        let text = format!(
            "I could not reopen it: {}",
            super::super::moderate::discord_message(&err)
        );
        responder.reply(&text, true).await;
        return Ok(());
    }
    tx.commit().await.map_err(transient)?;
    responder
        .reply(
            &format!("Ticket #{} reopened by <@{who}>.", ticket.number),
            false,
        )
        .await;
    Ok(())
}
