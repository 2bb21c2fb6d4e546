//! Interactions: injection, the 3-second callback deadline, 15-minute tokens, follow-ups and
//! application commands.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Value, json};

use super::messages::{build, edited, store};
use super::{ApiError, ApiResult, Ctx, Reply, commands, id, ok};
use crate::world::permissions as p;

/// Interaction tokens are valid this long.
const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// What happened to an injected interaction, for the control API.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InteractionLog {
    /// Interaction id.
    pub id: String,
    /// Interaction token.
    pub token: String,
    /// The first callback's body (`{type, data}`), if any.
    pub callback: Option<Value>,
    /// Milliseconds from injection to the first accepted callback.
    pub callback_after_ms: Option<u64>,
    /// The original response message, if any.
    pub original: Option<Value>,
    /// Follow-up messages, in order.
    pub followups: Vec<Value>,
}

#[derive(Debug)]
struct Record {
    kind: u8,
    channel_id: u64,
    created: Instant,
    log: InteractionLog,
}

/// Live interactions, by id.
#[derive(Debug, Default)]
pub(crate) struct Interactions {
    by_id: Mutex<HashMap<u64, Record>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Interactions {
    pub(crate) fn log(&self, id: u64) -> Option<InteractionLog> {
        lock(&self.by_id).get(&id).map(|r| r.log.clone())
    }
}

/// Whether a route is an interaction route (exempt from the global limit, no bot auth needed).
pub(crate) fn is_webhook_route(seg: &[&str]) -> bool {
    matches!(
        seg,
        ["interactions", _, _, "callback"] | ["webhooks", _, _, ..]
    )
}

/// Builds INTERACTION_CREATE for `kind` (2 command, 3 component, 4 autocomplete, 5 modal
/// submit) by `user_id` in `channel_id`, registers it and returns `(id, token, payload)`.
pub(crate) fn inject(
    shared: &crate::state::Shared,
    kind: u8,
    channel_id: u64,
    user_id: u64,
    data: Value,
) -> Result<(u64, String, Option<u64>, Value), String> {
    if !matches!(kind, 2..=5) {
        return Err("type must be 2, 3, 4 or 5".to_owned());
    }
    let world = shared.world_read();
    let channel = world.channel(channel_id).ok_or("unknown channel")?;
    let user = world.users.get(&user_id).ok_or("unknown user")?;
    let id = shared.ids.next();
    let token = format!(
        "sim-interaction-{id}-{:x}",
        id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
    let mut payload = json!({
        "id": id.to_string(),
        "application_id": world.application_id.to_string(),
        "type": kind,
        "data": data,
        "channel_id": channel_id.to_string(),
        "channel": channel.to_json(),
        "token": token,
        "version": 1,
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": channel.guild_id.unwrap_or(0).to_string()},
        "context": if channel.guild_id.is_some() { 0 } else { 1 },
        "attachment_size_limit": 10_485_760,
    });
    if let Some(guild) = channel.guild_id.and_then(|g| world.guilds.get(&g)) {
        let member = guild
            .members
            .get(&user_id)
            .ok_or("user is not a member of the channel's guild")?;
        let mut m = member.to_json(user);
        m["permissions"] = json!(p::in_channel(guild, user_id, &channel.overwrites).to_string());
        payload["guild_id"] = json!(guild.id.to_string());
        payload["guild"] = json!({"id": guild.id.to_string(), "locale": "en-US", "features": []});
        payload["guild_locale"] = json!("en-US");
        payload["member"] = m;
        payload["app_permissions"] =
            json!(p::in_channel(guild, world.bot.id, &channel.overwrites).to_string());
    } else {
        payload["user"] = user.to_json();
        payload["app_permissions"] = json!(p::ALL.to_string());
    }
    let guild_id = channel.guild_id;
    drop(world);
    lock(&shared.interactions.by_id).insert(
        id,
        Record {
            kind,
            channel_id,
            created: Instant::now(),
            log: InteractionLog {
                id: id.to_string(),
                token: token.clone(),
                ..InteractionLog::default()
            },
        },
    );
    Ok((id, token, guild_id, payload))
}

pub(super) fn route(ctx: &mut Ctx<'_>, seg: &[&str]) -> ApiResult {
    let m = ctx.method.clone();
    match (&m, seg) {
        (&Method::POST, ["interactions", iid, token, "callback"]) => callback(ctx, iid, token),
        (&Method::POST, ["webhooks", app, token]) => followup(ctx, app, token),
        (_, ["webhooks", app, token, "messages", msg]) => webhook_message(ctx, app, token, msg),
        (&Method::GET, ["applications", "@me"]) => commands::application(ctx),
        (_, ["applications", app, "commands"]) => commands::commands(ctx, app, None),
        (_, ["applications", app, "guilds", guild, "commands"]) => {
            let guild = id(guild).ok_or_else(ApiError::unknown_guild)?;
            commands::commands(ctx, app, Some(guild))
        }
        _ => Err(ApiError::not_found()),
    }
}

fn callback(ctx: &mut Ctx<'_>, iid: &str, token: &str) -> ApiResult {
    let iid = id(iid).ok_or_else(ApiError::unknown_interaction)?;
    let shared = ctx.shared;
    let kind = ctx
        .body
        .get("type")
        .and_then(Value::as_u64)
        .ok_or_else(|| ApiError::required("type"))?;
    let (interaction_kind, channel_id) = {
        let by_id = lock(&shared.interactions.by_id);
        let r = by_id
            .get(&iid)
            .filter(|r| r.log.token == token)
            .ok_or_else(ApiError::unknown_interaction)?;
        if r.log.callback.is_some() {
            return Err(ApiError::already_acknowledged());
        }
        if r.created.elapsed() > shared.config.interaction_deadline {
            return Err(ApiError::unknown_interaction());
        }
        (r.kind, r.channel_id)
    };
    let allowed = match kind {
        4 | 5 => interaction_kind != 4,
        6 | 7 => interaction_kind == 3 || interaction_kind == 5,
        8 => interaction_kind == 4,
        9 => interaction_kind == 2 || interaction_kind == 3,
        _ => false,
    };
    if !allowed {
        return Err(ApiError::invalid_field(
            "type",
            "INTERACTION_RESPONSE_TYPE_INVALID",
            "Interaction response type is invalid for this interaction.",
        ));
    }
    let data = ctx.body.get("data").cloned().unwrap_or(Value::Null);
    let mut world = shared.world_write();
    let original = match kind {
        4 => Some(build(
            &world,
            &shared.http_url(),
            shared.ids.next(),
            channel_id,
            &data,
            20,
        )?),
        5 => {
            let mut loading = json!({"content": "", "flags": 128 | data.get("flags").and_then(Value::as_u64).unwrap_or(0)});
            loading["embeds"] = json!([]);
            let mut m = build(
                &world,
                &shared.http_url(),
                shared.ids.next(),
                channel_id,
                &json!({"content": "\u{200b}"}),
                20,
            )?;
            m["content"] = json!("");
            m["flags"] = loading["flags"].clone();
            Some(m)
        }
        _ => None,
    };
    if let Some(m) = &original {
        let mut m = m.clone();
        m["interaction_metadata"] = json!({"id": iid.to_string(), "type": interaction_kind, "user": world.bot.to_json(), "authorizing_integration_owners": {}});
        store(ctx, &mut world, channel_id, &m);
    }
    let mut by_id = lock(&shared.interactions.by_id);
    let r = by_id
        .get_mut(&iid)
        .ok_or_else(ApiError::unknown_interaction)?;
    r.log.callback = Some(ctx.body.clone());
    r.log.callback_after_ms =
        Some(u64::try_from(r.created.elapsed().as_millis()).unwrap_or(u64::MAX));
    r.log.original.clone_from(&original);
    if ctx.query.get("with_response").is_some_and(|v| v == "true") {
        let mut resp = json!({"interaction": {"id": iid.to_string(), "type": interaction_kind, "response_message_loading": kind == 5, "response_message_ephemeral": false}});
        if let Some(m) = original {
            resp["resource"] = json!({"type": kind, "message": m});
        }
        return ok(resp);
    }
    Ok(Reply::NoContent)
}

/// The interaction of a webhook token, checking the 15-minute lifetime.
fn by_token(ctx: &Ctx<'_>, app: &str, token: &str) -> Result<u64, ApiError> {
    let app_ok = id(app) == Some(ctx.shared.world_read().application_id);
    let by_id = lock(&ctx.shared.interactions.by_id);
    let (iid, r) = by_id
        .iter()
        .find(|(_, r)| r.log.token == token)
        .filter(|_| app_ok)
        .ok_or_else(ApiError::unknown_webhook)?;
    if r.created.elapsed() > TOKEN_LIFETIME {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            50027,
            "Invalid Webhook Token",
        ));
    }
    if r.log.callback.is_none() {
        return Err(ApiError::unknown_webhook());
    }
    Ok(*iid)
}

fn followup(ctx: &mut Ctx<'_>, app: &str, token: &str) -> ApiResult {
    let iid = by_token(ctx, app, token)?;
    let shared = ctx.shared;
    let channel_id = lock(&shared.interactions.by_id)
        .get(&iid)
        .map(|r| r.channel_id)
        .ok_or_else(ApiError::unknown_webhook)?;
    let mut world = shared.world_write();
    let msg = build(
        &world,
        &shared.http_url(),
        shared.ids.next(),
        channel_id,
        &ctx.body,
        0,
    )?;
    if msg["flags"].as_u64().unwrap_or(0) & 64 == 0 {
        store(ctx, &mut world, channel_id, &msg);
    }
    if let Some(r) = lock(&shared.interactions.by_id).get_mut(&iid) {
        r.log.followups.push(msg.clone());
    }
    ok(msg)
}

fn webhook_message(ctx: &mut Ctx<'_>, app: &str, token: &str, msg: &str) -> ApiResult {
    let iid = by_token(ctx, app, token)?;
    let shared = ctx.shared;
    let mut by_id = lock(&shared.interactions.by_id);
    let r = by_id.get_mut(&iid).ok_or_else(ApiError::unknown_webhook)?;
    let channel_id = r.channel_id;
    let slot: &mut Option<Value> = if msg == "@original" {
        &mut r.log.original
    } else {
        let mid = msg.to_owned();
        let Some(pos) = r
            .log
            .followups
            .iter()
            .position(|m| m["id"].as_str() == Some(mid.as_str()))
        else {
            return Err(ApiError::unknown_message());
        };
        return match ctx.method {
            Method::GET => ok(r.log.followups[pos].clone()),
            Method::PATCH => {
                let updated = edited(&r.log.followups[pos], &ctx.body)?;
                r.log.followups[pos] = updated.clone();
                drop(by_id);
                update_stored(ctx, channel_id, &updated);
                ok(updated)
            }
            Method::DELETE => {
                let removed = r.log.followups.remove(pos);
                drop(by_id);
                delete_stored(ctx, channel_id, &removed);
                Ok(Reply::NoContent)
            }
            _ => Err(ApiError::not_found()),
        };
    };
    let current = slot.clone().ok_or_else(ApiError::unknown_message)?;
    match ctx.method {
        Method::GET => ok(current),
        Method::PATCH => {
            let mut updated = edited(&current, &ctx.body)?;
            if let Some(f) = updated["flags"].as_u64() {
                updated["flags"] = json!(f & !128);
            }
            *slot = Some(updated.clone());
            drop(by_id);
            update_stored(ctx, channel_id, &updated);
            ok(updated)
        }
        Method::DELETE => {
            *slot = None;
            drop(by_id);
            delete_stored(ctx, channel_id, &current);
            Ok(Reply::NoContent)
        }
        _ => Err(ApiError::not_found()),
    }
}

fn update_stored(ctx: &mut Ctx<'_>, channel_id: u64, msg: &Value) {
    let mut world = ctx.shared.world_write();
    let Some(mid) = msg["id"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
        return;
    };
    let guild_id = world.channel(channel_id).and_then(|c| c.guild_id);
    if let Some(stored) = world
        .messages
        .get_mut(&channel_id)
        .and_then(|m| m.get_mut(&mid))
    {
        *stored = msg.clone();
        let mut event = msg.clone();
        if let Some(g) = guild_id {
            event["guild_id"] = json!(g.to_string());
        }
        ctx.events.push(("MESSAGE_UPDATE", guild_id, event));
    }
}

fn delete_stored(ctx: &mut Ctx<'_>, channel_id: u64, msg: &Value) {
    let mut world = ctx.shared.world_write();
    let Some(mid) = msg["id"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
        return;
    };
    let guild_id = world.channel(channel_id).and_then(|c| c.guild_id);
    if world
        .messages
        .get_mut(&channel_id)
        .and_then(|m| m.remove(&mid))
        .is_some()
    {
        let mut event = json!({"id": mid.to_string(), "channel_id": channel_id.to_string()});
        if let Some(g) = guild_id {
            event["guild_id"] = json!(g.to_string());
        }
        ctx.events.push(("MESSAGE_DELETE", guild_id, event));
    }
}
