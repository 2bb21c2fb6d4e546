//! The control API over HTTP (`/_sim/...`, JSON), for tools that are not Rust tests.

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use crate::gateway::ShardAction;
use crate::http::{HttpResponse, json_error, json_response, read_body};
use crate::state::Shared;
use crate::world::{World, shard_of};

fn bad_request(message: &str) -> HttpResponse {
    json_error(StatusCode::BAD_REQUEST, 0, message)
}

fn snowflake_field(v: &Value, key: &str) -> Result<Option<u64>, String> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("{key} is not a snowflake")),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("{key} is not a snowflake")),
        Some(_) => Err(format!("{key} is not a snowflake")),
    }
}

/// Serves one `/_sim/...` request.
pub(crate) async fn handle(
    req: Request<Incoming>,
    shared: &std::sync::Arc<Shared>,
) -> HttpResponse {
    let method = req.method().clone();
    let path = req.uri().path().trim_end_matches('/').to_owned();
    let body = if method == Method::POST {
        match read_body(req.into_body()).await {
            Some(b) if b.is_empty() => Value::Object(serde_json::Map::new()),
            Some(b) => match serde_json::from_slice(&b) {
                Ok(v) => v,
                Err(e) => return bad_request(&format!("body is not JSON: {e}")),
            },
            None => return bad_request("body unreadable"),
        }
    } else {
        Value::Null
    };
    let segments: Vec<&str> = path.trim_start_matches("/_sim/").split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["counters"]) => ok(&shared.counters.snapshot()),
        (&Method::GET, ["sessions"]) => ok(&shared.gateway.sessions()),
        (&Method::GET, ["world"]) => json_response(
            StatusCode::OK,
            &world_summary(&shared.world_read(), shared.config.shards),
        ),
        (&Method::GET, ["world", "export"]) => ok(&*shared.world_read()),
        (&Method::POST, ["world", "load"]) => match serde_json::from_value::<World>(body.clone()) {
            Ok(world) => {
                shared.set_world(world);
                json_response(
                    StatusCode::OK,
                    &world_summary(&shared.world_read(), shared.config.shards),
                )
            }
            Err(e) => bad_request(&format!("invalid scenario: {e}")),
        },
        (&Method::POST, ["world", "reset"]) => {
            let get = |k: &str, d: u64| body.get(k).and_then(Value::as_u64).unwrap_or(d);
            let guilds =
                u32::try_from(get("guilds", u64::from(shared.config.guilds))).unwrap_or(u32::MAX);
            let members =
                u32::try_from(get("members", u64::from(shared.config.members))).unwrap_or(u32::MAX);
            let world = World::seeded(get("seed", shared.config.seed), guilds, members);
            shared.set_world(world);
            json_response(
                StatusCode::OK,
                &world_summary(&shared.world_read(), shared.config.shards),
            )
        }
        (&Method::POST, ["dispatch"]) => {
            let Some(event) = body.get("event").and_then(Value::as_str) else {
                return bad_request("event (string) is required");
            };
            let guild_id = match snowflake_field(&body, "guild_id") {
                Ok(g) => g,
                Err(e) => return bad_request(&e),
            };
            let data = body.get("data").cloned().unwrap_or(Value::Null);
            let sessions = shared.dispatch(event, guild_id, &data);
            json_response(StatusCode::OK, &json!({"sessions": sessions}))
        }
        (&Method::GET, ["rest", "calls"]) => {
            let calls: Vec<_> = shared
                .calls
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
                .cloned()
                .collect();
            ok(&calls)
        }
        (&Method::POST, ["interactions"]) => {
            let kind = body
                .get("type")
                .and_then(Value::as_u64)
                .and_then(|k| u8::try_from(k).ok());
            let channel = snowflake_field(&body, "channel_id");
            let user = snowflake_field(&body, "user_id");
            let (Some(kind), Ok(Some(channel)), Ok(Some(user))) = (kind, channel, user) else {
                return bad_request("type, channel_id and user_id are required");
            };
            let data = body.get("data").cloned().unwrap_or(Value::Null);
            match crate::rest::interactions::inject(shared, kind, channel, user, data) {
                Ok((id, token, guild_id, payload)) => {
                    shared.dispatch("INTERACTION_CREATE", guild_id, &payload);
                    json_response(
                        StatusCode::OK,
                        &json!({"id": id.to_string(), "token": token}),
                    )
                }
                Err(e) => bad_request(&e),
            }
        }
        (&Method::GET, ["interactions", id]) => {
            match id.parse().ok().and_then(|id| shared.interactions.log(id)) {
                Some(log) => ok(&log),
                None => json_error(StatusCode::NOT_FOUND, 0, "unknown interaction"),
            }
        }
        (&Method::POST, ["ratelimits", "resource"]) => {
            let Some(resource) = body.get("resource").and_then(Value::as_str) else {
                return bad_request("resource (string) is required");
            };
            let ms = body
                .get("duration_ms")
                .and_then(Value::as_u64)
                .unwrap_or(1000);
            shared
                .ratelimits
                .limit_resource(resource, std::time::Duration::from_millis(ms));
            json_response(StatusCode::OK, &json!({}))
        }
        (&Method::POST, ["load"]) => {
            let spec: crate::LoadSpec = match serde_json::from_value(body.clone()) {
                Ok(s) => s,
                Err(e) => return bad_request(&format!("invalid load spec: {e}")),
            };
            let report = crate::load::run(std::sync::Arc::clone(shared), spec).await;
            ok(&report)
        }
        (&Method::POST, ["shards", shard, action]) => {
            let Ok(shard) = shard.parse::<u32>() else {
                return bad_request("shard id is not a number");
            };
            let action = match *action {
                "reconnect" => ShardAction::Reconnect,
                "invalidate" => ShardAction::InvalidSession(
                    body.get("resumable")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                ),
                "close" => match body
                    .get("code")
                    .and_then(Value::as_u64)
                    .and_then(|c| u16::try_from(c).ok())
                {
                    Some(code) => ShardAction::Close(code),
                    None => return bad_request("code (integer) is required"),
                },
                "drop" => ShardAction::DropConnection,
                "heartbeat" => ShardAction::RequestHeartbeat,
                "freeze" => ShardAction::Freeze,
                _ => return json_error(StatusCode::NOT_FOUND, 0, "unknown shard action"),
            };
            let connections = shared.gateway.act(shard, &action);
            json_response(StatusCode::OK, &json!({"connections": connections}))
        }
        _ => json_error(StatusCode::NOT_FOUND, 0, "404: Not Found"),
    }
}

fn ok<T: serde::Serialize>(v: &T) -> HttpResponse {
    match serde_json::to_value(v) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, 0, &e.to_string()),
    }
}

/// Ids a tool needs to address the world.
fn world_summary(world: &World, shards: u32) -> Value {
    let guilds: Vec<Value> = world
        .guilds
        .values()
        .map(|g| {
            json!({
                "id": g.id.to_string(),
                "name": g.name,
                "shard": shard_of(g.id, shards),
                "owner_id": g.owner_id.to_string(),
                "member_count": g.members.len(),
                "channels": g.channels.values().map(|c| json!({"id": c.id.to_string(), "name": c.name, "type": c.kind})).collect::<Vec<_>>(),
                "roles": g.roles.values().map(|r| json!({"id": r.id.to_string(), "name": r.name, "position": r.position})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "bot_id": world.bot.id.to_string(),
        "application_id": world.application_id.to_string(),
        "guilds": guilds,
    })
}
