//! Moderation cases: per-guild numbers, notes, history and search.

use std::time::SystemTime;

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::{Pool, StorageError};

/// What a case records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaseKind {
    /// A warning.
    Warn,
    /// A kick.
    Kick,
    /// A permanent ban.
    Ban,
    /// A ban lifted at once to delete messages.
    Softban,
    /// A ban with an expiry.
    Tempban,
    /// A ban lifted.
    Unban,
    /// A Discord timeout.
    Timeout,
    /// A timeout lifted.
    Untimeout,
    /// A role mute.
    Mute,
    /// A role mute lifted.
    Unmute,
    /// A moderator's note about a user.
    Note,
    /// Messages purged.
    Purge,
    /// Slowmode changed.
    Slowmode,
    /// A channel locked.
    Lock,
    /// A channel unlocked.
    Unlock,
}

impl CaseKind {
    const ALL: [(Self, &'static str); 15] = [
        (Self::Warn, "warn"),
        (Self::Kick, "kick"),
        (Self::Ban, "ban"),
        (Self::Softban, "softban"),
        (Self::Tempban, "tempban"),
        (Self::Unban, "unban"),
        (Self::Timeout, "timeout"),
        (Self::Untimeout, "untimeout"),
        (Self::Mute, "mute"),
        (Self::Unmute, "unmute"),
        (Self::Note, "note"),
        (Self::Purge, "purge"),
        (Self::Slowmode, "slowmode"),
        (Self::Lock, "lock"),
        (Self::Unlock, "unlock"),
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("note", |(_, n)| n)
    }

    /// The kind of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }
}

/// Where a case came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CaseSource {
    /// An Aegis command.
    Command,
    /// Done in Discord's own UI, seen through gateway events.
    Native,
    /// Automod.
    Automod,
    /// A scheduled action (e.g. a temp-ban's unban).
    Scheduled,
}

impl CaseSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::Native => "native",
            Self::Automod => "automod",
            Self::Scheduled => "scheduled",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "command" => Some(Self::Command),
            "native" => Some(Self::Native),
            "automod" => Some(Self::Automod),
            "scheduled" => Some(Self::Scheduled),
            _ => None,
        }
    }
}

/// A case to record.
#[derive(Clone, Debug)]
pub struct NewCase {
    /// Guild.
    pub guild_id: u64,
    /// What happened.
    pub kind: CaseKind,
    /// To whom (a user, or a channel for slowmode and locks).
    pub target_id: u64,
    /// Who did it (the bot for automod and scheduled cases).
    pub moderator_id: u64,
    /// Why, at most 1024 characters.
    pub reason: Option<String>,
    /// Where it came from.
    pub source: CaseSource,
    /// When a temporary action ends.
    pub expires_at: Option<SystemTime>,
    /// What makes a repeat of the same action the same case (interaction id, audit-log entry id).
    pub dedupe_key: String,
}

/// A recorded case.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// Row id.
    pub id: i64,
    /// Guild.
    pub guild_id: u64,
    /// The guild's case number, from 1, without gaps.
    pub number: i32,
    /// What happened.
    pub kind: CaseKind,
    /// To whom.
    pub target_id: u64,
    /// By whom.
    pub moderator_id: u64,
    /// Why.
    pub reason: Option<String>,
    /// Where it came from.
    pub source: CaseSource,
    /// When.
    pub created_at: SystemTime,
    /// When a temporary action ends.
    pub expires_at: Option<SystemTime>,
    /// Whether the case is in force: a warning that still counts, a ban not lifted, a temporary
    /// action not ended. New cases are active.
    pub active: bool,
    /// Hidden from `/cases` listings.
    pub hidden: bool,
}

/// A note on a case.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseNote {
    /// Author.
    pub author_id: u64,
    /// Text.
    pub body: String,
    /// When.
    pub created_at: SystemTime,
}

/// The case store.
#[derive(Clone, Debug)]
pub struct Cases {
    pool: Pool,
}

const COLUMNS: &str = "id, guild_id, case_number, kind, target_id, moderator_id, reason, source, created_at, expires_at, active, hidden";

fn id(value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Corrupt(format!("id {value} out of range")))
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn case_from_row(row: &Row) -> Result<Case, StorageError> {
    let kind: String = row.try_get("kind")?;
    let source: String = row.try_get("source")?;
    Ok(Case {
        id: row.try_get("id")?,
        guild_id: unsigned(row.try_get("guild_id")?),
        number: row.try_get("case_number")?,
        kind: CaseKind::parse(&kind)
            .ok_or_else(|| StorageError::Corrupt(format!("case kind {kind:?}")))?,
        target_id: unsigned(row.try_get("target_id")?),
        moderator_id: unsigned(row.try_get("moderator_id")?),
        reason: row.try_get("reason")?,
        source: CaseSource::parse(&source)
            .ok_or_else(|| StorageError::Corrupt(format!("case source {source:?}")))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        active: row.try_get("active")?,
        hidden: row.try_get("hidden")?,
    })
}

impl Cases {
    /// Cases in `pool`'s database.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Records a case, or returns the case already recorded with the same dedupe key.
    ///
    /// The guild's counter row is incremented in the same transaction as the insert: concurrent
    /// writers of one guild queue on that row, so numbers are unique and gap-free; a duplicate
    /// rolls the whole transaction back, counter included. The `bool` is `true` when the case is
    /// new.
    pub async fn create(&self, case: &NewCase) -> Result<(Case, bool), StorageError> {
        let mut conn = self.pool.get().await?;
        let tx = conn.transaction().await?;
        let guild = id(case.guild_id)?;
        let existing = tx
            .query_opt(
                &format!("SELECT {COLUMNS} FROM cases WHERE guild_id = $1 AND dedupe_key = $2"),
                &[&guild, &case.dedupe_key],
            )
            .await?;
        if let Some(row) = existing {
            return Ok((case_from_row(&row)?, false));
        }
        match Self::insert(&tx, case).await? {
            Some(created) => {
                tx.commit().await?;
                Ok((created, true))
            }
            None => {
                // Another transaction recorded the same action between our check and insert:
                // give the number back by rolling back, and return theirs.
                tx.rollback().await?;
                let conn = self.pool.get().await?;
                let row = conn
                    .query_one(
                        &format!(
                            "SELECT {COLUMNS} FROM cases WHERE guild_id = $1 AND dedupe_key = $2"
                        ),
                        &[&guild, &case.dedupe_key],
                    )
                    .await?;
                Ok((case_from_row(&row)?, false))
            }
        }
    }

    /// Records a case inside the caller's transaction (with the effect it records, such as
    /// claiming the interaction). `None` if the dedupe key exists: the caller must roll back,
    /// which also gives the number back.
    pub async fn insert(
        client: &impl tokio_postgres::GenericClient,
        case: &NewCase,
    ) -> Result<Option<Case>, StorageError> {
        let (guild, target, moderator) = (
            id(case.guild_id)?,
            id(case.target_id)?,
            id(case.moderator_id)?,
        );
        let number: i32 = client
            .query_one(
                "INSERT INTO case_counters (guild_id, last_number) VALUES ($1, 1)
                 ON CONFLICT (guild_id) DO UPDATE SET last_number = case_counters.last_number + 1
                 RETURNING last_number",
                &[&guild],
            )
            .await?
            .try_get(0)?;
        let inserted = client
            .query_opt(
                &format!(
                    "INSERT INTO cases (guild_id, case_number, kind, target_id, moderator_id, reason, source, expires_at, dedupe_key)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (guild_id, dedupe_key) DO NOTHING
                     RETURNING {COLUMNS}"
                ),
                &[
                    &guild,
                    &number,
                    &case.kind.as_str(),
                    &target,
                    &moderator,
                    &case.reason,
                    &case.source.as_str(),
                    &case.expires_at,
                    &case.dedupe_key,
                ],
            )
            .await?;
        inserted.as_ref().map(case_from_row).transpose()
    }

    async fn select(
        &self,
        filter: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Case>, StorageError> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                &format!("SELECT {COLUMNS} FROM cases WHERE {filter}"),
                params,
            )
            .await?;
        rows.iter().map(case_from_row).collect()
    }

    /// `UPDATE cases SET {set}` on one live case (`$1` guild, `$2` number, `$3` the value if
    /// any); `false` if there is no such case.
    async fn update(
        &self,
        guild_id: u64,
        number: i32,
        set: &str,
        value: Option<&(dyn ToSql + Sync)>,
    ) -> Result<bool, StorageError> {
        let conn = self.pool.get().await?;
        let guild = id(guild_id)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&guild, &number];
        params.extend(value);
        let sql = format!(
            "UPDATE cases SET {set} WHERE guild_id = $1 AND case_number = $2 AND deleted_at IS NULL"
        );
        Ok(conn.execute(&sql, &params).await? == 1)
    }

    /// Case `number` of `guild_id`, unless deleted.
    pub async fn get(&self, guild_id: u64, number: i32) -> Result<Option<Case>, StorageError> {
        let filter = "guild_id = $1 AND case_number = $2 AND deleted_at IS NULL";
        let mut found = self.select(filter, &[&id(guild_id)?, &number]).await?;
        Ok(found.pop())
    }

    /// A user's visible cases, newest first, `limit` from `offset` (for `/cases` pages).
    pub async fn for_target(
        &self,
        guild_id: u64,
        target_id: u64,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Case>, StorageError> {
        let filter = "guild_id = $1 AND target_id = $2 AND NOT hidden AND deleted_at IS NULL
                      ORDER BY case_number DESC LIMIT $3 OFFSET $4";
        self.select(filter, &[&id(guild_id)?, &id(target_id)?, &limit, &offset])
            .await
    }

    /// The newest cases whose number starts with `digits` (all when empty), for autocomplete.
    pub async fn numbered_like(
        &self,
        guild_id: u64,
        digits: &str,
        limit: i64,
    ) -> Result<Vec<Case>, StorageError> {
        let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
        let filter = "guild_id = $1 AND deleted_at IS NULL AND case_number::text LIKE $2 || '%'
                      ORDER BY case_number DESC LIMIT $3";
        self.select(filter, &[&id(guild_id)?, &digits, &limit])
            .await
    }

    /// Full-text search over reasons (every word must match), newest first.
    pub async fn search(
        &self,
        guild_id: u64,
        words: &str,
        limit: i64,
    ) -> Result<Vec<Case>, StorageError> {
        let filter = "guild_id = $1 AND deleted_at IS NULL
                      AND reason_tsv @@ plainto_tsquery('simple', $2)
                      ORDER BY case_number DESC LIMIT $3";
        self.select(filter, &[&id(guild_id)?, &words, &limit]).await
    }

    /// Changes a case's reason; `false` if there is no such case.
    pub async fn set_reason(
        &self,
        guild_id: u64,
        number: i32,
        reason: &str,
    ) -> Result<bool, StorageError> {
        self.update(guild_id, number, "reason = $3", Some(&reason))
            .await
    }

    /// Hides or shows a case in listings; `false` if there is no such case.
    pub async fn set_hidden(
        &self,
        guild_id: u64,
        number: i32,
        hidden: bool,
    ) -> Result<bool, StorageError> {
        self.update(guild_id, number, "hidden = $3", Some(&hidden))
            .await
    }

    /// Deletes a case. Its number is not reused (numbers stay gap-free as issued; a deleted case
    /// reads as deleted, not as missing history). `false` if there is no such case.
    pub async fn delete(&self, guild_id: u64, number: i32) -> Result<bool, StorageError> {
        self.update(guild_id, number, "deleted_at = now(), active = false", None)
            .await
    }

    /// Ends a warning's effect (it stops counting) when the guild's expiry passes; `false` if
    /// the case is gone or not a warning. Runs in the caller's transaction.
    pub async fn expire_warning(
        client: &impl tokio_postgres::GenericClient,
        case_id: i64,
    ) -> Result<bool, StorageError> {
        let updated = client
            .execute(
                "UPDATE cases SET active = false WHERE id = $1 AND kind = 'warn' AND active",
                &[&case_id],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Adds a note to a case; `false` if there is no such case.
    pub async fn add_note(
        &self,
        guild_id: u64,
        number: i32,
        author_id: u64,
        body: &str,
    ) -> Result<bool, StorageError> {
        let conn = self.pool.get().await?;
        let inserted = conn
            .execute(
                "INSERT INTO case_notes (case_id, author_id, body)
                 SELECT id, $3, $4 FROM cases WHERE guild_id = $1 AND case_number = $2 AND deleted_at IS NULL",
                &[&id(guild_id)?, &number, &id(author_id)?, &body],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// The notes of a case, oldest first.
    pub async fn notes(&self, guild_id: u64, number: i32) -> Result<Vec<CaseNote>, StorageError> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                "SELECT n.author_id, n.body, n.created_at FROM case_notes n JOIN cases c ON c.id = n.case_id
                 WHERE c.guild_id = $1 AND c.case_number = $2 ORDER BY n.created_at, n.id",
                &[&id(guild_id)?, &number],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(CaseNote {
                    author_id: unsigned(row.try_get("author_id")?),
                    body: row.try_get("body")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}
