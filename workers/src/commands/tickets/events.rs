//! Ticket events for extensions. Each is written in the transaction of the change it reports, as a
//! `ticket_event` timer due at once (an outbox): the job publishes it on
//! `{namespace}.tickets.{kind}` with the message id `ticket:{id}:{kind}:{cause}`, so a change is
//! published once even when the worker dies after committing it.

use std::time::{SystemTime, UNIX_EPOCH};

use aegis_protocol::{PROTOCOL_VERSION, TicketEvent};
use aegis_storage::{NewTimer, StorageError, Ticket, Timers};

/// What happened to a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TicketEventKind {
    Opened,
    Claimed,
    MemberAdded,
    MemberRemoved,
    CloseWarning,
    CloseRequested,
    Closed,
    Reopened,
}

impl TicketEventKind {
    fn name(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Claimed => "claimed",
            Self::MemberAdded => "member_added",
            Self::MemberRemoved => "member_removed",
            Self::CloseWarning => "close_warning",
            Self::CloseRequested => "close_requested",
            Self::Closed => "closed",
            Self::Reopened => "reopened",
        }
    }
}

/// Schedules the publication of `kind` for `ticket`, caused by `cause` (an interaction or timer
/// id: what makes two events of one kind different).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn schedule_event(
    client: &impl tokio_postgres::GenericClient,
    ticket: &Ticket,
    kind: TicketEventKind,
    actor_id: u64,
    member_id: Option<u64>,
    reason: Option<&str>,
    cause: &str,
) -> Result<(), StorageError> {
    let at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let event = TicketEvent {
        v: PROTOCOL_VERSION,
        kind: kind.name().to_owned(),
        guild_id: ticket.guild_id,
        ticket_id: ticket.id,
        number: ticket.number,
        channel_id: ticket.channel_id,
        opener_id: ticket.opener_id,
        actor_id,
        member_id,
        reason: reason.map(str::to_owned),
        at_ms,
    };
    let payload = serde_json::to_value(&event)
        .map_err(|e| StorageError::Corrupt(format!("ticket event: {e}")))?;
    let timer = NewTimer {
        kind: "ticket_event".to_owned(),
        guild_id: Some(ticket.guild_id),
        payload,
        due_at: SystemTime::now(),
        dedupe_key: format!("ticket:{}:{}:{cause}", ticket.id, kind.name()),
    };
    Timers::schedule_in(client, &timer).await.map(drop)
}
