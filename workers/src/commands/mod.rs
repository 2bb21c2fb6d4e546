//! Slash commands. Each runs its checks, then its effect and the interaction's claim in one
//! transaction, then answers; a redelivered interaction finds its claim and does nothing.

mod cases;
mod checks;
mod config;
mod moderate;
mod registry;
mod respond;

use std::sync::Arc;

use aegis_protocol::GatewayEvent;
use aegis_storage::Pool;
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};

pub(crate) use checks::{Actor, GuildFacts, Refusal, bot_may_act, may_act};
pub(crate) use registry::register;

use crate::handlers::HandlerError;

/// What commands need: Discord through rest-proxy (no token here), and the database.
#[derive(Clone)]
pub(crate) struct Commands {
    pub(crate) http: Arc<twilight_http::Client>,
    pub(crate) pool: Pool,
    pub(crate) settings: aegis_storage::Settings,
    pub(crate) bot_user_id: u64,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field("bot_user_id", &self.bot_user_id)
            .finish_non_exhaustive()
    }
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
        match data.name.as_str() {
            "case" => return cases::case(self, &interaction, data).await,
            "cases" => return cases::list(self, &interaction, data).await,
            "config" => return config::run(self, &interaction, data).await,
            _ => {}
        }
        match moderate::Action::from_name(&data.name) {
            Some(action) => moderate::run(self, &interaction, data, action).await,
            None => {
                let text = format!("`/{}` is not available yet.", data.name);
                respond::reply(self, &interaction, &text, true).await;
                Ok(())
            }
        }
    }
}
