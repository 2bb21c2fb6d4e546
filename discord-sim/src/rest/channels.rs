//! Channel routes: get, create in guild, modify, delete, permission overwrites and threads.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::guilds::{audit, require};
use super::{ApiError, ApiResult, Ctx, Reply, id, ok};
use crate::world::permissions as p;
use crate::world::{Channel, Overwrite, World, channel_type};

pub(super) fn route(ctx: &mut Ctx<'_>, seg: &[&str]) -> ApiResult {
    let Some(channel_id) = seg.first().and_then(|s| id(s)) else {
        return Err(ApiError::not_found());
    };
    let m = ctx.method.clone();
    match (&m, &seg[1..]) {
        (&Method::GET, []) => {
            let world = ctx.shared.world_read();
            let c = visible(&world, channel_id)?;
            ok(c.to_json())
        }
        (&Method::PATCH, []) => modify(ctx, channel_id),
        (&Method::DELETE, []) => delete(ctx, channel_id),
        (&Method::PUT | &Method::DELETE, ["permissions", target]) => {
            overwrite(ctx, channel_id, target)
        }
        (&Method::POST, ["threads"]) => create_thread(ctx, channel_id, None),
        (&Method::PUT | &Method::DELETE, ["thread-members", user]) => {
            thread_member(ctx, channel_id, user)
        }
        (&Method::POST, ["messages", msg, "threads"]) => {
            let msg = id(msg).ok_or_else(ApiError::unknown_message)?;
            create_thread(ctx, channel_id, Some(msg))
        }
        (_, ["messages", ..]) => super::messages::route(ctx, channel_id, &seg[2..]),
        _ => Err(ApiError::not_found()),
    }
}

/// The bot's permissions in a channel (threads inherit their parent's overwrites).
pub(super) fn bot_perms(world: &World, channel: &Channel) -> u64 {
    let Some(guild) = channel.guild_id.and_then(|g| world.guilds.get(&g)) else {
        return p::ALL;
    };
    let overwrites = match channel.kind {
        channel_type::PUBLIC_THREAD | channel_type::PRIVATE_THREAD => channel
            .parent_id
            .and_then(|pid| guild.channels.get(&pid))
            .map_or(&channel.overwrites, |parent| &parent.overwrites),
        _ => &channel.overwrites,
    };
    p::in_channel(guild, world.bot.id, overwrites)
}

/// The channel, if it exists and the bot can see it (10003 / 50001 otherwise).
pub(super) fn visible(world: &World, channel_id: u64) -> Result<&Channel, ApiError> {
    let c = world
        .channel(channel_id)
        .ok_or_else(ApiError::unknown_channel)?;
    if bot_perms(world, c) & p::VIEW_CHANNEL == 0 {
        return Err(ApiError::missing_access());
    }
    Ok(c)
}

fn event_with_guild(c: &Channel) -> Value {
    c.to_json()
}

fn parse_overwrites(v: &Value) -> Result<Vec<Overwrite>, ApiError> {
    let bad = || {
        ApiError::invalid_field(
            "permission_overwrites",
            "BASE_TYPE_ARRAY",
            "Must be an array of overwrites.",
        )
    };
    let arr = v.as_array().ok_or_else(bad)?;
    arr.iter()
        .map(|o| {
            let num = |k: &str| match o.get(k) {
                None | Some(Value::Null) => Some(0),
                Some(Value::String(s)) => s.parse().ok(),
                Some(Value::Number(n)) => n.as_u64(),
                _ => None,
            };
            Some(Overwrite {
                id: o.get("id").and_then(|i| {
                    i.as_str()
                        .and_then(|s| s.parse().ok())
                        .or_else(|| i.as_u64())
                })?,
                kind: u8::try_from(o.get("type")?.as_u64()?)
                    .ok()
                    .filter(|k| *k <= 1)?,
                allow: num("allow")?,
                deny: num("deny")?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)
}

fn name_field(body: &Value, required: bool) -> Result<Option<String>, ApiError> {
    match body.get("name") {
        None | Some(Value::Null) if required => Err(ApiError::required("name")),
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if (1..=100).contains(&s.chars().count()) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::invalid_field(
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        )),
    }
}

pub(super) fn create_in_guild(ctx: &mut Ctx<'_>, guild_id: u64) -> ApiResult {
    let body = ctx.body.clone();
    let name = name_field(&body, true)?.unwrap_or_default();
    let kind = match body.get("type").and_then(Value::as_u64) {
        None => channel_type::GUILD_TEXT,
        Some(k @ (0 | 2 | 4 | 5 | 13 | 15 | 16)) => u8::try_from(k).unwrap_or(0),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "type",
                "BASE_TYPE_CHOICES",
                "Value must be one of {0, 2, 4, 5, 13, 15, 16}.",
            ));
        }
    };
    let overwrites = match body.get("permission_overwrites") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => parse_overwrites(v)?,
    };
    let parent_id = body
        .get("parent_id")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<u64>().ok());
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let bot = world.bot.id;
    let guild = world
        .guilds
        .get_mut(&guild_id)
        .ok_or_else(ApiError::unknown_guild)?;
    require(guild, bot, p::MANAGE_CHANNELS)?;
    if let Some(pid) = parent_id
        && guild
            .channels
            .get(&pid)
            .is_none_or(|c| c.kind != channel_type::GUILD_CATEGORY)
    {
        return Err(ApiError::invalid_field(
            "parent_id",
            "CHANNEL_PARENT_INVALID",
            "Category does not exist.",
        ));
    }
    let channel = Channel {
        id: shared.ids.next(),
        kind,
        guild_id: Some(guild_id),
        name,
        position: body
            .get("position")
            .and_then(Value::as_i64)
            .unwrap_or(i64::try_from(guild.channels.len()).unwrap_or(0)),
        topic: body.get("topic").and_then(Value::as_str).map(str::to_owned),
        parent_id,
        overwrites,
        rate_limit_per_user: body
            .get("rate_limit_per_user")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0),
        nsfw: body.get("nsfw").and_then(Value::as_bool).unwrap_or(false),
        last_message_id: None,
        recipient: None,
        owner_id: None,
        archived: false,
        thread_members: Vec::new(),
    };
    let json = channel.to_json();
    guild.channels.insert(channel.id, channel.clone());
    ctx.events
        .push(("CHANNEL_CREATE", Some(guild_id), event_with_guild(&channel)));
    audit(
        ctx,
        &mut world,
        guild_id,
        10,
        Some(channel.id),
        json!([{"key": "name", "new_value": channel.name}]),
    );
    Ok(Reply::Json(StatusCode::CREATED, json))
}

fn modify(ctx: &mut Ctx<'_>, channel_id: u64) -> ApiResult {
    let body = ctx.body.clone();
    let name = name_field(&body, false)?;
    let overwrites = match body.get("permission_overwrites") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_overwrites(v)?),
    };
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let c = visible(&world, channel_id)?;
    let is_thread = matches!(
        c.kind,
        channel_type::PUBLIC_THREAD | channel_type::PRIVATE_THREAD
    );
    let needed = if is_thread {
        p::MANAGE_THREADS
    } else {
        p::MANAGE_CHANNELS
    };
    if c.guild_id.is_none() || bot_perms(&world, c) & needed == 0 {
        return Err(ApiError::missing_permissions());
    }
    let guild_id = c.guild_id;
    let c = world
        .channel_mut(channel_id)
        .ok_or_else(ApiError::unknown_channel)?;
    if let Some(n) = name {
        c.name = n;
    }
    if let Some(o) = overwrites {
        c.overwrites = o;
    }
    if let Some(t) = body.get("topic") {
        c.topic = t.as_str().map(str::to_owned);
    }
    if let Some(v) = body.get("nsfw").and_then(Value::as_bool) {
        c.nsfw = v;
    }
    if let Some(v) = body.get("position").and_then(Value::as_i64) {
        c.position = v;
    }
    if let Some(v) = body.get("rate_limit_per_user").and_then(Value::as_u64) {
        c.rate_limit_per_user = u32::try_from(v).unwrap_or(21_600).min(21_600);
    }
    if let Some(v) = body.get("archived").and_then(Value::as_bool) {
        c.archived = v;
    }
    let json = c.to_json();
    let event = if is_thread {
        "THREAD_UPDATE"
    } else {
        "CHANNEL_UPDATE"
    };
    ctx.events.push((event, guild_id, json.clone()));
    if let Some(g) = guild_id {
        audit(
            ctx,
            &mut world,
            g,
            if is_thread { 111 } else { 11 },
            Some(channel_id),
            json!([]),
        );
    }
    ok(json)
}

fn delete(ctx: &mut Ctx<'_>, channel_id: u64) -> ApiResult {
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let c = visible(&world, channel_id)?;
    let is_thread = matches!(
        c.kind,
        channel_type::PUBLIC_THREAD | channel_type::PRIVATE_THREAD
    );
    let needed = if is_thread {
        p::MANAGE_THREADS
    } else {
        p::MANAGE_CHANNELS
    };
    let Some(guild_id) = c.guild_id else {
        let json = c.to_json();
        return ok(json);
    };
    if bot_perms(&world, c) & needed == 0 {
        return Err(ApiError::missing_permissions());
    }
    let json = c.to_json();
    if let Some(g) = world.guilds.get_mut(&guild_id) {
        g.channels.remove(&channel_id);
        g.threads.remove(&channel_id);
    }
    world.messages.remove(&channel_id);
    let event = if is_thread {
        "THREAD_DELETE"
    } else {
        "CHANNEL_DELETE"
    };
    ctx.events.push((event, Some(guild_id), json.clone()));
    audit(
        ctx,
        &mut world,
        guild_id,
        if is_thread { 112 } else { 12 },
        Some(channel_id),
        json!([]),
    );
    ok(json)
}

fn overwrite(ctx: &mut Ctx<'_>, channel_id: u64, target: &str) -> ApiResult {
    let target = id(target).ok_or_else(ApiError::not_found)?;
    let put = ctx.method == Method::PUT;
    let body = ctx.body.clone();
    let new = if put {
        let mut o = body.clone();
        o["id"] = json!(target.to_string());
        if o.get("type").is_none() {
            return Err(ApiError::required("type"));
        }
        Some(parse_overwrites(&Value::Array(vec![o]))?.remove(0))
    } else {
        None
    };
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let c = visible(&world, channel_id)?;
    let Some(guild_id) = c.guild_id else {
        return Err(ApiError::missing_permissions());
    };
    if bot_perms(&world, c) & p::MANAGE_ROLES == 0 {
        return Err(ApiError::missing_permissions());
    }
    let c = world
        .channel_mut(channel_id)
        .ok_or_else(ApiError::unknown_channel)?;
    let existed = c.overwrites.iter().any(|o| o.id == target);
    c.overwrites.retain(|o| o.id != target);
    if let Some(o) = new {
        c.overwrites.push(o);
    }
    let json = c.to_json();
    ctx.events.push(("CHANNEL_UPDATE", Some(guild_id), json));
    let action = match (put, existed) {
        (true, false) => 13,
        (true, true) => 14,
        (false, _) => 15,
    };
    audit(
        ctx,
        &mut world,
        guild_id,
        action,
        Some(channel_id),
        json!([]),
    );
    Ok(Reply::NoContent)
}

fn create_thread(ctx: &mut Ctx<'_>, channel_id: u64, from_message: Option<u64>) -> ApiResult {
    let body = ctx.body.clone();
    let name = name_field(&body, true)?.unwrap_or_default();
    let kind = match (from_message, body.get("type").and_then(Value::as_u64)) {
        (Some(_), _) | (None, Some(11)) => channel_type::PUBLIC_THREAD,
        (None, None | Some(12)) => channel_type::PRIVATE_THREAD,
        (None, Some(_)) => {
            return Err(ApiError::invalid_field(
                "type",
                "BASE_TYPE_CHOICES",
                "Value must be one of {10, 11, 12}.",
            ));
        }
    };
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let parent = visible(&world, channel_id)?;
    let Some(guild_id) = parent
        .guild_id
        .filter(|_| parent.kind == channel_type::GUILD_TEXT)
    else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            50024,
            "Cannot execute action on this channel type",
        ));
    };
    let needed = if kind == channel_type::PUBLIC_THREAD {
        p::CREATE_PUBLIC_THREADS
    } else {
        p::CREATE_PRIVATE_THREADS
    };
    if bot_perms(&world, parent) & needed == 0 {
        return Err(ApiError::missing_permissions());
    }
    if let Some(m) = from_message
        && !world
            .messages
            .get(&channel_id)
            .is_some_and(|msgs| msgs.contains_key(&m))
    {
        return Err(ApiError::unknown_message());
    }
    let thread = Channel {
        id: from_message.unwrap_or_else(|| shared.ids.next()),
        kind,
        guild_id: Some(guild_id),
        name,
        position: 0,
        topic: None,
        parent_id: Some(channel_id),
        overwrites: Vec::new(),
        rate_limit_per_user: 0,
        nsfw: false,
        last_message_id: None,
        recipient: None,
        owner_id: Some(world.bot.id),
        archived: false,
        thread_members: vec![world.bot.id],
    };
    let mut json = thread.to_json();
    if let Some(g) = world.guilds.get_mut(&guild_id) {
        g.threads.insert(thread.id, thread.clone());
    }
    let mut event = json.clone();
    event["newly_created"] = json!(true);
    ctx.events.push(("THREAD_CREATE", Some(guild_id), event));
    audit(ctx, &mut world, guild_id, 110, Some(thread.id), json!([]));
    json["member"] = json!({"id": thread.id.to_string(), "user_id": world.bot.id.to_string(), "join_timestamp": crate::snowflake::iso8601(crate::snowflake::now_ms()), "flags": 0});
    Ok(Reply::Json(StatusCode::CREATED, json))
}

/// Adds (`PUT`) or removes (`DELETE`) a thread member: 204. The bot must be in the thread or
/// hold Manage Threads; a private thread's members are how it is seen.
fn thread_member(ctx: &mut Ctx<'_>, channel_id: u64, user: &str) -> ApiResult {
    let user_id = id(user).ok_or_else(ApiError::unknown_user)?;
    let add = ctx.method == Method::PUT;
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let thread = visible(&world, channel_id)?;
    if !matches!(
        thread.kind,
        channel_type::PUBLIC_THREAD | channel_type::PRIVATE_THREAD
    ) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            50024,
            "Cannot execute action on this channel type",
        ));
    }
    let bot = world.bot.id;
    if !thread.thread_members.contains(&bot) && bot_perms(&world, thread) & p::MANAGE_THREADS == 0 {
        return Err(ApiError::missing_permissions());
    }
    let guild_id = thread.guild_id;
    if add && !world.users.contains_key(&user_id) {
        return Err(ApiError::unknown_user());
    }
    if let Some(thread) = world.channel_mut(channel_id) {
        thread.thread_members.retain(|m| *m != user_id);
        if add {
            thread.thread_members.push(user_id);
        }
    }
    let event = json!({
        "id": channel_id.to_string(),
        "guild_id": guild_id.map(|g| g.to_string()),
        "member_count": world.channel(channel_id).map_or(0, |c| c.thread_members.len()),
        "added_members": if add { json!([{"id": channel_id.to_string(), "user_id": user_id.to_string(), "join_timestamp": crate::snowflake::iso8601(crate::snowflake::now_ms()), "flags": 0}]) } else { json!([]) },
        "removed_member_ids": if add { json!([]) } else { json!([user_id.to_string()]) },
    });
    ctx.events.push(("THREAD_MEMBERS_UPDATE", guild_id, event));
    Ok(Reply::NoContent)
}
