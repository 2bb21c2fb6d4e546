//! Answering an interaction through rest-proxy, within Discord's 3 seconds.
//!
//! Discord drops an interaction that gets no response within 3 s of being sent. Most commands
//! answer in milliseconds, but a slow Discord call (a purge, a rate-limited route) or a slow
//! database must not cost the answer: a [`Responder`] defers on its own ("Aegis is thinking...")
//! once the deadline nears, and the real answer then edits that message instead.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use twilight_model::application::interaction::Interaction;
use twilight_model::channel::message::{AllowedMentions, MessageFlags};
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, InteractionMarker};

/// Where the answer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    /// Nothing sent yet.
    Pending,
    /// A deferral was sent; the answer edits it.
    Deferred,
    /// Answered.
    Answered,
}

/// The one answer to one interaction: sent at once, or after a deferral when it comes late.
pub(crate) struct Responder {
    target: Arc<Target>,
    state: Arc<Mutex<Answer>>,
    deferral: JoinHandle<()>,
}

/// What the answer is sent to.
struct Target {
    http: Arc<twilight_http::Client>,
    application_id: Id<ApplicationMarker>,
    interaction_id: Id<InteractionMarker>,
    token: String,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("interaction", &self.target.interaction_id)
            .finish_non_exhaustive()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.deferral.abort();
    }
}

impl Responder {
    /// Prepares the answer to `interaction` and defers it if nothing is sent within `defer_in`
    /// (never when `None`).
    pub(crate) fn new(
        http: Arc<twilight_http::Client>,
        interaction: &Interaction,
        defer_in: Option<Duration>,
    ) -> Self {
        let target = Arc::new(Target {
            http,
            application_id: interaction.application_id,
            interaction_id: interaction.id,
            token: interaction.token.clone(),
        });
        let state = Arc::new(Mutex::new(Answer::Pending));
        let deferral = tokio::spawn({
            let (target, state) = (Arc::clone(&target), Arc::clone(&state));
            async move {
                let Some(defer_in) = defer_in else { return };
                tokio::time::sleep(defer_in).await;
                let mut state = state.lock().await;
                if *state != Answer::Pending {
                    return;
                }
                let response = InteractionResponse {
                    kind: InteractionResponseType::DeferredChannelMessageWithSource,
                    data: None,
                };
                match target.send(&response).await {
                    Ok(()) => {
                        tracing::info!(interaction = %target.interaction_id, "answer deferred");
                        *state = Answer::Deferred;
                    }
                    Err(err) => {
                        tracing::warn!(interaction = %target.interaction_id, error = %err, "cannot defer");
                    }
                }
            }
        });
        Self {
            target,
            state,
            deferral,
        }
    }

    /// Answers with text (ephemeral for refusals), mentioning nobody.
    pub(crate) async fn reply(&self, text: &str, ephemeral: bool) {
        self.answer(InteractionResponseData {
            content: Some(text.to_owned()),
            flags: ephemeral.then_some(MessageFlags::EPHEMERAL),
            allowed_mentions: Some(AllowedMentions::default()),
            ..Default::default()
        })
        .await;
    }

    /// Answers with a whole message (content, embeds, components; ephemeral by its flags). A
    /// failure (too late, already answered) is logged: the effect, if any, is already committed.
    pub(crate) async fn answer(&self, data: InteractionResponseData) {
        let mut state = self.state.lock().await;
        let client = self.target.http.interaction(self.target.application_id);
        let token = self.target.token.as_str();
        let ephemeral = data
            .flags
            .is_some_and(|f| f.contains(MessageFlags::EPHEMERAL));
        let mentions = AllowedMentions::default();
        let content = data.content.as_deref().unwrap_or_default();
        let embeds = data.embeds.as_deref().unwrap_or_default();
        let components = data.components.as_deref().unwrap_or_default();
        let sent = match *state {
            Answer::Pending => {
                let response = InteractionResponse {
                    kind: InteractionResponseType::ChannelMessageWithSource,
                    data: Some(data.clone()),
                };
                self.target.send(&response).await
            }
            // The deferral is public: a public answer replaces it; an ephemeral one replaces it
            // with a follow-up only the invoker sees.
            Answer::Deferred if !ephemeral => client
                .update_response(token)
                .content(Some(content))
                .embeds(Some(embeds))
                .components(Some(components))
                .allowed_mentions(Some(&mentions))
                .await
                .map(drop),
            Answer::Deferred => {
                let deleted = client.delete_response(token).await.map(drop);
                let followup = client
                    .create_followup(token)
                    .content(content)
                    .embeds(embeds)
                    .components(components)
                    .flags(MessageFlags::EPHEMERAL)
                    .allowed_mentions(Some(&mentions))
                    .await
                    .map(drop);
                deleted.and(followup)
            }
            Answer::Answered => {
                tracing::warn!(interaction = %self.target.interaction_id, "answered twice; the second answer is dropped");
                return;
            }
        };
        *state = Answer::Answered;
        if let Err(err) = sent {
            tracing::warn!(interaction = %self.target.interaction_id, error = %err, "cannot answer the interaction");
        }
    }
}

impl Responder {
    /// Sends a response of another type (a modal, an autocomplete result) as the one answer; it
    /// cannot follow a deferral (Discord allows neither after one), so it is dropped after one.
    pub(crate) async fn respond(&self, response: &InteractionResponse) {
        let mut state = self.state.lock().await;
        if *state != Answer::Pending {
            tracing::warn!(interaction = %self.target.interaction_id, "too late for a {:?} response", response.kind);
            return;
        }
        if let Err(err) = self.target.send(response).await {
            tracing::warn!(interaction = %self.target.interaction_id, error = %err, "cannot answer the interaction");
        }
        *state = Answer::Answered;
    }
}

impl Target {
    async fn send(&self, response: &InteractionResponse) -> Result<(), twilight_http::Error> {
        self.http
            .interaction(self.application_id)
            .create_response(self.interaction_id, &self.token, response)
            .await
            .map(drop)
    }
}
