//! Guild routes: guild, members, roles, bans, channels of a guild and the audit log.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Ctx, Reply, bans, id, ok};
use crate::snowflake::{iso8601, now_ms, parse_iso8601};
use crate::world::permissions as p;
use crate::world::{Guild, World};

/// Most a timeout may last (28 days).
const MAX_TIMEOUT_MS: u64 = 28 * 24 * 3600 * 1000;

pub(super) fn route(ctx: &mut Ctx<'_>, seg: &[&str]) -> ApiResult {
    let Some(guild_id) = seg.first().and_then(|s| id(s)) else {
        return Err(ApiError::not_found());
    };
    let m = ctx.method.clone();
    match (&m, &seg[1..]) {
        (&Method::GET, []) => get_guild(ctx, guild_id),
        (&Method::GET, ["roles"]) => with_guild(ctx, guild_id, |_, g| {
            ok(Value::Array(
                g.roles.values().map(|r| r.to_json()).collect(),
            ))
        }),
        (&Method::GET, ["channels"]) => with_guild(ctx, guild_id, |_, g| {
            ok(Value::Array(
                g.channels.values().map(|c| c.to_json()).collect(),
            ))
        }),
        (&Method::POST, ["channels"]) => super::channels::create_in_guild(ctx, guild_id),
        (&Method::GET, ["threads", "active"]) => with_guild(ctx, guild_id, |_, g| {
            let threads: Vec<Value> = g
                .threads
                .values()
                .filter(|t| !t.archived)
                .map(|t| t.to_json())
                .collect();
            ok(json!({"threads": threads, "members": []}))
        }),
        (&Method::GET, ["members"]) => list_members(ctx, guild_id),
        (&Method::GET, ["members", "search"]) => search_members(ctx, guild_id),
        (&Method::GET, ["members", user]) => {
            let user = id(user).ok_or_else(ApiError::unknown_member)?;
            with_guild(ctx, guild_id, |w, g| {
                member_json(w, g, user).map(|m| Reply::Json(StatusCode::OK, m))
            })
        }
        (&Method::PATCH, ["members", user]) => modify_member(ctx, guild_id, user),
        (&Method::DELETE, ["members", user]) => kick(ctx, guild_id, user),
        (&Method::PUT | &Method::DELETE, ["members", user, "roles", role]) => {
            member_role(ctx, guild_id, user, role)
        }
        (&Method::GET, ["bans"]) => bans::list_bans(ctx, guild_id),
        (&Method::GET, ["bans", user]) => bans::get_ban(ctx, guild_id, user),
        (&Method::PUT, ["bans", user]) => bans::ban(ctx, guild_id, user),
        (&Method::DELETE, ["bans", user]) => bans::unban(ctx, guild_id, user),
        (&Method::GET, ["audit-logs"]) => bans::audit_logs(ctx, guild_id),
        _ => Err(ApiError::not_found()),
    }
}

pub(super) fn with_guild(
    ctx: &Ctx<'_>,
    guild_id: u64,
    f: impl FnOnce(&World, &Guild) -> ApiResult,
) -> ApiResult {
    let world = ctx.shared.world_read();
    let guild = world
        .guilds
        .get(&guild_id)
        .ok_or_else(ApiError::unknown_guild)?;
    f(&world, guild)
}

pub(super) fn member_json(world: &World, guild: &Guild, user: u64) -> Result<Value, ApiError> {
    let member = guild
        .members
        .get(&user)
        .ok_or_else(ApiError::unknown_member)?;
    let u = world.users.get(&user).ok_or_else(ApiError::unknown_user)?;
    Ok(member.to_json(u))
}

/// Fails with 50013 unless the bot has `perm` in the guild.
pub(super) fn require(guild: &Guild, bot: u64, perm: u64) -> Result<(), ApiError> {
    if p::base(guild, bot) & perm == perm {
        Ok(())
    } else {
        Err(ApiError::missing_permissions())
    }
}

/// Fails with 50013 when `target` is the owner or has a top role at or above the bot's.
pub(super) fn require_above(guild: &Guild, bot: u64, target: u64) -> Result<(), ApiError> {
    if target == guild.owner_id || p::top_position(guild, target) >= p::top_position(guild, bot) {
        Err(ApiError::missing_permissions())
    } else {
        Ok(())
    }
}

/// Appends an audit log entry and queues GUILD_AUDIT_LOG_ENTRY_CREATE.
pub(super) fn audit(
    ctx: &mut Ctx<'_>,
    world: &mut World,
    guild_id: u64,
    action_type: u32,
    target_id: Option<u64>,
    changes: Value,
) {
    let mut entry = json!({
        "id": ctx.shared.ids.next().to_string(),
        "guild_id": guild_id.to_string(),
        "user_id": world.bot.id.to_string(),
        "target_id": target_id.map(|t| t.to_string()),
        "action_type": action_type,
        "changes": changes,
    });
    if let Some(reason) = &ctx.reason {
        entry["reason"] = json!(reason);
    }
    world
        .audit_log
        .entry(guild_id)
        .or_default()
        .push(entry.clone());
    ctx.events
        .push(("GUILD_AUDIT_LOG_ENTRY_CREATE", Some(guild_id), entry));
}

fn get_guild(ctx: &Ctx<'_>, guild_id: u64) -> ApiResult {
    let with_counts = ctx.query.get("with_counts").is_some_and(|v| v == "true");
    with_guild(ctx, guild_id, |_, g| {
        let mut v = g.to_json();
        if with_counts {
            v["approximate_member_count"] = json!(g.members.len());
            v["approximate_presence_count"] = json!(
                g.members
                    .values()
                    .filter(|m| m.status != crate::world::Status::Offline)
                    .count()
            );
        }
        ok(v)
    })
}

fn list_members(ctx: &Ctx<'_>, guild_id: u64) -> ApiResult {
    let limit = ctx.query_u64("limit").unwrap_or(1);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "NUMBER_TYPE_MAX",
            "int value should be less than or equal to 1000.",
        ));
    }
    let after = ctx.query_u64("after").unwrap_or(0);
    with_guild(ctx, guild_id, |w, g| {
        let members = g
            .members
            .range(after.saturating_add(1)..)
            .take(usize::try_from(limit).unwrap_or(1))
            .filter_map(|(id, m)| w.users.get(id).map(|u| m.to_json(u)))
            .collect();
        ok(Value::Array(members))
    })
}

fn search_members(ctx: &Ctx<'_>, guild_id: u64) -> ApiResult {
    let Some(query) = ctx.query.get("query").map(|q| q.to_lowercase()) else {
        return Err(ApiError::required("query"));
    };
    let limit = usize::try_from(ctx.query_u64("limit").unwrap_or(1).clamp(1, 1000)).unwrap_or(1);
    with_guild(ctx, guild_id, |w, g| {
        let members = g
            .members
            .values()
            .filter_map(|m| w.users.get(&m.user_id).map(|u| (m, u)))
            .filter(|(m, u)| {
                u.username.to_lowercase().starts_with(&query)
                    || m.nick
                        .as_ref()
                        .is_some_and(|n| n.to_lowercase().starts_with(&query))
            })
            .take(limit)
            .map(|(m, u)| m.to_json(u))
            .collect();
        ok(Value::Array(members))
    })
}

fn modify_member(ctx: &mut Ctx<'_>, guild_id: u64, user: &str) -> ApiResult {
    let user = id(user).ok_or_else(ApiError::unknown_member)?;
    let body = ctx.body.clone();
    let Some(obj) = body.as_object() else {
        return Err(ApiError::invalid_json());
    };
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let bot = world.bot.id;
    let guild = world
        .guilds
        .get(&guild_id)
        .ok_or_else(ApiError::unknown_guild)?;
    if !guild.members.contains_key(&user) {
        return Err(ApiError::unknown_member());
    }
    let mut changes = Vec::new();
    if obj.contains_key("nick") {
        require(
            guild,
            bot,
            if user == bot {
                1 << 26
            } else {
                p::MANAGE_NICKNAMES
            },
        )?;
        if user != bot {
            require_above(guild, bot, user)?;
        }
    }
    let mut new_roles = None;
    if let Some(roles) = obj.get("roles").filter(|r| !r.is_null()) {
        require(guild, bot, p::MANAGE_ROLES)?;
        let ids: Vec<u64> = roles
            .as_array()
            .ok_or_else(|| {
                ApiError::invalid_field("roles", "BASE_TYPE_ARRAY", "Must be an array.")
            })?
            .iter()
            .map(|r| r.as_str().and_then(|s| s.parse().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ApiError::invalid_field("roles", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
            })?;
        let bot_top = p::top_position(guild, bot);
        for r in &ids {
            let role = guild.roles.get(r).ok_or_else(ApiError::unknown_role)?;
            let had = guild
                .members
                .get(&user)
                .is_some_and(|m| m.roles.contains(r));
            if !had && (role.position >= bot_top || role.managed) {
                return Err(ApiError::missing_permissions());
            }
        }
        new_roles = Some(ids);
    }
    let mut timeout = None;
    if let Some(until) = obj.get("communication_disabled_until") {
        require(guild, bot, p::MODERATE_MEMBERS)?;
        require_above(guild, bot, user)?;
        if p::base(guild, user) & p::ADMINISTRATOR != 0 || p::base(guild, user) == p::ALL {
            return Err(ApiError::missing_permissions());
        }
        timeout = Some(match until {
            Value::Null => None,
            Value::String(s) => {
                let ms = parse_iso8601(s).ok_or_else(|| {
                    ApiError::invalid_field(
                        "communication_disabled_until",
                        "DATE_TIME_TYPE_PARSE",
                        "Could not parse datetime.",
                    )
                })?;
                if ms > now_ms() + MAX_TIMEOUT_MS {
                    return Err(ApiError::invalid_field(
                        "communication_disabled_until",
                        "COMMUNICATION_DISABLED_UNTIL_TOO_LONG",
                        "Timeout duration cannot exceed 28 days.",
                    ));
                }
                Some(ms)
            }
            _ => {
                return Err(ApiError::invalid_field(
                    "communication_disabled_until",
                    "DATE_TIME_TYPE_PARSE",
                    "Could not parse datetime.",
                ));
            }
        });
    }
    let guild = world
        .guilds
        .get_mut(&guild_id)
        .ok_or_else(ApiError::unknown_guild)?;
    let member = guild
        .members
        .get_mut(&user)
        .ok_or_else(ApiError::unknown_member)?;
    if let Some(nick) = obj.get("nick") {
        let nick = nick.as_str().filter(|n| !n.is_empty()).map(str::to_owned);
        changes.push(json!({"key": "nick", "old_value": member.nick, "new_value": nick}));
        member.nick = nick;
    }
    if let Some(roles) = new_roles {
        member.roles = roles;
    }
    if let Some(t) = timeout {
        changes.push(json!({"key": "communication_disabled_until", "old_value": member.communication_disabled_until_ms.map(iso8601), "new_value": t.map(iso8601)}));
        member.communication_disabled_until_ms = t;
    }
    for key in ["mute", "deaf"] {
        if let Some(b) = obj.get(key).and_then(Value::as_bool) {
            if key == "mute" {
                member.mute = b
            } else {
                member.deaf = b
            }
        }
    }
    let json = member_json(&world, &world.guilds[&guild_id], user)?;
    let mut event = json.clone();
    event["guild_id"] = json!(guild_id.to_string());
    ctx.events
        .push(("GUILD_MEMBER_UPDATE", Some(guild_id), event));
    audit(
        ctx,
        &mut world,
        guild_id,
        24,
        Some(user),
        Value::Array(changes),
    );
    ok(json)
}

fn member_role(ctx: &mut Ctx<'_>, guild_id: u64, user: &str, role: &str) -> ApiResult {
    let (user, role) = (
        id(user).ok_or_else(ApiError::unknown_member)?,
        id(role).ok_or_else(ApiError::unknown_role)?,
    );
    let add = ctx.method == Method::PUT;
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let bot = world.bot.id;
    let guild = world
        .guilds
        .get_mut(&guild_id)
        .ok_or_else(ApiError::unknown_guild)?;
    let r = guild.roles.get(&role).ok_or_else(ApiError::unknown_role)?;
    if !guild.members.contains_key(&user) {
        return Err(ApiError::unknown_member());
    }
    require(guild, bot, p::MANAGE_ROLES)?;
    if r.position >= p::top_position(guild, bot) || r.managed || role == guild_id {
        return Err(ApiError::missing_permissions());
    }
    let member = guild
        .members
        .get_mut(&user)
        .ok_or_else(ApiError::unknown_member)?;
    let key = if add { "$add" } else { "$remove" };
    let had = member.roles.contains(&role);
    if add && !had {
        member.roles.push(role);
    } else if !add {
        member.roles.retain(|r| *r != role);
    }
    let name = world.guilds[&guild_id].roles[&role].name.clone();
    let mut event = member_json(&world, &world.guilds[&guild_id], user)?;
    event["guild_id"] = json!(guild_id.to_string());
    ctx.events
        .push(("GUILD_MEMBER_UPDATE", Some(guild_id), event));
    audit(
        ctx,
        &mut world,
        guild_id,
        25,
        Some(user),
        json!([{"key": key, "new_value": [{"id": role.to_string(), "name": name}]}]),
    );
    Ok(Reply::NoContent)
}

fn kick(ctx: &mut Ctx<'_>, guild_id: u64, user: &str) -> ApiResult {
    let user = id(user).ok_or_else(ApiError::unknown_member)?;
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let bot = world.bot.id;
    let guild = world
        .guilds
        .get(&guild_id)
        .ok_or_else(ApiError::unknown_guild)?;
    if !guild.members.contains_key(&user) {
        return Err(ApiError::unknown_member());
    }
    require(guild, bot, p::KICK_MEMBERS)?;
    require_above(guild, bot, user)?;
    let u = world.users.get(&user).map(|u| u.to_json());
    if let Some(g) = world.guilds.get_mut(&guild_id) {
        g.members.remove(&user);
    }
    ctx.events.push((
        "GUILD_MEMBER_REMOVE",
        Some(guild_id),
        json!({"guild_id": guild_id.to_string(), "user": u}),
    ));
    audit(ctx, &mut world, guild_id, 20, Some(user), json!([]));
    Ok(Reply::NoContent)
}
