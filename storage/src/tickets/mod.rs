//! Support tickets: per-guild numbers, the open limit, claim, close, activity and staff metrics.

mod categories;

use std::time::SystemTime;

use tokio_postgres::{GenericClient, Row};

pub use categories::{Categories, Category, NewCategory, Question};

use crate::{Pool, StorageError};

fn id(value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Corrupt(format!("id {value} out of range")))
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

/// Where a ticket is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    /// Open: the channel exists and people talk.
    Open,
    /// Closed by someone; the transcript is being written.
    Closing,
    /// Closed, its transcript stored, its channel gone.
    Closed,
}

impl TicketStatus {
    fn parse(text: &str) -> Result<Self, StorageError> {
        match text {
            "open" => Ok(Self::Open),
            "closing" => Ok(Self::Closing),
            "closed" => Ok(Self::Closed),
            other => Err(StorageError::Corrupt(format!("ticket status {other:?}"))),
        }
    }
}

/// A ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticket {
    /// Row id.
    pub id: i64,
    /// Guild.
    pub guild_id: u64,
    /// The guild's ticket number, from 1.
    pub number: i32,
    /// Its category.
    pub category_id: i64,
    /// Its channel (none until created).
    pub channel_id: Option<u64>,
    /// Who opened it.
    pub opener_id: u64,
    /// Where it is.
    pub status: TicketStatus,
    /// The staff member who owns it.
    pub claimed_by: Option<u64>,
    /// The form's answers: `[{"question", "answer"}]`.
    pub answers: serde_json::Value,
    /// When it was opened.
    pub opened_at: SystemTime,
    /// The last message in it.
    pub last_activity_at: SystemTime,
    /// The first message by staff (time to first response).
    pub first_staff_response_at: Option<SystemTime>,
    /// When it was closed.
    pub closed_at: Option<SystemTime>,
    /// Who closed it.
    pub closed_by: Option<u64>,
    /// Why.
    pub close_reason: Option<String>,
    /// Staff asked the opener to confirm a close.
    pub close_requested_by: Option<u64>,
    /// With this reason.
    pub close_request_reason: Option<String>,
    /// The stored JSON transcript.
    pub transcript_json_key: Option<String>,
    /// The stored HTML transcript.
    pub transcript_html_key: Option<String>,
}

const COLUMNS: &str = "id, guild_id, number, category_id, channel_id, opener_id, status, claimed_by, answers, opened_at, last_activity_at, first_staff_response_at, closed_at, closed_by, close_reason, close_requested_by, close_request_reason, transcript_json_key, transcript_html_key";

fn ticket_from_row(row: &Row) -> Result<Ticket, StorageError> {
    let optional = |name: &str| -> Result<Option<u64>, StorageError> {
        Ok(row.try_get::<_, Option<i64>>(name)?.map(unsigned))
    };
    Ok(Ticket {
        id: row.try_get("id")?,
        guild_id: unsigned(row.try_get("guild_id")?),
        number: row.try_get("number")?,
        category_id: row.try_get("category_id")?,
        channel_id: optional("channel_id")?,
        opener_id: unsigned(row.try_get("opener_id")?),
        status: TicketStatus::parse(row.try_get("status")?)?,
        claimed_by: optional("claimed_by")?,
        answers: row.try_get("answers")?,
        opened_at: row.try_get("opened_at")?,
        last_activity_at: row.try_get("last_activity_at")?,
        first_staff_response_at: row.try_get("first_staff_response_at")?,
        closed_at: row.try_get("closed_at")?,
        closed_by: optional("closed_by")?,
        close_reason: row.try_get("close_reason")?,
        close_requested_by: optional("close_requested_by")?,
        close_request_reason: row.try_get("close_request_reason")?,
        transcript_json_key: row.try_get("transcript_json_key")?,
        transcript_html_key: row.try_get("transcript_html_key")?,
    })
}

/// A ticket to open.
#[derive(Clone, Debug)]
pub struct NewTicket {
    /// Guild.
    pub guild_id: u64,
    /// Category.
    pub category_id: i64,
    /// Opener.
    pub opener_id: u64,
    /// Form answers.
    pub answers: serde_json::Value,
    /// The opening interaction (`interaction:{id}`).
    pub dedupe_key: String,
}

/// What an attempt to open gave.
#[derive(Clone, Debug, PartialEq)]
pub enum Opened {
    /// A new ticket, numbered, without its channel yet.
    New(Box<Ticket>),
    /// The opener already has this many live tickets in the category (the limit).
    AtLimit(i64),
}

/// What a claim gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claimed {
    /// Claimed now by the claimer.
    Now,
    /// Someone already owns it.
    Already(u64),
    /// The ticket is not open.
    NotOpen,
}

/// The ticket store.
#[derive(Clone, Debug)]
pub struct Tickets {
    pool: Pool,
}

impl Tickets {
    /// The store on `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Opens a ticket in `client`'s transaction unless the opener is at `limit` live tickets in
    /// the category. Concurrent opens by one user are serialised by a transaction-scoped advisory
    /// lock on (guild, user), so the limit holds under any number of clicks.
    pub async fn open_in(
        client: &impl GenericClient,
        new: &NewTicket,
        limit: i32,
    ) -> Result<Opened, StorageError> {
        let (guild, opener) = (id(new.guild_id)?, id(new.opener_id)?);
        client
            .execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('ticket:' || $1::bigint || ':' || $2::bigint, 0))",
                &[&guild, &opener],
            )
            .await?;
        let live: i64 = client
            .query_one(
                "SELECT count(*) FROM tickets WHERE guild_id = $1 AND opener_id = $2 AND category_id = $3 AND status <> 'closed'",
                &[&guild, &opener, &new.category_id],
            )
            .await?
            .try_get(0)?;
        if live >= i64::from(limit) {
            return Ok(Opened::AtLimit(live));
        }
        let number: i32 = client
            .query_one(
                "INSERT INTO ticket_counters (guild_id, last_number) VALUES ($1, 1)
                 ON CONFLICT (guild_id) DO UPDATE SET last_number = ticket_counters.last_number + 1
                 RETURNING last_number",
                &[&guild],
            )
            .await?
            .try_get(0)?;
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO tickets (guild_id, number, category_id, opener_id, answers, dedupe_key)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
                ),
                &[&guild, &number, &new.category_id, &opener, &new.answers, &new.dedupe_key],
            )
            .await?;
        Ok(Opened::New(Box::new(ticket_from_row(&row)?)))
    }

    /// Records the channel of a ticket just opened.
    pub async fn set_channel_in(
        client: &impl GenericClient,
        ticket_id: i64,
        channel_id: u64,
    ) -> Result<(), StorageError> {
        client
            .execute(
                "UPDATE tickets SET channel_id = $2 WHERE id = $1",
                &[&ticket_id, &id(channel_id)?],
            )
            .await?;
        Ok(())
    }

    async fn one(&self, filter: &str, value: i64) -> Result<Option<Ticket>, StorageError> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt(
                &format!("SELECT {COLUMNS} FROM tickets WHERE {filter}"),
                &[&value],
            )
            .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    /// A ticket by id.
    pub async fn get(&self, ticket_id: i64) -> Result<Option<Ticket>, StorageError> {
        self.one("id = $1", ticket_id).await
    }

    /// The ticket whose channel this is.
    pub async fn by_channel(&self, channel_id: u64) -> Result<Option<Ticket>, StorageError> {
        self.one("channel_id = $1", id(channel_id)?).await
    }

    /// Gives an open ticket its staff owner, unless it has one.
    pub async fn claim(&self, ticket_id: i64, staff_id: u64) -> Result<Claimed, StorageError> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt(
                "UPDATE tickets t SET claimed_by = coalesce(t.claimed_by, $2)
                 FROM tickets old WHERE t.id = $1 AND old.id = t.id AND t.status = 'open'
                 RETURNING old.claimed_by",
                &[&ticket_id, &id(staff_id)?],
            )
            .await?;
        Ok(match row {
            None => Claimed::NotOpen,
            Some(row) => match row.try_get::<_, Option<i64>>(0)? {
                None => Claimed::Now,
                Some(owner) => Claimed::Already(unsigned(owner)),
            },
        })
    }

    /// Starts closing an open ticket (`false` if it is not open: someone closed it first).
    pub async fn begin_close_in(
        client: &impl GenericClient,
        ticket_id: i64,
        by: u64,
        reason: Option<&str>,
    ) -> Result<bool, StorageError> {
        let updated = client
            .execute(
                "UPDATE tickets SET status = 'closing', closed_by = $2, close_reason = $3, closed_at = now()
                 WHERE id = $1 AND status = 'open'",
                &[&ticket_id, &id(by)?, &reason],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Records where a closing ticket's transcript is stored (before its channel goes, so a retry
    /// of the close finds it and does not need the channel).
    pub async fn set_transcript(
        &self,
        ticket_id: i64,
        json_key: &str,
        html_key: &str,
    ) -> Result<(), StorageError> {
        let conn = self.pool.get().await?;
        conn.execute(
            "UPDATE tickets SET transcript_json_key = $2, transcript_html_key = $3 WHERE id = $1",
            &[&ticket_id, &json_key, &html_key],
        )
        .await?;
        Ok(())
    }

    /// Finishes a close (`false` if it was not closing); `channel_gone` when its channel was
    /// deleted (no reopening then).
    pub async fn finish_close_in(
        client: &impl GenericClient,
        ticket_id: i64,
        channel_gone: bool,
    ) -> Result<bool, StorageError> {
        let updated = client
            .execute(
                "UPDATE tickets SET status = 'closed',
                   channel_id = CASE WHEN $2 THEN NULL ELSE channel_id END
                 WHERE id = $1 AND status = 'closing'",
                &[&ticket_id, &channel_gone],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Records staff's request that the opener confirm a close (`false` if not open).
    pub async fn request_close(
        &self,
        ticket_id: i64,
        by: u64,
        reason: Option<&str>,
    ) -> Result<bool, StorageError> {
        let conn = self.pool.get().await?;
        let updated = conn
            .execute(
                "UPDATE tickets SET close_requested_by = $2, close_request_reason = $3
                 WHERE id = $1 AND status = 'open'",
                &[&ticket_id, &id(by)?, &reason],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Reopens a closed ticket whose channel still exists (`false` otherwise).
    pub async fn reopen_in(
        client: &impl GenericClient,
        ticket_id: i64,
    ) -> Result<bool, StorageError> {
        let updated = client
            .execute(
                "UPDATE tickets SET status = 'open', closed_at = NULL, closed_by = NULL,
                   close_reason = NULL, close_requested_by = NULL, close_request_reason = NULL,
                   transcript_json_key = NULL, transcript_html_key = NULL, last_activity_at = now()
                 WHERE id = $1 AND status = 'closed' AND channel_id IS NOT NULL",
                &[&ticket_id],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Records that a closed ticket's channel is gone (it cannot be reopened any more).
    pub async fn channel_deleted(&self, ticket_id: i64) -> Result<(), StorageError> {
        let conn = self.pool.get().await?;
        conn.execute(
            "UPDATE tickets SET channel_id = NULL WHERE id = $1 AND status = 'closed'",
            &[&ticket_id],
        )
        .await?;
        Ok(())
    }

    /// Records a message in a ticket channel: its last activity and, for a staff member's first
    /// message, the time to first response. `None` if the channel is no open ticket's.
    pub async fn record_message(
        &self,
        channel_id: u64,
        author_id: u64,
        by_staff: bool,
    ) -> Result<Option<Ticket>, StorageError> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt(
                &format!(
                    "UPDATE tickets SET last_activity_at = now(),
                       first_staff_response_at = CASE
                         WHEN $3 AND opener_id <> $2 AND first_staff_response_at IS NULL THEN now()
                         ELSE first_staff_response_at END
                     WHERE channel_id = $1 AND status = 'open' RETURNING {COLUMNS}"
                ),
                &[&id(channel_id)?, &id(author_id)?, &by_staff],
            )
            .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }
}
