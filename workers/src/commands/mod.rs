//! Slash commands. Each runs its checks, then its effect and the interaction's claim in one
//! transaction, then answers; a redelivered interaction finds its claim and does nothing.
//!
//! Before any command: the per-user rate limit (Redis) and a `command_usage` row (analytics).
//! Every answer goes through a [`Responder`], which defers when the answer would miss Discord's
//! 3 seconds.

mod cases;
mod channel;
mod checks;
mod config;
mod guilds;
mod limits;
pub(crate) mod moderate;
pub(crate) mod modlog;
mod purge;
mod registry;
mod respond;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_protocol::GatewayEvent;
use aegis_storage::{Pool, record_command_usage};
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};

pub(crate) use checks::{Actor, GuildFacts, Refusal, bot_may_act, may_act};
pub(crate) use guilds::Guilds;
pub(crate) use limits::Limiter;
pub use limits::UserLimit;
pub(crate) use registry::register;
use respond::Responder;

use crate::handlers::HandlerError;

/// What commands need: Discord through rest-proxy (no token here), and the database.
#[derive(Clone)]
pub(crate) struct Commands {
    pub(crate) http: Arc<twilight_http::Client>,
    pub(crate) pool: Pool,
    pub(crate) settings: aegis_storage::Settings,
    /// Guild names, owners and role positions, cached in Redis.
    pub(crate) guilds: Guilds,
    pub(crate) bot_user_id: u64,
    /// Per-user command limits; none when off.
    pub(crate) limiter: Option<Limiter>,
    /// How long after gateway-proxy read an interaction its answer is deferred if not sent.
    pub(crate) defer_after: Duration,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field("bot_user_id", &self.bot_user_id)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Commands {
    /// Handles one `INTERACTION_CREATE`.
    pub(crate) async fn interaction(&self, event: &GatewayEvent) -> Result<(), HandlerError> {
        let interaction: Interaction = serde_json::from_slice(&event.payload)
            .map_err(|e| HandlerError::Permanent(format!("INTERACTION_CREATE payload: {e}")))?;
        if let Some(InteractionData::MessageComponent(component)) = &interaction.data {
            if component.custom_id.starts_with("cases:") {
                return cases::turn_page(self, &interaction, &component.custom_id).await;
            }
            return Ok(());
        }
        let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
            // Modals and autocomplete arrive with the features that use them.
            return Ok(());
        };
        if interaction.kind != InteractionType::ApplicationCommand {
            return Ok(());
        }
        let now = now_ms();
        let age = now.saturating_sub(u64::try_from(event.received_at_ms).unwrap_or(0));
        let defer_in = self.defer_after.saturating_sub(Duration::from_millis(age));
        let responder = Responder::new(Arc::clone(&self.http), &interaction, Some(defer_in));
        let guild = interaction.guild_id.map(|g| g.get());
        let user = interaction.author_id().map_or(0, |u| u.get());
        let conn = self
            .pool
            .get()
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        let usage = record_command_usage(&*conn, guild, user, &data.name, interaction.id.get());
        if let Err(err) = usage.await {
            tracing::warn!(error = %err, "cannot record command usage");
        }
        drop(conn);
        let over = match &self.limiter {
            Some(limiter) => limiter.over(guild.unwrap_or(0), user, now).await,
            None => None,
        };
        if let Some(wait) = over {
            let text = format!(
                "You are using commands too quickly: try again in {} s.",
                wait.as_secs().max(1)
            );
            responder.reply(&text, true).await;
            return Ok(());
        }
        match data.name.as_str() {
            "case" => return cases::case(self, &interaction, data, &responder).await,
            "cases" => return cases::list(self, &interaction, data, &responder).await,
            "config" => return config::run(self, &interaction, data, &responder).await,
            "purge" => return purge::run(self, &interaction, data, &responder).await,
            _ => {}
        }
        if let Some(action) = channel::ChannelAction::from_name(&data.name) {
            return channel::run(self, &interaction, data, action, &responder).await;
        }
        match moderate::Action::from_name(&data.name) {
            Some(action) => moderate::run(self, &interaction, data, action, &responder).await,
            None => {
                let text = format!("`/{}` is not available yet.", data.name);
                responder.reply(&text, true).await;
                Ok(())
            }
        }
    }
}
