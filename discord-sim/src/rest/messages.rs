//! Message routes: create, get, edit, delete, bulk delete, history; multipart bodies.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::channels::{bot_perms, visible};
use super::guilds::audit;
use super::{ApiError, ApiResult, Ctx, Reply, id, ok};
use crate::snowflake::{iso8601, now_ms, timestamp_ms};
use crate::world::World;
use crate::world::permissions as p;

/// Bulk delete refuses messages older than this (14 days).
const BULK_DELETE_MAX_AGE_MS: u64 = 14 * 24 * 3600 * 1000;

pub(super) fn route(ctx: &mut Ctx<'_>, channel_id: u64, seg: &[&str]) -> ApiResult {
    let m = ctx.method.clone();
    match (&m, seg) {
        (&Method::GET, []) => history(ctx, channel_id),
        (&Method::POST, []) => create(ctx, channel_id),
        (&Method::POST, ["bulk-delete"]) => bulk_delete(ctx, channel_id),
        (&Method::GET, [msg]) => {
            let msg = id(msg).ok_or_else(ApiError::unknown_message)?;
            let world = ctx.shared.world_read();
            let c = visible(&world, channel_id)?;
            if bot_perms(&world, c) & p::READ_MESSAGE_HISTORY == 0 {
                return Err(ApiError::missing_access());
            }
            let m = world
                .messages
                .get(&channel_id)
                .and_then(|ms| ms.get(&msg))
                .ok_or_else(ApiError::unknown_message)?;
            ok(m.clone())
        }
        (&Method::PATCH, [msg]) => edit(ctx, channel_id, msg),
        (&Method::DELETE, [msg]) => delete(ctx, channel_id, msg),
        _ => Err(ApiError::not_found()),
    }
}

/// Validates a message body and builds the message object (not stored).
pub(crate) fn build(
    world: &World,
    cdn_base: &str,
    message_id: u64,
    channel_id: u64,
    body: &Value,
    kind: u8,
) -> Result<Value, ApiError> {
    let content = match body.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.chars().count() <= 2000 => s.clone(),
        Some(Value::String(_)) => {
            return Err(ApiError::invalid_field(
                "content",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2000 or fewer in length.",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid_field(
                "content",
                "STRING_TYPE_CONVERT",
                "Could not interpret value as string.",
            ));
        }
    };
    let array = |key: &str, max: usize| -> Result<Vec<Value>, ApiError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) if a.len() <= max => Ok(a.clone()),
            Some(Value::Array(_)) => Err(ApiError::invalid_field(
                key,
                "BASE_TYPE_MAX_LENGTH",
                &format!("Must be {max} or fewer in length."),
            )),
            Some(_) => Err(ApiError::invalid_field(
                key,
                "BASE_TYPE_ARRAY",
                "Must be an array.",
            )),
        }
    };
    let embeds = normalize_embeds(array("embeds", 10)?);
    let components = array("components", 40)?;
    let attachments: Vec<Value> = array("attachments", 10)?
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let name = a.get("filename").and_then(Value::as_str).unwrap_or("file").to_owned();
            let aid = crate::cdn::attachment_id(message_id, i);
            let url = crate::cdn::url(cdn_base, channel_id, aid, &name);
            json!({
                "id": aid.to_string(), "filename": name, "size": a.get("size").and_then(Value::as_u64).unwrap_or(0),
                "url": url, "proxy_url": url,
                "content_type": a.get("content_type").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let stickers = array("sticker_ids", 3)?;
    if content.is_empty()
        && embeds.is_empty()
        && components.is_empty()
        && attachments.is_empty()
        && stickers.is_empty()
        && body.get("poll").is_none_or(Value::is_null)
    {
        return Err(ApiError::empty_message());
    }
    let flags = body.get("flags").and_then(Value::as_u64).unwrap_or(0);
    let mut msg = json!({
        "id": message_id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": world.bot.to_json(),
        "content": content,
        "timestamp": iso8601(timestamp_ms(message_id)),
        "edited_timestamp": null,
        "tts": body.get("tts").and_then(Value::as_bool).unwrap_or(false),
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": attachments,
        "embeds": embeds,
        "components": components,
        "pinned": false,
        "type": kind,
        "flags": flags,
    });
    if let Some(reference) = body.get("message_reference").filter(|r| !r.is_null()) {
        msg["message_reference"] = reference.clone();
    }
    if let Some(nonce) = body.get("nonce").filter(|n| !n.is_null()) {
        msg["nonce"] = nonce.clone();
    }
    Ok(msg)
}

/// Embeds as Discord stores them: `type` defaults to `rich`.
fn normalize_embeds(embeds: Vec<Value>) -> Vec<Value> {
    embeds
        .into_iter()
        .map(|mut e| {
            if e.is_object() && e.get("type").is_none() {
                e["type"] = json!("rich");
            }
            e
        })
        .collect()
}

/// Stores a message, puts the request's uploaded files on the CDN under its attachments, and
/// queues MESSAGE_CREATE (with `guild_id` for guild channels).
pub(crate) fn store(ctx: &mut Ctx<'_>, world: &mut World, channel_id: u64, msg: &Value) {
    let Some(mid) = msg["id"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
        return;
    };
    let attachments = msg["attachments"].as_array().into_iter().flatten();
    for (a, data) in attachments.zip(std::mem::take(&mut ctx.files)) {
        if let Some(aid) = a["id"].as_str().and_then(|s| s.parse().ok()) {
            ctx.shared.cdn.insert(
                aid,
                crate::cdn::CdnFile {
                    channel_id,
                    filename: a["filename"].as_str().unwrap_or("file").to_owned(),
                    content_type: a["content_type"].as_str().map(str::to_owned),
                    data,
                },
            );
        }
    }
    world
        .messages
        .entry(channel_id)
        .or_default()
        .insert(mid, msg.clone());
    let guild_id = world.channel(channel_id).and_then(|c| c.guild_id);
    if let Some(c) = world.channel_mut(channel_id) {
        c.last_message_id = Some(mid);
    }
    let mut event = msg.clone();
    if let Some(g) = guild_id {
        event["guild_id"] = json!(g.to_string());
        if let Some(member) = world
            .guilds
            .get(&g)
            .and_then(|g| g.members.get(&world.bot.id))
        {
            let mut m = member.to_json(&world.bot);
            if let Some(o) = m.as_object_mut() {
                o.remove("user");
            }
            event["member"] = m;
        }
    }
    ctx.events.push(("MESSAGE_CREATE", guild_id, event));
}

fn create(ctx: &mut Ctx<'_>, channel_id: u64) -> ApiResult {
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let c = visible(&world, channel_id)?;
    let is_thread = matches!(c.kind, 11 | 12);
    let needed = if is_thread {
        p::SEND_MESSAGES_IN_THREADS
    } else {
        p::SEND_MESSAGES
    };
    if bot_perms(&world, c) & needed == 0 {
        return Err(ApiError::missing_permissions());
    }
    let kind = if ctx
        .body
        .get("message_reference")
        .is_some_and(|r| !r.is_null())
    {
        19
    } else {
        0
    };
    let msg = build(
        &world,
        &shared.http_url(),
        shared.ids.next(),
        channel_id,
        &ctx.body,
        kind,
    )?;
    store(ctx, &mut world, channel_id, &msg);
    ok(msg)
}

fn edit(ctx: &mut Ctx<'_>, channel_id: u64, msg: &str) -> ApiResult {
    let msg = id(msg).ok_or_else(ApiError::unknown_message)?;
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let guild_id = visible(&world, channel_id)?.guild_id;
    let bot = world.bot.id.to_string();
    let existing = world
        .messages
        .get(&channel_id)
        .and_then(|m| m.get(&msg))
        .ok_or_else(ApiError::unknown_message)?;
    if existing.pointer("/author/id").and_then(Value::as_str) != Some(&bot) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            50005,
            "Cannot edit a message authored by another user",
        ));
    }
    let updated = edited(existing, &ctx.body)?;
    world
        .messages
        .entry(channel_id)
        .or_default()
        .insert(msg, updated.clone());
    let mut event = updated.clone();
    if let Some(g) = guild_id {
        event["guild_id"] = json!(g.to_string());
    }
    ctx.events.push(("MESSAGE_UPDATE", guild_id, event));
    ok(updated)
}

/// Applies an edit body to a message.
pub(crate) fn edited(existing: &Value, body: &Value) -> Result<Value, ApiError> {
    let mut updated = existing.clone();
    for key in ["content", "embeds", "components", "attachments", "flags"] {
        if let Some(v) = body.get(key) {
            updated[key] = if v.is_null() && key != "content" {
                json!([])
            } else {
                v.clone()
            };
        }
    }
    if updated["content"]
        .as_str()
        .is_some_and(|c| c.chars().count() > 2000)
    {
        return Err(ApiError::invalid_field(
            "content",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 2000 or fewer in length.",
        ));
    }
    if let Some(Value::Array(embeds)) = updated.get("embeds").cloned() {
        updated["embeds"] = Value::Array(normalize_embeds(embeds));
    }
    updated["edited_timestamp"] = json!(iso8601(now_ms()));
    Ok(updated)
}

fn delete(ctx: &mut Ctx<'_>, channel_id: u64, msg: &str) -> ApiResult {
    let msg = id(msg).ok_or_else(ApiError::unknown_message)?;
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let c = visible(&world, channel_id)?;
    let guild_id = c.guild_id;
    let perms = bot_perms(&world, c);
    let bot = world.bot.id.to_string();
    let existing = world
        .messages
        .get(&channel_id)
        .and_then(|m| m.get(&msg))
        .ok_or_else(ApiError::unknown_message)?;
    let author = existing
        .pointer("/author/id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let own = author.as_deref() == Some(bot.as_str());
    if !own && (guild_id.is_none() || perms & p::MANAGE_MESSAGES == 0) {
        return Err(ApiError::missing_permissions());
    }
    if let Some(m) = world.messages.get_mut(&channel_id) {
        m.remove(&msg);
    }
    let mut event = json!({"id": msg.to_string(), "channel_id": channel_id.to_string()});
    if let Some(g) = guild_id {
        event["guild_id"] = json!(g.to_string());
        if !own {
            audit(
                ctx,
                &mut world,
                g,
                72,
                author.and_then(|a| a.parse().ok()),
                json!([]),
            );
        }
    }
    ctx.events.push(("MESSAGE_DELETE", guild_id, event));
    Ok(Reply::NoContent)
}

fn bulk_delete(ctx: &mut Ctx<'_>, channel_id: u64) -> ApiResult {
    let ids: Vec<u64> = match ctx.body.get("messages") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().and_then(|s| s.parse().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ApiError::invalid_field("messages", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
            })?,
        _ => return Err(ApiError::required("messages")),
    };
    if !(2..=100).contains(&ids.len()) {
        return Err(ApiError::invalid_field(
            "messages",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 2 and 100 in length.",
        ));
    }
    let cutoff = now_ms().saturating_sub(BULK_DELETE_MAX_AGE_MS);
    if ids.iter().any(|m| timestamp_ms(*m) < cutoff) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            50034,
            "You can only bulk delete messages that are under 14 days old.",
        ));
    }
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let c = visible(&world, channel_id)?;
    let Some(guild_id) = c.guild_id else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            50003,
            "Cannot execute action on a DM channel",
        ));
    };
    if bot_perms(&world, c) & p::MANAGE_MESSAGES == 0 {
        return Err(ApiError::missing_permissions());
    }
    if let Some(m) = world.messages.get_mut(&channel_id) {
        for i in &ids {
            m.remove(i);
        }
    }
    let ids_json: Vec<String> = ids.iter().map(u64::to_string).collect();
    ctx.events.push(("MESSAGE_DELETE_BULK", Some(guild_id), json!({"ids": ids_json, "channel_id": channel_id.to_string(), "guild_id": guild_id.to_string()})));
    audit(ctx, &mut world, guild_id, 73, Some(channel_id), json!([]));
    Ok(Reply::NoContent)
}

fn history(ctx: &Ctx<'_>, channel_id: u64) -> ApiResult {
    let limit = ctx.query_u64("limit").unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "NUMBER_TYPE_MAX",
            "int value should be less than or equal to 100.",
        ));
    }
    let limit = usize::try_from(limit).unwrap_or(50);
    let world = ctx.shared.world_read();
    let c = visible(&world, channel_id)?;
    if bot_perms(&world, c) & p::READ_MESSAGE_HISTORY == 0 {
        return ok(json!([]));
    }
    let Some(msgs) = world.messages.get(&channel_id) else {
        return ok(json!([]));
    };
    let mut out: Vec<&Value> = if let Some(around) = ctx.query_u64("around") {
        let mut before: Vec<&Value> = msgs
            .range(..around)
            .rev()
            .take(limit / 2)
            .map(|(_, m)| m)
            .collect();
        let after: Vec<&Value> = msgs
            .range(around..)
            .take(limit - limit / 2)
            .map(|(_, m)| m)
            .collect();
        before.reverse();
        before.extend(after);
        before.reverse();
        before
    } else if let Some(after) = ctx.query_u64("after") {
        let mut v: Vec<&Value> = msgs
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(_, m)| m)
            .collect();
        v.reverse();
        v
    } else {
        let before = ctx.query_u64("before").unwrap_or(u64::MAX);
        msgs.range(..before)
            .rev()
            .take(limit)
            .map(|(_, m)| m)
            .collect()
    };
    out.dedup();
    ok(Value::Array(out.into_iter().cloned().collect()))
}
