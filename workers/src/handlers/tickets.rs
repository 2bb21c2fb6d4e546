//! The tickets' background work: publishing ticket events, finishing a close (transcript, channel,
//! log, DM), the inactivity auto-close with its warning, and the activity and staff-response
//! times read from `MESSAGE_CREATE`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::{Envelope, Job, TicketEvent, headers};
use aegis_storage::{Ticket, TicketStatus, Tickets, Timers};
use serde::Deserialize;
use tokio_postgres::Transaction;
use twilight_http::request::AuditLogReason;
use twilight_model::id::Id;

use super::{HandlerError, Handlers};
use crate::commands::tickets::{TicketEventKind, close_ticket_in, schedule_event};

/// Channels this worker has seen are not tickets, so a busy server's messages cost no query. A
/// channel never becomes a ticket later (tickets get new channels and threads, with new ids), so
/// the answer never goes stale, except for a channel so new its ticket is still committing: only
/// channels older than a minute are remembered. The set is emptied when it grows past its bound.
#[derive(Clone, Debug, Default)]
pub(crate) struct NotTickets(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<u64>>>);

impl NotTickets {
    /// Most channels remembered.
    const BOUND: usize = 100_000;

    fn contains(&self, channel: u64) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&channel)
    }

    fn insert(&self, channel: u64) {
        const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
        let created_ms = (channel >> 22) + DISCORD_EPOCH_MS;
        let now_ms = u64::try_from(unix_ms(SystemTime::now())).unwrap_or(0);
        if now_ms.saturating_sub(created_ms) < 60_000 {
            return;
        }
        let mut set = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if set.len() >= Self::BOUND {
            set.clear();
        }
        set.insert(channel);
    }
}

/// `ticket_close` and `ticket_inactive` bodies.
#[derive(Deserialize)]
pub(super) struct TicketJob {
    ticket_id: i64,
    /// `ticket_inactive`: `warn` (check, then warn) or `close` (close unless someone wrote).
    #[serde(default)]
    stage: Option<String>,
    /// `close` stage: when the warning went out, Unix milliseconds.
    #[serde(default)]
    warned_at_ms: Option<i64>,
}

/// How long after the inactivity warning a silent ticket closes: a quarter of the inactivity
/// period, between a second and a day.
pub(crate) fn grace(after: Duration) -> Duration {
    (after / 4).clamp(Duration::from_secs(1), Duration::from_secs(86_400))
}

fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Discord's "Unknown Channel": already deleted.
fn unknown_channel(err: &twilight_http::Error) -> bool {
    matches!(
        err.kind(),
        twilight_http::error::ErrorType::Response { error: twilight_http::api_error::ApiError::General(e), .. } if e.code == 10003
    )
}

impl Handlers {
    /// Publishes a ticket event (an outbox row) on its subject, once.
    pub(super) async fn publish_ticket_event(
        &self,
        job: &Job,
        body: serde_json::Value,
    ) -> Result<(), HandlerError> {
        let event: TicketEvent = serde_json::from_value(body)
            .map_err(|e| HandlerError::Permanent(format!("ticket event: {e}")))?;
        let payload = event
            .encode()
            .map_err(|e| HandlerError::Permanent(e.to_string()))?;
        let mut hdrs = async_nats::HeaderMap::new();
        hdrs.insert(
            headers::MESSAGE_ID,
            format!("ticket-event:{}", job.id).as_str(),
        );
        let subject = self.commands.subjects.ticket_event(&event.kind);
        self.commands
            .js
            .publish_with_headers(subject, hdrs, payload)
            .await
            .map_err(|e| HandlerError::Transient(format!("publish ticket event: {e}")))?
            .await
            .map_err(|e| HandlerError::Transient(format!("ticket event not stored: {e}")))?;
        Ok(())
    }

    /// Finishes a close: the transcript (stored once; a retry after a crash finds its keys), the
    /// channel deleted, the log channel and the opener told, the ticket `closed`.
    pub(super) async fn finish_ticket_close(
        &self,
        tx: &Transaction<'_>,
        body: TicketJob,
    ) -> Result<(), HandlerError> {
        let tickets = &self.commands.tickets;
        let Some(ticket) = tickets.get(body.ticket_id).await? else {
            return Ok(());
        };
        if ticket.status != TicketStatus::Closing {
            return Ok(());
        }
        let category = self
            .commands
            .categories
            .get(ticket.guild_id, ticket.category_id)
            .await?;
        let keys = match (&ticket.transcript_json_key, &ticket.transcript_html_key) {
            (Some(json), Some(html)) => Some((json.clone(), html.clone())),
            _ => {
                let stored = self.write_transcript(&ticket).await?;
                if let Some((json, html)) = &stored {
                    tickets.set_transcript(ticket.id, json, html).await?;
                }
                stored
            }
        };
        // A thread is deleted at once: its read-only state would need locking, not overwrites.
        let window = category
            .as_ref()
            .filter(|c| !c.private_threads)
            .map_or(0, |c| c.reopen_secs);
        let mut channel_gone = false;
        if let Some(channel) = ticket.channel_id {
            if window > 0 {
                self.keep_for_reopening(tx, &ticket, channel, window)
                    .await?;
            } else {
                self.delete_ticket_channel(&ticket, channel).await?;
                channel_gone = true;
            }
        }
        let link = keys
            .as_ref()
            .map(|(_, html)| self.commands.transcripts.link(html));
        let summary = close_summary(&ticket, link.as_deref());
        if let Some(log) = category.as_ref().and_then(|c| c.log_channel_id) {
            let posted = self
                .commands
                .http
                .create_message(Id::new(log))
                .content(&summary)
                .await;
            if let Err(err) = posted {
                tracing::warn!(ticket = ticket.id, error = %err, "cannot log the ticket's close");
            }
        }
        self.tell_opener(&ticket, &summary).await;
        Tickets::finish_close_in(tx, ticket.id, channel_gone).await?;
        Ok(())
    }

    async fn delete_ticket_channel(
        &self,
        ticket: &Ticket,
        channel: u64,
    ) -> Result<(), HandlerError> {
        let reason = format!("Ticket #{} closed", ticket.number);
        let deleted = self
            .commands
            .http
            .delete_channel(Id::new(channel))
            .reason(&reason)
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err) if unknown_channel(&err) => Ok(()),
            Err(err) => Err(HandlerError::Transient(format!("delete channel: {err}"))),
        }
    }

    /// A closed ticket inside its reopen window: the opener may read but not write, a Reopen
    /// button, and the channel's deletion scheduled at the window's end.
    async fn keep_for_reopening(
        &self,
        tx: &Transaction<'_>,
        ticket: &Ticket,
        channel: u64,
        window_secs: i64,
    ) -> Result<(), HandlerError> {
        use crate::commands::tickets::{button, row};
        use twilight_model::channel::message::component::ButtonStyle;
        use twilight_model::guild::Permissions;
        use twilight_model::http::permission_overwrite::{
            PermissionOverwrite, PermissionOverwriteType,
        };
        let read_only = PermissionOverwrite {
            allow: Some(Permissions::VIEW_CHANNEL | Permissions::READ_MESSAGE_HISTORY),
            deny: Some(Permissions::SEND_MESSAGES),
            id: Id::new(ticket.opener_id),
            kind: PermissionOverwriteType::Member,
        };
        let reason = format!("Ticket #{} closed", ticket.number);
        self.commands
            .http
            .update_channel_permission(Id::new(channel), &read_only)
            .reason(&reason)
            .await
            .map_err(|e| HandlerError::Transient(format!("close overwrite: {e}")))?;
        let until = SystemTime::now() + Duration::from_secs(window_secs.unsigned_abs());
        let reopen = row(vec![button(
            format!("ticket:reopen:{}", ticket.id),
            "Reopen",
            ButtonStyle::Primary,
        )]);
        let text = format!(
            "This ticket is closed. It can be reopened until <t:{}:t>; then this channel is deleted.",
            unix_ms(until) / 1_000
        );
        let posted = self
            .commands
            .http
            .create_message(Id::new(channel))
            .content(&text)
            .components(&[reopen])
            .await;
        if let Err(err) = posted {
            tracing::warn!(ticket = ticket.id, error = %err, "cannot post the reopen button");
        }
        let deletion = aegis_storage::NewTimer {
            kind: "ticket_delete".to_owned(),
            guild_id: Some(ticket.guild_id),
            payload: serde_json::json!({ "ticket_id": ticket.id }),
            due_at: until,
            dedupe_key: format!("ticket_delete:{}", ticket.id),
        };
        Timers::schedule_in(tx, &deletion).await?;
        Ok(())
    }

    /// The end of a reopen window: the closed ticket's channel goes.
    pub(super) async fn delete_closed_ticket(&self, body: TicketJob) -> Result<(), HandlerError> {
        let Some(ticket) = self.commands.tickets.get(body.ticket_id).await? else {
            return Ok(());
        };
        if let (TicketStatus::Closed, Some(channel)) = (ticket.status, ticket.channel_id) {
            self.delete_ticket_channel(&ticket, channel).await?;
            self.commands.tickets.channel_deleted(ticket.id).await?;
        }
        Ok(())
    }

    /// Writes the ticket's transcript to the object store: its (JSON, HTML) keys, or none when no
    /// store is configured.
    async fn write_transcript(
        &self,
        ticket: &Ticket,
    ) -> Result<Option<(String, String)>, HandlerError> {
        let Some(channel) = ticket.channel_id else {
            return Ok(None); // never had a channel: nothing to keep
        };
        let transcripts = &self.commands.transcripts;
        let store = transcripts.store().await.map_err(|err| {
            tracing::error!(ticket = ticket.id, error = %err, "transcript store unavailable");
            HandlerError::Transient(format!("transcript store: {err}"))
        })?;
        let guild = self
            .commands
            .guilds
            .get(&self.commands.http, ticket.guild_id, self.bot_user_id)
            .await?;
        let meta = aegis_transcripts::TranscriptMeta {
            guild_id: ticket.guild_id,
            guild_name: guild.name,
            channel_id: channel,
            channel_name: format!("ticket-{:04}", ticket.number),
            ticket_number: ticket.number,
            opener_id: ticket.opener_id,
            closed_by: ticket.closed_by.unwrap_or(self.bot_user_id),
            close_reason: ticket.close_reason.clone(),
            opened_at_ms: unix_ms(ticket.opened_at),
            closed_at_ms: ticket
                .closed_at
                .map_or_else(|| unix_ms(SystemTime::now()), unix_ms),
        };
        let stored = aegis_transcripts::build_and_store(
            &self.commands.http,
            store,
            &meta,
            &transcripts.limits,
        )
        .await
        .map_err(|err| {
            tracing::error!(ticket = ticket.id, error = %err, "cannot write the transcript");
            HandlerError::Transient(format!("transcript: {err}"))
        })?;
        tracing::info!(
            ticket = ticket.id,
            messages = stored.messages,
            attachments = stored.attachments_copied,
            key = stored.html_key,
            "transcript stored"
        );
        Ok(Some((stored.json_key, stored.html_key)))
    }

    async fn tell_opener(&self, ticket: &Ticket, summary: &str) {
        let http = &self.commands.http;
        let sent = async {
            let channel = http
                .create_private_channel(Id::new(ticket.opener_id))
                .await
                .map_err(|e| e.to_string())?
                .model()
                .await
                .map_err(|e| e.to_string())?;
            http.create_message(channel.id)
                .content(summary)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        };
        if let Err(err) = sent.await {
            tracing::info!(ticket = ticket.id, error = %err, "cannot DM the ticket's opener");
        }
    }

    /// The inactivity check: warns a silent ticket, then closes it if still silent after the grace.
    pub(super) async fn check_inactivity(
        &self,
        tx: &Transaction<'_>,
        timer_id: i64,
        body: TicketJob,
    ) -> Result<(), HandlerError> {
        let Some(ticket) = self.commands.tickets.get(body.ticket_id).await? else {
            return Ok(());
        };
        if ticket.status != TicketStatus::Open {
            return Ok(());
        }
        let category = self
            .commands
            .categories
            .get(ticket.guild_id, ticket.category_id)
            .await?;
        let Some(after) = category
            .and_then(|c| c.auto_close_secs)
            .map(|s| Duration::from_secs(s.unsigned_abs()))
        else {
            return Ok(());
        };
        let now = SystemTime::now();
        let silent_for = now
            .duration_since(ticket.last_activity_at)
            .unwrap_or_default();
        let written_since_warning = body
            .warned_at_ms
            .is_some_and(|warned| unix_ms(ticket.last_activity_at) > warned);
        let reschedule = |due_at: SystemTime, stage: &str, warned_at_ms: Option<i64>| {
            aegis_storage::NewTimer {
                kind: "ticket_inactive".to_owned(),
                guild_id: Some(ticket.guild_id),
                payload: serde_json::json!({ "ticket_id": ticket.id, "stage": stage, "warned_at_ms": warned_at_ms }),
                due_at,
                dedupe_key: format!("ticket_inactive:{}", ticket.id),
            }
        };
        let cause = format!("timer:{timer_id}");
        match body.stage.as_deref() {
            Some("close") if !written_since_warning => {
                let reason = "No activity after the warning";
                close_ticket_in(tx, &ticket, self.bot_user_id, Some(reason), &cause).await?;
                if let Some(channel) = ticket.channel_id {
                    let text = "Closed for inactivity. Saving the transcript.";
                    let _ = self
                        .commands
                        .http
                        .create_message(Id::new(channel))
                        .content(text)
                        .await;
                }
            }
            _ if silent_for < after || written_since_warning => {
                let next = reschedule(ticket.last_activity_at + after, "warn", None);
                Timers::schedule_in(tx, &next).await?;
            }
            _ => {
                let grace = grace(after);
                if let Some(channel) = ticket.channel_id {
                    let text = format!(
                        "<@{}> this ticket has been quiet for a while and closes <t:{}:R> unless someone writes.",
                        ticket.opener_id,
                        unix_ms(now + grace) / 1_000
                    );
                    let posted = self
                        .commands
                        .http
                        .create_message(Id::new(channel))
                        .content(&text)
                        .await;
                    if let Err(err) = posted {
                        return Err(HandlerError::Transient(format!(
                            "inactivity warning: {err}"
                        )));
                    }
                }
                schedule_event(
                    tx,
                    &ticket,
                    TicketEventKind::CloseWarning,
                    self.bot_user_id,
                    None,
                    None,
                    &cause,
                )
                .await?;
                let next = reschedule(now + grace, "close", Some(unix_ms(now)));
                Timers::schedule_in(tx, &next).await?;
            }
        }
        Ok(())
    }

    /// A message in a ticket channel: its activity, and staff's first response.
    pub(super) async fn ticket_message(
        &self,
        event: &aegis_protocol::GatewayEvent,
    ) -> Result<(), HandlerError> {
        #[derive(Deserialize)]
        struct Message {
            channel_id: String,
            author: Author,
            #[serde(default)]
            member: Option<Member>,
        }
        #[derive(Deserialize)]
        struct Author {
            id: String,
            #[serde(default)]
            bot: bool,
        }
        #[derive(Deserialize)]
        struct Member {
            #[serde(default)]
            roles: Vec<String>,
        }
        let Ok(message) = serde_json::from_slice::<Message>(&event.payload) else {
            return Ok(()); // not a shape this feature reads
        };
        let (Ok(channel), Ok(author)) = (
            message.channel_id.parse::<u64>(),
            message.author.id.parse::<u64>(),
        ) else {
            return Ok(());
        };
        if message.author.bot || self.not_tickets.contains(channel) {
            return Ok(());
        }
        let tickets = &self.commands.tickets;
        let Some(ticket) = tickets.by_channel(channel).await? else {
            self.not_tickets.insert(channel);
            return Ok(());
        };
        let category = self
            .commands
            .categories
            .get(ticket.guild_id, ticket.category_id)
            .await?;
        let staff = category.is_some_and(|c| {
            message
                .member
                .iter()
                .flat_map(|m| &m.roles)
                .filter_map(|r| r.parse::<u64>().ok())
                .any(|r| c.staff_roles.contains(&r))
        });
        tickets.record_message(channel, author, staff).await?;
        Ok(())
    }
}

/// The close's line for the log channel and the opener.
fn close_summary(ticket: &Ticket, transcript_link: Option<&str>) -> String {
    let by = ticket
        .closed_by
        .map(|u| format!(" by <@{u}>"))
        .unwrap_or_default();
    let why = ticket
        .close_reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    let transcript = transcript_link
        .map(|link| format!("\nTranscript: {link}"))
        .unwrap_or_default();
    format!(
        "Ticket #{} (opened by <@{}>) was closed{by}{why}.{transcript}",
        ticket.number, ticket.opener_id
    )
}

#[cfg(test)]
mod tests {
    use super::NotTickets;

    fn channel_created_ms_ago(ago_ms: u64) -> u64 {
        let now = u64::try_from(super::unix_ms(std::time::SystemTime::now())).unwrap_or(0);
        (now - ago_ms - 1_420_070_400_000) << 22
    }

    #[test]
    fn only_channels_older_than_a_minute_are_remembered_as_not_tickets() {
        let seen = NotTickets::default();
        let (old, new) = (
            channel_created_ms_ago(3_600_000),
            channel_created_ms_ago(1_000),
        );
        seen.insert(old);
        seen.insert(new);
        assert!(seen.contains(old));
        assert!(!seen.contains(new), "its ticket may still be committing");
    }
}
