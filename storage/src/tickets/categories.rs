//! Ticket categories and the blacklist.

use serde::{Deserialize, Serialize};
use tokio_postgres::Row;

use super::{id, unsigned};
use crate::{Pool, StorageError};

/// A question of a category's opening form (one text input of the modal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    /// The label shown (Discord: at most 45 characters).
    pub label: String,
    /// Whether it must be answered.
    pub required: bool,
    /// The longest answer (Discord: at most 4,000 characters).
    pub max_length: u16,
}

/// A kind of ticket a guild offers.
#[derive(Clone, Debug, PartialEq)]
pub struct Category {
    /// Row id (in panel buttons).
    pub id: i64,
    /// Guild.
    pub guild_id: u64,
    /// Shown on the panel.
    pub name: String,
    /// Roles that see and handle these tickets.
    pub staff_roles: Vec<u64>,
    /// The Discord category channel tickets go in.
    pub parent_channel_id: Option<u64>,
    /// Channel name, `{number}` and `{user}` replaced.
    pub name_pattern: String,
    /// The opening form (none: no form).
    pub questions: Vec<Question>,
    /// Live tickets one user may have in this category.
    pub open_limit: i32,
    /// Where closes (with transcript links) are logged.
    pub log_channel_id: Option<u64>,
    /// Inactivity before an automatic close.
    pub auto_close_secs: Option<i64>,
    /// How long a closed ticket can be reopened before its channel is deleted (0: at once).
    pub reopen_secs: i64,
    /// Tickets are private threads in the panel's channel.
    pub private_threads: bool,
}

/// A category to create.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCategory {
    /// Guild.
    pub guild_id: u64,
    /// Name.
    pub name: String,
    /// Staff roles.
    pub staff_roles: Vec<u64>,
    /// Discord category channel.
    pub parent_channel_id: Option<u64>,
    /// Channel name pattern.
    pub name_pattern: String,
    /// Form questions (at most 5).
    pub questions: Vec<Question>,
    /// Open limit per user.
    pub open_limit: i32,
    /// Log channel.
    pub log_channel_id: Option<u64>,
    /// Inactivity auto-close.
    pub auto_close_secs: Option<i64>,
    /// Reopen window.
    pub reopen_secs: i64,
    /// Private threads instead of channels.
    pub private_threads: bool,
}

const COLUMNS: &str = "id, guild_id, name, staff_roles, parent_channel_id, name_pattern, questions, open_limit, log_channel_id, auto_close_secs, reopen_secs, private_threads";

fn category_from_row(row: &Row) -> Result<Category, StorageError> {
    let staff: Vec<i64> = row.try_get("staff_roles")?;
    let questions: serde_json::Value = row.try_get("questions")?;
    Ok(Category {
        id: row.try_get("id")?,
        guild_id: unsigned(row.try_get("guild_id")?),
        name: row.try_get("name")?,
        staff_roles: staff.into_iter().map(unsigned).collect(),
        parent_channel_id: row
            .try_get::<_, Option<i64>>("parent_channel_id")?
            .map(unsigned),
        name_pattern: row.try_get("name_pattern")?,
        questions: serde_json::from_value(questions)
            .map_err(|e| StorageError::Corrupt(format!("ticket category questions: {e}")))?,
        open_limit: row.try_get("open_limit")?,
        log_channel_id: row
            .try_get::<_, Option<i64>>("log_channel_id")?
            .map(unsigned),
        auto_close_secs: row.try_get("auto_close_secs")?,
        reopen_secs: row.try_get("reopen_secs")?,
        private_threads: row.try_get("private_threads")?,
    })
}

/// Categories and the blacklist.
#[derive(Clone, Debug)]
pub struct Categories {
    pool: Pool,
}

impl Categories {
    /// The store on `pool`.
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    /// Creates a category, or replaces the one of the same name in the guild; returns it.
    pub async fn upsert(&self, new: &NewCategory) -> Result<Category, StorageError> {
        let conn = self.pool.get().await?;
        let staff: Vec<i64> = new
            .staff_roles
            .iter()
            .map(|r| id(*r))
            .collect::<Result<_, _>>()?;
        let questions = serde_json::to_value(&new.questions)
            .map_err(|e| StorageError::Corrupt(format!("questions: {e}")))?;
        let row = conn
            .query_one(
                &format!(
                    "INSERT INTO ticket_categories (guild_id, name, staff_roles, parent_channel_id, name_pattern, questions, open_limit, log_channel_id, auto_close_secs, reopen_secs, private_threads)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (guild_id, name) DO UPDATE SET staff_roles = EXCLUDED.staff_roles,
                       parent_channel_id = EXCLUDED.parent_channel_id, name_pattern = EXCLUDED.name_pattern,
                       questions = EXCLUDED.questions, open_limit = EXCLUDED.open_limit,
                       log_channel_id = EXCLUDED.log_channel_id, auto_close_secs = EXCLUDED.auto_close_secs,
                       reopen_secs = EXCLUDED.reopen_secs, private_threads = EXCLUDED.private_threads
                     RETURNING {COLUMNS}"
                ),
                &[
                    &id(new.guild_id)?,
                    &new.name,
                    &staff,
                    &new.parent_channel_id.map(id).transpose()?,
                    &new.name_pattern,
                    &questions,
                    &new.open_limit,
                    &new.log_channel_id.map(id).transpose()?,
                    &new.auto_close_secs,
                    &new.reopen_secs,
                    &new.private_threads,
                ],
            )
            .await?;
        category_from_row(&row)
    }

    /// A guild's category by id.
    pub async fn get(
        &self,
        guild_id: u64,
        category: i64,
    ) -> Result<Option<Category>, StorageError> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt(
                &format!("SELECT {COLUMNS} FROM ticket_categories WHERE guild_id = $1 AND id = $2"),
                &[&id(guild_id)?, &category],
            )
            .await?;
        row.as_ref().map(category_from_row).transpose()
    }

    /// A guild's categories, oldest first.
    pub async fn list(&self, guild_id: u64) -> Result<Vec<Category>, StorageError> {
        let conn = self.pool.get().await?;
        let rows = conn
            .query(
                &format!("SELECT {COLUMNS} FROM ticket_categories WHERE guild_id = $1 ORDER BY id"),
                &[&id(guild_id)?],
            )
            .await?;
        rows.iter().map(category_from_row).collect()
    }

    /// Bars `user_id` from opening tickets in the guild, or lifts the bar.
    pub async fn set_blacklisted(
        &self,
        guild_id: u64,
        user_id: u64,
        by: u64,
        barred: bool,
    ) -> Result<(), StorageError> {
        let conn = self.pool.get().await?;
        if barred {
            conn.execute(
                "INSERT INTO ticket_blacklist (guild_id, user_id, added_by) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&id(guild_id)?, &id(user_id)?, &id(by)?],
            )
            .await?;
        } else {
            conn.execute(
                "DELETE FROM ticket_blacklist WHERE guild_id = $1 AND user_id = $2",
                &[&id(guild_id)?, &id(user_id)?],
            )
            .await?;
        }
        Ok(())
    }

    /// Whether `user_id` may not open tickets in the guild.
    pub async fn is_blacklisted(&self, guild_id: u64, user_id: u64) -> Result<bool, StorageError> {
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt(
                "SELECT 1 FROM ticket_blacklist WHERE guild_id = $1 AND user_id = $2",
                &[&id(guild_id)?, &id(user_id)?],
            )
            .await?;
        Ok(row.is_some())
    }
}
