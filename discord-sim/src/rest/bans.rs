//! Ban routes and the audit log.

use serde_json::{Value, json};

use super::guilds::{audit, require, require_above, with_guild};
use super::{ApiError, ApiResult, Ctx, Reply, id, ok};
use crate::snowflake::now_ms;
use crate::world::World;
use crate::world::permissions as p;

pub(super) fn ban(ctx: &mut Ctx<'_>, guild_id: u64, user: &str) -> ApiResult {
    let user = id(user).ok_or_else(ApiError::unknown_user)?;
    let delete_secs = match ctx.body.get("delete_message_seconds") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().filter(|s| *s <= 604_800).ok_or_else(|| {
            ApiError::invalid_field(
                "delete_message_seconds",
                "NUMBER_TYPE_MAX",
                "int value should be less than or equal to 604800.",
            )
        })?,
    };
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let bot = world.bot.id;
    let user_json = world
        .users
        .get(&user)
        .ok_or_else(ApiError::unknown_user)?
        .to_json();
    let guild = world
        .guilds
        .get(&guild_id)
        .ok_or_else(ApiError::unknown_guild)?;
    require(guild, bot, p::BAN_MEMBERS)?;
    if guild.members.contains_key(&user) || user == guild.owner_id {
        require_above(guild, bot, user)?;
    }
    let channels: Vec<u64> = guild
        .channels
        .keys()
        .chain(guild.threads.keys())
        .copied()
        .collect();
    let cutoff = crate::snowflake::snowflake(now_ms().saturating_sub(delete_secs * 1000), 0);
    let author = user.to_string();
    for c in channels {
        if let Some(msgs) = world.messages.get_mut(&c) {
            msgs.retain(|mid, m| {
                *mid < cutoff || m.pointer("/author/id").and_then(Value::as_str) != Some(&author)
            });
        }
    }
    if let Some(g) = world.guilds.get_mut(&guild_id) {
        g.members.remove(&user);
    }
    world
        .bans
        .entry(guild_id)
        .or_default()
        .insert(user, ctx.reason.clone());
    ctx.events.push((
        "GUILD_BAN_ADD",
        Some(guild_id),
        json!({"guild_id": guild_id.to_string(), "user": user_json}),
    ));
    audit(ctx, &mut world, guild_id, 22, Some(user), json!([]));
    Ok(Reply::NoContent)
}

pub(super) fn unban(ctx: &mut Ctx<'_>, guild_id: u64, user: &str) -> ApiResult {
    let user = id(user).ok_or_else(ApiError::unknown_ban)?;
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let bot = world.bot.id;
    let guild = world
        .guilds
        .get(&guild_id)
        .ok_or_else(ApiError::unknown_guild)?;
    require(guild, bot, p::BAN_MEMBERS)?;
    if world
        .bans
        .get_mut(&guild_id)
        .and_then(|b| b.remove(&user))
        .is_none()
    {
        return Err(ApiError::unknown_ban());
    }
    let user_json = world.users.get(&user).map(|u| u.to_json());
    ctx.events.push((
        "GUILD_BAN_REMOVE",
        Some(guild_id),
        json!({"guild_id": guild_id.to_string(), "user": user_json}),
    ));
    audit(ctx, &mut world, guild_id, 23, Some(user), json!([]));
    Ok(Reply::NoContent)
}

fn ban_json(world: &World, user: u64, reason: Option<&String>) -> Value {
    let u = world.users.get(&user).map_or_else(
        || json!({"id": user.to_string(), "username": "deleted_user", "discriminator": "0", "global_name": null, "avatar": null}),
        |u| u.to_json(),
    );
    json!({"reason": reason, "user": u})
}

pub(super) fn get_ban(ctx: &Ctx<'_>, guild_id: u64, user: &str) -> ApiResult {
    let user = id(user).ok_or_else(ApiError::unknown_ban)?;
    with_guild(ctx, guild_id, |w, g| {
        require(g, w.bot.id, p::BAN_MEMBERS)?;
        let reason = w
            .bans
            .get(&guild_id)
            .and_then(|b| b.get(&user))
            .ok_or_else(ApiError::unknown_ban)?;
        ok(ban_json(w, user, reason.as_ref()))
    })
}

pub(super) fn list_bans(ctx: &Ctx<'_>, guild_id: u64) -> ApiResult {
    let limit =
        usize::try_from(ctx.query_u64("limit").unwrap_or(1000).clamp(1, 1000)).unwrap_or(1000);
    let (before, after) = (ctx.query_u64("before"), ctx.query_u64("after"));
    with_guild(ctx, guild_id, |w, g| {
        require(g, w.bot.id, p::BAN_MEMBERS)?;
        let Some(bans) = w.bans.get(&guild_id) else {
            return ok(json!([]));
        };
        let list: Vec<Value> = match (before, after) {
            (Some(b), None) => {
                let mut v: Vec<_> = bans.range(..b).rev().take(limit).collect();
                v.reverse();
                v.into_iter()
                    .map(|(u, r)| ban_json(w, *u, r.as_ref()))
                    .collect()
            }
            _ => bans
                .range(after.map_or(0, |a| a.saturating_add(1))..)
                .take(limit)
                .map(|(u, r)| ban_json(w, *u, r.as_ref()))
                .collect(),
        };
        ok(Value::Array(list))
    })
}

pub(super) fn audit_logs(ctx: &Ctx<'_>, guild_id: u64) -> ApiResult {
    let limit = usize::try_from(ctx.query_u64("limit").unwrap_or(50).clamp(1, 100)).unwrap_or(50);
    let user_id = ctx.query.get("user_id").cloned();
    let action = ctx.query_u64("action_type");
    let (before, after) = (ctx.query_u64("before"), ctx.query_u64("after"));
    with_guild(ctx, guild_id, |w, g| {
        require(g, w.bot.id, p::VIEW_AUDIT_LOG)?;
        let entry_id = |e: &Value| {
            e["id"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let entries: Vec<Value> = w
            .audit_log
            .get(&guild_id)
            .map(|log| {
                log.iter()
                    .rev()
                    .filter(|e| {
                        user_id
                            .as_ref()
                            .is_none_or(|u| e["user_id"].as_str() == Some(u))
                    })
                    .filter(|e| action.is_none_or(|a| e["action_type"].as_u64() == Some(a)))
                    .filter(|e| before.is_none_or(|b| entry_id(e) < b))
                    .filter(|e| after.is_none_or(|a| entry_id(e) > a))
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let mut users: Vec<Value> = vec![w.bot.to_json()];
        for e in &entries {
            if let Some(t) = e["target_id"]
                .as_str()
                .and_then(|t| t.parse::<u64>().ok())
                .and_then(|t| w.users.get(&t))
            {
                let j = t.to_json();
                if !users.contains(&j) {
                    users.push(j);
                }
            }
        }
        ok(json!({
            "audit_log_entries": entries,
            "users": users,
            "integrations": [],
            "webhooks": [],
            "guild_scheduled_events": [],
            "threads": [],
            "application_commands": [],
            "auto_moderation_rules": [],
        }))
    })
}
