//! The moderation commands that act on one member: `/warn`, `/note`, `/kick`, `/ban` (with an
//! optional duration: a temp-ban whose unban the scheduler fires), `/softban`, `/unban`,
//! `/timeout`, `/untimeout`, `/mute` and `/unmute`.
//!
//! Order, as the design asks: every check first (refusals are ephemeral and say why), then in one
//! transaction the interaction's claim, the DM to the target (before a kick or ban), the Discord
//! action (through rest-proxy, with the audit-log reason), the case, its timers and its mod-log
//! post; then the answer. A redelivered interaction finds its claim and does nothing; a crash
//! before commit rolls everything back and the action is retried (Discord's moderation calls are
//! idempotent).

mod action;
mod check;
mod discord;
mod timers;

use std::time::SystemTime;

use aegis_storage::{CaseSource, Cases, NewCase, Timers, claim_interaction};
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::CommandData;

pub(crate) use action::{Action, MuteBy};
pub(crate) use discord::{discord_message, timeout_end};
pub(crate) use timers::{RENEW_AFTER, renew_key};

use super::respond::Responder;
use super::{Commands, modlog};
use crate::handlers::HandlerError;
use timers::TimerChange;

/// Discord's limit on an audit-log reason; Aegis applies it to every reason.
pub(crate) const MAX_REASON: usize = 512;

pub(super) async fn run(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
    action: Action,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let checked = match check::check(commands, interaction, data, action).await? {
        Ok(checked) => checked,
        Err(refusal) => {
            responder.reply(&refusal.to_string(), true).await;
            return Ok(());
        }
    };
    let transient = |e: aegis_storage::PgError| HandlerError::Transient(e.to_string());
    let mut conn = commands
        .pool
        .get()
        .await
        .map_err(|e| HandlerError::Transient(e.to_string()))?;
    let tx = conn.transaction().await.map_err(transient)?;
    if !claim_interaction(&tx, interaction.id.get()).await? {
        tracing::info!(interaction = %interaction.id, "interaction delivered again; already handled");
        return Ok(());
    }
    let now = SystemTime::now();
    let expires_at = checked.duration.map(|d| now + d);
    let told = discord::tell_target(commands, &checked, action, expires_at).await;
    if let Err(refusal) = discord::act(commands, &checked, action).await {
        drop(tx); // rolls the claim back: nothing happened
        responder.reply(&refusal.to_string(), true).await;
        return Ok(());
    }
    let case = NewCase {
        guild_id: checked.guild_id,
        kind: action.case_kind(checked.duration.is_some()),
        target_id: checked.target,
        moderator_id: checked.moderator,
        reason: checked.reason.clone(),
        source: CaseSource::Command,
        expires_at,
        dedupe_key: format!("interaction:{}", interaction.id),
    };
    let Some(case) = Cases::insert(&tx, &case).await? else {
        return Err(HandlerError::Transient(
            "case dedupe key taken; retrying".into(),
        ));
    };
    for change in timers::changes(action, &checked, (case.id, case.number), now) {
        match change {
            TimerChange::Schedule(timer) => Timers::schedule_in(&tx, &timer).await.map(drop)?,
            TimerChange::Cancel(key) => Timers::cancel_in(&tx, &key).await.map(drop)?,
        }
    }
    modlog::schedule_in(&tx, &checked.settings, checked.guild_id, case.number).await?;
    tx.commit().await.map_err(transient)?;
    let why = checked.reason.map(|r| format!(": {r}")).unwrap_or_default();
    let until = expires_at
        .and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| format!(" until <t:{}:f>", d.as_secs()))
        .unwrap_or_default();
    let dm = match told {
        Some(false) => " (I could not DM them.)",
        _ => "",
    };
    let text = format!(
        "**Case #{}**: <@{}> {}{until}{why}{dm}",
        case.number,
        checked.target,
        action.past()
    );
    responder.reply(&text, false).await;
    Ok(())
}
