//! The mod-log: an embed per case in the guild's mod-log channel.
//!
//! The post is a job (`mod_log`), scheduled in the transaction that records the case: a worker
//! dying right after the commit, or Discord refusing for a while, still posts it once, through
//! the scheduler's retries. Its timer is due at once, so the post follows the case within the
//! scheduler's poll interval.

use std::time::{SystemTime, UNIX_EPOCH};

use aegis_storage::{Case, CaseKind, Cases, GuildSettings, NewTimer, StorageError, Timers};
use twilight_model::channel::message::Embed;
use twilight_model::channel::message::embed::{EmbedField, EmbedFooter};
use twilight_model::id::Id;
use twilight_model::util::Timestamp;

use super::Commands;
use crate::handlers::HandlerError;

/// Schedules the mod-log post of case `number` when the guild has a mod-log channel.
pub(crate) async fn schedule_in(
    client: &impl tokio_postgres::GenericClient,
    settings: &GuildSettings,
    guild_id: u64,
    number: i32,
) -> Result<(), StorageError> {
    if settings.mod_log_channel.is_none() {
        return Ok(());
    }
    let timer = NewTimer {
        kind: "mod_log".to_owned(),
        guild_id: Some(guild_id),
        payload: serde_json::json!({ "case": number }),
        due_at: SystemTime::now(),
        dedupe_key: format!("mod_log:{guild_id}:{number}"),
    };
    Timers::schedule_in(client, &timer).await.map(drop)
}

fn color(kind: CaseKind) -> u32 {
    match kind {
        CaseKind::Ban | CaseKind::Tempban | CaseKind::Softban => 0xE7_4C_3C,
        CaseKind::Kick => 0xE6_7E_22,
        CaseKind::Warn => 0xF1_C4_0F,
        CaseKind::Timeout | CaseKind::Mute => 0x9B_59_B6,
        CaseKind::Unban | CaseKind::Untimeout | CaseKind::Unmute | CaseKind::Unlock => 0x2E_CC_71,
        _ => 0x95_A5_A6,
    }
}

fn field(name: &str, value: String) -> EmbedField {
    EmbedField {
        inline: true,
        name: name.to_owned(),
        value,
    }
}

fn unix(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The embed of a case: what, to whom, by whom, why, until when.
pub(crate) fn embed(case: &Case) -> Embed {
    let channel_case = matches!(
        case.kind,
        CaseKind::Purge | CaseKind::Slowmode | CaseKind::Lock | CaseKind::Unlock
    );
    let target = if channel_case {
        format!("<#{}>", case.target_id)
    } else {
        format!("<@{}> ({})", case.target_id, case.target_id)
    };
    let mut fields = vec![
        field(if channel_case { "Channel" } else { "User" }, target),
        field("Moderator", format!("<@{}>", case.moderator_id)),
    ];
    if let Some(until) = case.expires_at {
        fields.push(field("Until", format!("<t:{}:f>", unix(until))));
    }
    fields.push(EmbedField {
        inline: false,
        name: "Reason".to_owned(),
        value: case
            .reason
            .clone()
            .unwrap_or_else(|| "no reason given".into()),
    });
    Embed {
        author: None,
        color: Some(color(case.kind)),
        description: None,
        fields,
        flags: None,
        footer: Some(EmbedFooter {
            icon_url: None,
            proxy_icon_url: None,
            text: format!("source: {}", case.source.as_str()),
        }),
        image: None,
        kind: "rich".to_owned(),
        provider: None,
        thumbnail: None,
        timestamp: i64::try_from(unix(case.created_at))
            .ok()
            .and_then(|s| Timestamp::from_secs(s).ok()),
        title: Some(format!("Case #{} · {}", case.number, case.kind.as_str())),
        url: None,
        video: None,
    }
}

/// Posts case `number`'s embed to the guild's mod-log channel. A channel that is gone or that
/// the bot may not post in is a setting to fix, not worth retrying: it is logged and dropped.
pub(crate) async fn post(
    commands: &Commands,
    guild_id: u64,
    number: i32,
) -> Result<(), HandlerError> {
    let settings = commands.settings.get(guild_id).await?;
    let Some(channel) = settings.mod_log_channel else {
        return Ok(());
    };
    let Some(case) = Cases::new(commands.pool.clone())
        .get(guild_id, number)
        .await?
    else {
        return Ok(()); // deleted meanwhile
    };
    let sent = commands
        .http
        .create_message(Id::new(channel))
        .embeds(&[embed(&case)])
        .await;
    match sent {
        Ok(_) => Ok(()),
        Err(err) => match err.kind() {
            twilight_http::error::ErrorType::Response { status, .. }
                if matches!(status.get(), 403 | 404) =>
            {
                tracing::warn!(guild_id, channel, error = %err, "cannot post to the mod-log channel; check /config");
                Ok(())
            }
            _ => Err(HandlerError::Transient(format!("mod-log post: {err}"))),
        },
    }
}
