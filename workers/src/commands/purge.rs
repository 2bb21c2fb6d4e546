//! `/purge count [user]`: deletes the channel's last `count` messages (of `user` only, when
//! named) sent before the command.
//!
//! Discord's bulk delete takes 2 to 100 messages younger than 14 days; older messages can only be
//! deleted one at a time, so they are. Deleting is not idempotent the way a ban is (a second run
//! deletes the next messages), so the interaction's claim commits *before* the deletion: a crash
//! midway leaves a partial purge the moderator can repeat, never a purge done twice. The answer
//! may come after Discord's 3 seconds; the responder defers in time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aegis_storage::{CaseKind, CaseSource, Cases, NewCase, claim_interaction};
use twilight_http::request::AuditLogReason;
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::guild::Permissions;
use twilight_model::id::Id;
use twilight_model::id::marker::MessageMarker;

use super::channel::check_call;
use super::moderate::discord_message;
use super::respond::Responder;
use super::{Commands, modlog};
use crate::handlers::HandlerError;

/// Most messages one purge deletes.
pub(crate) const MAX_PURGE: i64 = 500;
/// Most messages one purge reads looking for a user's.
const MAX_SCAN: usize = 2_000;
/// Bulk delete refuses messages older than this; a minute's margin for clocks.
const BULK_MAX_AGE: Duration = Duration::from_secs(14 * 86_400 - 60);
/// Discord's epoch, for the time in a snowflake.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

fn created(id: Id<MessageMarker>) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis((id.get() >> 22) + DISCORD_EPOCH_MS)
}

/// Splits messages into those bulk delete takes and those it refuses, by age at `now`.
fn by_age(
    ids: Vec<Id<MessageMarker>>,
    now: SystemTime,
) -> (Vec<Id<MessageMarker>>, Vec<Id<MessageMarker>>) {
    ids.into_iter().partition(|id| {
        now.duration_since(created(*id))
            .is_ok_and(|age| age < BULK_MAX_AGE)
            || created(*id) > now
    })
}

pub(super) async fn run(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
    responder: &Responder,
) -> Result<(), HandlerError> {
    let manage = (Permissions::MANAGE_MESSAGES, "Manage Messages");
    let call = match check_call(interaction, data, manage, manage) {
        Ok(call) => call,
        Err(refusal) => {
            responder.reply(&refusal.to_string(), true).await;
            return Ok(());
        }
    };
    let (mut count, mut user) = (0_i64, None);
    for option in &data.options {
        match (option.name.as_str(), &option.value) {
            ("count", CommandOptionValue::Integer(n)) => count = *n,
            ("user", CommandOptionValue::User(id)) => user = Some(*id),
            _ => {}
        }
    }
    if !(1..=MAX_PURGE).contains(&count) {
        let text = format!("Purge 1 to {MAX_PURGE} messages.");
        responder.reply(&text, true).await;
        return Ok(());
    }
    let count = usize::try_from(count).unwrap_or(0);
    {
        let conn = commands
            .pool
            .get()
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        if !claim_interaction(&*conn, interaction.id.get()).await? {
            return Ok(());
        }
    }
    let channel = Id::new(call.channel_id);
    // Only messages sent before the command.
    let mut before: Id<MessageMarker> = interaction.id.cast();
    let (mut chosen, mut scanned) = (Vec::new(), 0);
    while chosen.len() < count && scanned < MAX_SCAN {
        let page = match commands
            .http
            .channel_messages(channel)
            .before(before)
            .limit(100)
            .await
        {
            Ok(page) => page
                .models()
                .await
                .map_err(|e| HandlerError::Transient(format!("messages body: {e}")))?,
            Err(err) => {
                let text = format!("Discord refused: {}", discord_message(&err));
                responder.reply(&text, true).await;
                return Ok(());
            }
        };
        let Some(last) = page.last() else { break };
        before = last.id;
        scanned += page.len();
        chosen.extend(
            page.iter()
                .filter(|m| user.is_none_or(|u| m.author.id == u))
                .map(|m| m.id)
                .take(count - chosen.len()),
        );
    }
    let reason = format!(
        "By {}: {}",
        call.moderator,
        call.reason.as_deref().unwrap_or("purge")
    );
    let (fresh, old) = by_age(chosen, SystemTime::now());
    let mut deleted = 0_usize;
    let mut failure = None;
    for chunk in fresh.chunks(100) {
        let sent = if let [single] = chunk {
            commands
                .http
                .delete_message(channel, *single)
                .reason(&reason)
                .await
                .map(drop)
        } else {
            commands
                .http
                .delete_messages(channel, chunk)
                .reason(&reason)
                .await
                .map(drop)
        };
        match sent {
            Ok(()) => deleted += chunk.len(),
            Err(err) => {
                failure = Some(discord_message(&err));
                break;
            }
        }
    }
    for id in old
        .iter()
        .take(if failure.is_some() { 0 } else { old.len() })
    {
        match commands
            .http
            .delete_message(channel, *id)
            .reason(&reason)
            .await
        {
            Ok(_) => deleted += 1,
            Err(err) => {
                failure = Some(discord_message(&err));
                break;
            }
        }
    }
    let whose = user.map(|u| format!(" by <@{u}>")).unwrap_or_default();
    let what = format!("{deleted} messages{whose} purged in <#{}>", call.channel_id);
    if deleted > 0 {
        let case = NewCase {
            guild_id: call.guild_id,
            kind: CaseKind::Purge,
            target_id: user.map_or(call.channel_id, |u| u.get()),
            moderator_id: call.moderator,
            reason: Some(match &call.reason {
                Some(reason) => format!("{what}: {reason}"),
                None => what.clone(),
            }),
            source: CaseSource::Command,
            expires_at: None,
            dedupe_key: format!("interaction:{}", interaction.id),
        };
        let settings = commands.settings.get(call.guild_id).await?;
        let mut conn = commands
            .pool
            .get()
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        let tx = conn
            .transaction()
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
        if let Some(case) = Cases::insert(&tx, &case).await? {
            modlog::schedule_in(&tx, &settings, call.guild_id, case.number).await?;
        }
        tx.commit()
            .await
            .map_err(|e| HandlerError::Transient(e.to_string()))?;
    }
    let text = match failure {
        None if deleted == 0 => "No messages to purge.".to_owned(),
        None => format!("{what}."),
        Some(why) => format!("{what}, then Discord refused: {why}"),
    };
    responder.reply(&text, true).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use twilight_model::id::Id;

    use super::{DISCORD_EPOCH_MS, by_age};

    fn id_at(unix_ms: u64) -> Id<twilight_model::id::marker::MessageMarker> {
        Id::new((unix_ms - DISCORD_EPOCH_MS) << 22 | 1)
    }

    #[test]
    fn messages_older_than_fourteen_days_are_kept_out_of_bulk_delete() {
        let now_ms = 1_800_000_000_000;
        let now = UNIX_EPOCH + Duration::from_millis(now_ms);
        let day = 86_400_000;
        let (fresh, old) = by_age(
            vec![id_at(now_ms - day), id_at(now_ms - 15 * day), id_at(now_ms)],
            now,
        );
        assert_eq!(fresh, vec![id_at(now_ms - day), id_at(now_ms)]);
        assert_eq!(old, vec![id_at(now_ms - 15 * day)]);
    }
}
