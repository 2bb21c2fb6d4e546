//! User routes (`/users/...`), DM channels and the gateway URL endpoints.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Ctx, id, ok};
use crate::world::permissions as p;
use crate::world::{Channel, channel_type};

pub(super) fn route(ctx: &mut Ctx<'_>, seg: &[&str]) -> ApiResult {
    let m = ctx.method.clone();
    match (&m, seg) {
        (&Method::GET, ["gateway"]) => {
            ok(json!({"url": ctx.shared.gateway_url(ctx.host.as_deref())}))
        }
        (&Method::GET, ["gateway", "bot"]) => gateway_bot(ctx),
        (&Method::GET, ["oauth2", "applications", "@me"]) => {
            ok(super::commands::application_json(&ctx.shared.world_read()))
        }
        (&Method::GET, ["users", "@me"]) => {
            let world = ctx.shared.world_read();
            let mut me = world.bot.to_json();
            me["verified"] = json!(true);
            me["mfa_enabled"] = json!(false);
            me["locale"] = json!("en-US");
            me["email"] = Value::Null;
            ok(me)
        }
        (&Method::GET, ["users", "@me", "guilds"]) => my_guilds(ctx),
        (&Method::POST, ["users", "@me", "channels"]) => dm(ctx),
        (&Method::GET, ["users", user]) => {
            let user = id(user).ok_or_else(ApiError::unknown_user)?;
            let world = ctx.shared.world_read();
            ok(world
                .users
                .get(&user)
                .ok_or_else(ApiError::unknown_user)?
                .to_json())
        }
        _ => Err(ApiError::not_found()),
    }
}

fn gateway_bot(ctx: &Ctx<'_>) -> ApiResult {
    let shared = ctx.shared;
    let (remaining, reset_after) = shared.gateway.start_limit(&shared.config);
    ok(json!({
        "url": shared.gateway_url(ctx.host.as_deref()),
        "shards": shared.config.shards,
        "session_start_limit": {
            "total": shared.config.session_start_total,
            "remaining": remaining,
            "reset_after": u64::try_from(reset_after.as_millis()).unwrap_or(u64::MAX),
            "max_concurrency": shared.config.max_concurrency,
        },
    }))
}

fn my_guilds(ctx: &Ctx<'_>) -> ApiResult {
    let limit = usize::try_from(ctx.query_u64("limit").unwrap_or(200).clamp(1, 200)).unwrap_or(200);
    let after = ctx.query_u64("after").unwrap_or(0);
    let world = ctx.shared.world_read();
    let bot = world.bot.id;
    let list: Vec<Value> = world
        .guilds
        .range(after.saturating_add(1)..)
        .take(limit)
        .map(|(_, g)| {
            json!({
                "id": g.id.to_string(),
                "name": g.name,
                "icon": null,
                "banner": null,
                "owner": g.owner_id == bot,
                "permissions": p::base(g, bot).to_string(),
                "features": [],
            })
        })
        .collect();
    ok(Value::Array(list))
}

fn dm(ctx: &mut Ctx<'_>) -> ApiResult {
    let recipient = match ctx.body.get("recipient_id") {
        Some(Value::String(s)) => s.parse::<u64>().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => return Err(ApiError::required("recipient_id")),
    }
    .ok_or_else(|| {
        ApiError::invalid_field(
            "recipient_id",
            "NUMBER_TYPE_COERCE",
            "Value is not snowflake.",
        )
    })?;
    let shared = ctx.shared;
    let mut world = shared.world_write();
    let user = world
        .users
        .get(&recipient)
        .cloned()
        .ok_or_else(ApiError::unknown_user)?;
    if let Some(existing) = world
        .dm_channels
        .values()
        .find(|c| c.recipient.as_ref().is_some_and(|u| u.id == recipient))
    {
        return ok(existing.to_json());
    }
    if user.bot {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            50007,
            "Cannot send messages to this user",
        ));
    }
    let channel = Channel {
        id: shared.ids.next(),
        kind: channel_type::DM,
        guild_id: None,
        name: String::new(),
        position: 0,
        topic: None,
        parent_id: None,
        overwrites: Vec::new(),
        rate_limit_per_user: 0,
        nsfw: false,
        last_message_id: None,
        recipient: Some(user),
        owner_id: None,
        archived: false,
        thread_members: Vec::new(),
    };
    let json = channel.to_json();
    world.dm_channels.insert(channel.id, channel);
    ok(json)
}
