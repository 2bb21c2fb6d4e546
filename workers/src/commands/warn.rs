//! `/warn user [reason]`: a case, and nothing done on Discord.

use std::collections::HashMap;

use aegis_storage::{CaseKind, CaseSource, Cases, NewCase, claim_interaction};
use twilight_model::application::interaction::Interaction;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandOptionValue,
};
use twilight_model::guild::Permissions;

use super::respond::reply;
use super::{Actor, Commands, GuildFacts, Refusal, may_act};
use crate::handlers::HandlerError;

/// Discord's limit on an audit-log reason; Aegis applies it to every reason.
pub(crate) const MAX_REASON: usize = 512;

pub(super) async fn run(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
) -> Result<(), HandlerError> {
    match check(commands, interaction, data).await? {
        Err(refusal) => {
            reply(commands, interaction, &refusal.to_string(), true).await;
            Ok(())
        }
        Ok((guild_id, moderator, target, reason)) => {
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
            let case = NewCase {
                guild_id,
                kind: CaseKind::Warn,
                target_id: target,
                moderator_id: moderator,
                reason: reason.clone(),
                source: CaseSource::Command,
                expires_at: None,
                dedupe_key: format!("interaction:{}", interaction.id),
            };
            let Some(case) = Cases::insert(&tx, &case).await? else {
                return Err(HandlerError::Transient(
                    "case dedupe key taken; retrying".into(),
                ));
            };
            tx.commit().await.map_err(transient)?;
            let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
            let text = format!("**Case #{}**: <@{target}> warned{why}", case.number);
            reply(commands, interaction, &text, false).await;
            Ok(())
        }
    }
}

type Checked = (u64, u64, u64, Option<String>);

/// Everything that can refuse the command, before any effect.
async fn check(
    commands: &Commands,
    interaction: &Interaction,
    data: &CommandData,
) -> Result<Result<Checked, Refusal>, HandlerError> {
    let (Some(guild_id), Some(member)) = (interaction.guild_id, interaction.member.as_ref()) else {
        return Ok(Err(Refusal::BadOption(
            "This command works in servers only.".into(),
        )));
    };
    let Some(invoker_id) = member.user.as_ref().map(|u| u.id.get()) else {
        return Err(HandlerError::Permanent(
            "interaction member without a user".into(),
        ));
    };
    let mut target = None;
    let mut reason = None;
    for option in &data.options {
        match (option.name.as_str(), &option.value) {
            ("user", CommandOptionValue::User(id)) => target = Some(*id),
            ("reason", CommandOptionValue::String(text)) => reason = Some(text.trim().to_owned()),
            _ => {}
        }
    }
    let Some(target) = target else {
        return Ok(Err(Refusal::BadOption("Choose the member to warn.".into())));
    };
    if let Some(text) = &reason {
        let length = text.chars().count();
        if length > MAX_REASON {
            return Ok(Err(Refusal::BadOption(format!(
                "The reason is {length} characters; the limit is {MAX_REASON}."
            ))));
        }
    }
    let target_roles = match data.resolved.as_ref().and_then(|r| r.members.get(&target)) {
        Some(resolved) => resolved.roles.iter().map(|r| r.get()).collect(),
        None => return Ok(Err(Refusal::NotAMember)),
    };
    let guild = commands
        .http
        .guild(guild_id)
        .await
        .map_err(|e| HandlerError::Transient(format!("GET guild: {e}")))?
        .model()
        .await
        .map_err(|e| HandlerError::Transient(format!("guild body: {e}")))?;
    let facts = GuildFacts {
        owner_id: guild.owner_id.get(),
        positions: guild
            .roles
            .iter()
            .map(|r| (r.id.get(), r.position))
            .collect::<HashMap<_, _>>(),
    };
    let invoker = Actor {
        id: invoker_id,
        roles: member.roles.iter().map(|r| r.get()).collect(),
    };
    let permissions = member.permissions.unwrap_or(Permissions::empty());
    let allowed = may_act(
        &invoker,
        permissions,
        (Permissions::MODERATE_MEMBERS, "Timeout Members"),
        &Actor {
            id: target.get(),
            roles: target_roles,
        },
        commands.bot_user_id,
        &facts,
    );
    Ok(allowed.map(|()| {
        (
            guild_id.get(),
            invoker_id,
            target.get(),
            reason.filter(|r| !r.is_empty()),
        )
    }))
}
