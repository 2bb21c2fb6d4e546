//! Builders of the dispatch payloads the gateway sends on its own (READY, GUILD_CREATE, chunks).

use serde_json::{Value, json};

use crate::intents;
use crate::snowflake::iso8601;
use crate::world::{Guild, Member, Status, World};

/// Guilds over this many members only send the bot and voice members, whatever the intents.
const HUGE_GUILD: usize = 75_000;

/// Members per GUILD_MEMBERS_CHUNK.
pub(crate) const CHUNK_SIZE: usize = 1000;

/// The READY `d`.
pub(crate) fn ready(
    world: &World,
    guild_ids: &[u64],
    session_id: &str,
    resume_url: &str,
    shard: [u32; 2],
) -> Value {
    let mut user = world.bot.to_json();
    user["verified"] = json!(true);
    user["mfa_enabled"] = json!(false);
    user["email"] = Value::Null;
    let guilds: Vec<Value> = guild_ids
        .iter()
        .filter_map(|id| world.guilds.get(id))
        .map(Guild::unavailable_json)
        .collect();
    json!({
        "v": 10,
        "user": user,
        "guilds": guilds,
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_url,
        "shard": shard,
        "application": {"id": world.application_id.to_string(), "flags": 565_248},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "user_settings": {},
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": ["sim"],
        "_trace": ["[\"discord-sim\"]"],
    })
}

fn presence(member: &Member) -> Value {
    json!({
        "user": {"id": member.user_id.to_string()},
        "status": member.status.as_str(),
        "client_status": {"desktop": member.status.as_str()},
        "activities": [],
    })
}

/// The GUILD_CREATE `d` for a session with `session_intents` and `large_threshold`.
pub(crate) fn guild_create(
    world: &World,
    guild: &Guild,
    session_intents: u64,
    large_threshold: usize,
) -> Value {
    let member_count = guild.members.len();
    let large = member_count > large_threshold;
    let with_presences = session_intents & intents::GUILD_PRESENCES != 0;
    let bot_id = world.bot.id;
    let members: Vec<&Member> = if !with_presences || member_count > HUGE_GUILD {
        guild.members.get(&bot_id).into_iter().collect()
    } else if large {
        guild
            .members
            .values()
            .filter(|m| {
                m.user_id == bot_id
                    || m.status != Status::Offline
                    || !m.roles.is_empty()
                    || m.nick.is_some()
            })
            .collect()
    } else {
        guild.members.values().collect()
    };
    let presences: Vec<Value> = members
        .iter()
        .filter(|m| m.status != Status::Offline)
        .map(|m| presence(m))
        .collect();
    let members: Vec<Value> = members
        .iter()
        .filter_map(|m| world.users.get(&m.user_id).map(|u| m.to_json(u)))
        .collect();
    let mut v = guild.to_json();
    let extra = json!({
        "joined_at": iso8601(guild.joined_at_ms),
        "large": large,
        "unavailable": false,
        "member_count": member_count,
        "voice_states": [],
        "members": members,
        "channels": guild.channels.values().map(|c| c.to_json()).collect::<Vec<_>>(),
        "threads": guild.threads.values().map(|c| c.to_json()).collect::<Vec<_>>(),
        "presences": presences,
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "lazy": true,
        "application_command_counts": {},
    });
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    v
}

/// A REQUEST_GUILD_MEMBERS (op 8) after validation.
#[derive(Debug)]
pub(crate) struct MemberRequest {
    pub(crate) guild_id: u64,
    pub(crate) query: Option<String>,
    pub(crate) limit: usize,
    pub(crate) user_ids: Option<Vec<u64>>,
    pub(crate) presences: bool,
    pub(crate) nonce: Option<String>,
}

fn snowflake_value(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Parses op 8's `d`; `None` when malformed (close 4001).
pub(crate) fn parse_member_request(d: &Value) -> Option<MemberRequest> {
    let obj = d.as_object()?;
    let guild_id = snowflake_value(obj.get("guild_id")?)?;
    let user_ids = match obj.get("user_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a.iter().map(snowflake_value).collect::<Option<Vec<_>>>()?),
        Some(v) => Some(vec![snowflake_value(v)?]),
    };
    let query = match obj.get("query") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return None,
    };
    if query.is_none() && user_ids.is_none() {
        return None;
    }
    let limit = match obj.get("limit") {
        None | Some(Value::Null) if query.is_some() => return None,
        None | Some(Value::Null) => 0,
        Some(v) => usize::try_from(v.as_u64()?).ok()?,
    };
    let nonce = obj
        .get("nonce")
        .and_then(Value::as_str)
        .filter(|n| n.len() <= 32)
        .map(str::to_owned);
    Some(MemberRequest {
        guild_id,
        query,
        limit,
        user_ids,
        presences: obj
            .get("presences")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        nonce,
    })
}

/// The GUILD_MEMBERS_CHUNK payloads answering `req`, or `None` when the session may not ask
/// for the whole member list (no GUILD_MEMBERS intent).
pub(crate) fn member_chunks(
    world: &World,
    guild: &Guild,
    req: &MemberRequest,
    session_intents: u64,
) -> Option<Vec<Value>> {
    let presences = req.presences && session_intents & intents::GUILD_PRESENCES != 0;
    let mut not_found = Vec::new();
    let selected: Vec<&Member> = if let Some(ids) = &req.user_ids {
        ids.iter()
            .take(100)
            .filter_map(|id| {
                let m = guild.members.get(id);
                if m.is_none() {
                    not_found.push(id.to_string());
                }
                m
            })
            .collect()
    } else {
        let query = req.query.as_deref().unwrap_or("").to_lowercase();
        if query.is_empty() && session_intents & intents::GUILD_MEMBERS == 0 {
            return None;
        }
        let limit = if query.is_empty() {
            if req.limit == 0 {
                usize::MAX
            } else {
                req.limit
            }
        } else {
            req.limit.clamp(1, 100)
        };
        guild
            .members
            .values()
            .filter(|m| {
                query.is_empty()
                    || world.users.get(&m.user_id).is_some_and(|u| {
                        u.username.to_lowercase().starts_with(&query)
                            || m.nick
                                .as_ref()
                                .is_some_and(|n| n.to_lowercase().starts_with(&query))
                    })
            })
            .take(limit)
            .collect()
    };
    let chunk_count = selected.len().div_ceil(CHUNK_SIZE).max(1);
    let mut out = Vec::with_capacity(chunk_count);
    for index in 0..chunk_count {
        let part = selected.iter().skip(index * CHUNK_SIZE).take(CHUNK_SIZE);
        let members: Vec<Value> = part
            .clone()
            .filter_map(|m| world.users.get(&m.user_id).map(|u| m.to_json(u)))
            .collect();
        let mut chunk = json!({
            "guild_id": guild.id.to_string(),
            "members": members,
            "chunk_index": index,
            "chunk_count": chunk_count,
        });
        if presences {
            chunk["presences"] = Value::Array(
                part.filter(|m| m.status != Status::Offline)
                    .map(|m| presence(m))
                    .collect(),
            );
        }
        if index == 0 && !not_found.is_empty() {
            chunk["not_found"] = json!(not_found);
        }
        if let Some(nonce) = &req.nonce {
            chunk["nonce"] = json!(nonce);
        }
        out.push(chunk);
    }
    Some(out)
}
