//! What workers do with each message.

mod expiry;
mod jobs;
mod native;
mod tickets;

pub(crate) use tickets::NotTickets;

use aegis_protocol::GatewayEvent;
use aegis_storage::{Cases, Pool, StorageError, Timers};

/// Why handling a message failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandlerError {
    /// Worth retrying: the database, Redis or rest-proxy is down or slow.
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying cannot help: the message itself is wrong.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl From<StorageError> for HandlerError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Corrupt(why) => Self::Permanent(why),
            other => Self::Transient(other.to_string()),
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone, Debug)]
pub(crate) struct Handlers {
    pub(crate) pool: Pool,
    pub(crate) cases: Cases,
    pub(crate) timers: Timers,
    pub(crate) bot_user_id: u64,
    pub(crate) commands: crate::commands::Commands,
    /// Channels known not to be tickets (see `tickets::NotTickets`).
    pub(crate) not_tickets: tickets::NotTickets,
}

impl Handlers {
    /// Handles one guild event, in its guild's order. Events no feature uses yet are done at once.
    pub(crate) async fn guild_event(&self, event: &GatewayEvent) -> Result<(), HandlerError> {
        match event.event.as_str() {
            "GUILD_AUDIT_LOG_ENTRY_CREATE" => native::audit_log_entry(self, event).await,
            "MESSAGE_CREATE" => self.ticket_message(event).await,
            // The permission checks' cached view of the guild changed.
            "GUILD_UPDATE" | "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE" | "GUILD_ROLE_DELETE" => {
                if let Some(guild) = event.guild_id {
                    self.commands.guilds.invalidate(guild).await;
                }
                Ok(())
            }
            "GUILD_MEMBER_UPDATE" if self.is_bot_member(event) => {
                if let Some(guild) = event.guild_id {
                    self.commands.guilds.invalidate(guild).await;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether a member event is about the bot itself (its roles are in the cached guild facts).
    fn is_bot_member(&self, event: &GatewayEvent) -> bool {
        #[derive(serde::Deserialize)]
        struct Member {
            user: User,
        }
        #[derive(serde::Deserialize)]
        struct User {
            id: String,
        }
        serde_json::from_slice::<Member>(&event.payload)
            .is_ok_and(|m| m.user.id == self.bot_user_id.to_string())
    }
}
