//! Support tickets: `/ticket` (category, blacklist, panel, close, add, remove) and the panel's
//! buttons, the opening form (a modal) and the buttons in a ticket (Close, Claim).
//!
//! Custom ids: `ticket:open:{category}` (panel button), `ticket:choose` (panel select, values are
//! category ids), `ticket:form:{category}` (the form), `ticket:close:{ticket}` (asks to confirm),
//! `ticket:confirm:{ticket}` (closes), `ticket:claim:{ticket}`, `ticket:accept:{ticket}` and
//! `ticket:keep:{ticket}` (the opener's answer to a close request), `ticket:reopen:{ticket}`.

mod events;
mod lifecycle;
mod manage;
mod open;
mod setup;

use aegis_storage::{Category, Ticket};
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::application::interaction::modal::{
    ModalInteractionComponent, ModalInteractionData,
};
use twilight_model::application::interaction::{Interaction, InteractionData};
use twilight_model::guild::Permissions;

pub(crate) use events::{TicketEventKind, schedule_event};
pub(crate) use manage::close_ticket_in;

use super::Commands;
use super::respond::Responder;
use crate::handlers::HandlerError;

/// A button with a custom id.
pub(crate) fn button(
    custom_id: String,
    label: &str,
    style: twilight_model::channel::message::component::ButtonStyle,
) -> twilight_model::channel::message::component::Component {
    use twilight_model::channel::message::component::{Button, Component};
    Component::Button(Button {
        custom_id: Some(custom_id),
        disabled: false,
        emoji: None,
        id: None,
        label: Some(label.to_owned()),
        sku_id: None,
        style,
        url: None,
    })
}

/// A row of components.
pub(crate) fn row(
    components: Vec<twilight_model::channel::message::component::Component>,
) -> twilight_model::channel::message::component::Component {
    use twilight_model::channel::message::component::{ActionRow, Component};
    Component::ActionRow(ActionRow {
        components,
        id: None,
    })
}

/// Whether the invoker may manage this category's tickets: a staff role, Manage Server or
/// Administrator.
pub(crate) fn is_staff(interaction: &Interaction, category: &Category) -> bool {
    let Some(member) = interaction.member.as_ref() else {
        return false;
    };
    let permissions = member.permissions.unwrap_or(Permissions::empty());
    permissions.intersects(Permissions::ADMINISTRATOR | Permissions::MANAGE_GUILD)
        || member
            .roles
            .iter()
            .any(|r| category.staff_roles.contains(&r.get()))
}

/// The invoker's user id.
fn invoker(interaction: &Interaction) -> u64 {
    interaction.author_id().map_or(0, |u| u.get())
}

/// The ticket and its category for a ticket id from a button, in the interaction's guild.
async fn ticket_of(
    commands: &Commands,
    interaction: &Interaction,
    ticket_id: i64,
) -> Result<Option<(Ticket, Category)>, HandlerError> {
    let Some(guild) = interaction.guild_id.map(|g| g.get()) else {
        return Ok(None);
    };
    let Some(ticket) = commands.tickets.get(ticket_id).await? else {
        return Ok(None);
    };
    if ticket.guild_id != guild {
        return Ok(None);
    }
    let category = commands.categories.get(guild, ticket.category_id).await?;
    Ok(category.map(|c| (ticket, c)))
}

/// The ticket of the channel the interaction came from.
async fn ticket_here(
    commands: &Commands,
    interaction: &Interaction,
) -> Result<Option<(Ticket, Category)>, HandlerError> {
    let Some(channel) = interaction.channel.as_ref().map(|c| c.id.get()) else {
        return Ok(None);
    };
    match commands.tickets.by_channel(channel).await? {
        Some(ticket) => ticket_of(commands, interaction, ticket.id).await,
        None => Ok(None),
    }
}

/// `/ticket …`.
pub(super) async fn command(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some(sub) = data.options.first() else {
        return Ok(());
    };
    let options = match &sub.value {
        CommandOptionValue::SubCommand(options) | CommandOptionValue::SubCommandGroup(options) => {
            options
        }
        _ => return Ok(()),
    };
    match sub.name.as_str() {
        "category" => setup::category(commands, interaction, options, responder).await,
        "blacklist" => setup::blacklist(commands, interaction, options, responder).await,
        "panel" => setup::panel(commands, interaction, options, responder).await,
        "close" => manage::close_command(commands, interaction, options, responder).await,
        "add" | "remove" => {
            manage::membership(commands, interaction, options, sub.name == "add", responder).await
        }
        "claim" => manage::claim_here(commands, interaction, responder).await,
        "closerequest" => lifecycle::request_close(commands, interaction, options, responder).await,
        _ => Ok(()),
    }
}

/// A `ticket:` button or select.
pub(super) async fn component(
    commands: &Commands,
    interaction: &Interaction,
    custom_id: &str,
    values: &[String],
    responder: &Responder,
) -> Result<(), HandlerError> {
    let mut parts = custom_id.split(':').skip(1);
    let (action, id) = (parts.next().unwrap_or_default(), parts.next());
    let id = id.and_then(|i| i.parse::<i64>().ok());
    match (action, id) {
        ("open", Some(category)) => open::start(commands, interaction, category, responder).await,
        ("choose", None) => match values.first().and_then(|v| v.parse().ok()) {
            Some(category) => open::start(commands, interaction, category, responder).await,
            None => Ok(()),
        },
        ("close", Some(ticket)) => {
            manage::ask_close(commands, interaction, ticket, responder).await
        }
        ("confirm", Some(ticket)) => {
            manage::close_button(commands, interaction, ticket, responder).await
        }
        ("claim", Some(ticket)) => manage::claim(commands, interaction, ticket, responder).await,
        ("accept", Some(ticket)) => {
            lifecycle::accept_close(commands, interaction, ticket, responder).await
        }
        ("keep", Some(ticket)) => {
            lifecycle::keep_open(commands, interaction, ticket, responder).await
        }
        ("reopen", Some(ticket)) => {
            lifecycle::reopen(commands, interaction, ticket, responder).await
        }
        _ => Err(HandlerError::Permanent(format!(
            "unknown ticket component {custom_id:?}"
        ))),
    }
}

/// The text inputs of a submitted modal, in order: (custom id, value).
fn inputs(data: &ModalInteractionData) -> Vec<(String, String)> {
    fn walk(component: &ModalInteractionComponent, found: &mut Vec<(String, String)>) {
        match component {
            ModalInteractionComponent::ActionRow(row) => {
                row.components.iter().for_each(|c| walk(c, found));
            }
            ModalInteractionComponent::Label(label) => walk(&label.component, found),
            ModalInteractionComponent::TextInput(input) => {
                found.push((input.custom_id.clone(), input.value.clone()));
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    data.components.iter().for_each(|c| walk(c, &mut found));
    found
}

/// A submitted `ticket:form:{category}` modal.
pub(super) async fn form(
    commands: &Commands,
    interaction: &Interaction,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let Some(InteractionData::ModalSubmit(data)) = &interaction.data else {
        return Ok(());
    };
    let Some(category) = data
        .custom_id
        .strip_prefix("ticket:form:")
        .and_then(|c| c.parse().ok())
    else {
        return Err(HandlerError::Permanent(format!(
            "unknown modal {:?}",
            data.custom_id
        )));
    };
    open::submit(commands, interaction, category, inputs(data), responder).await
}
