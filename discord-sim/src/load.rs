//! The load generator: N dispatches per second of a chosen event mix across guilds and shards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::snowflake::{iso8601, now_ms};
use crate::state::Shared;

/// What to generate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSpec {
    /// Dispatches per second; 0 means as fast as possible.
    pub events_per_sec: u64,
    /// Total dispatches to generate.
    pub total: u64,
    /// Event types with relative weights: `MESSAGE_CREATE`, `TYPING_START`,
    /// `GUILD_MEMBER_UPDATE`, `MESSAGE_REACTION_ADD`.
    pub mix: Vec<(String, u32)>,
}

impl Default for LoadSpec {
    fn default() -> Self {
        Self {
            events_per_sec: 1000,
            total: 10_000,
            mix: vec![
                ("MESSAGE_CREATE".to_owned(), 6),
                ("TYPING_START".to_owned(), 2),
                ("MESSAGE_REACTION_ADD".to_owned(), 1),
                ("GUILD_MEMBER_UPDATE".to_owned(), 1),
            ],
        }
    }
}

/// What a load run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Dispatches generated.
    pub generated: u64,
    /// Session deliveries (one dispatch can reach several sessions).
    pub delivered: u64,
    /// Wall time in milliseconds.
    pub elapsed_ms: u64,
}

/// One event, serialised once: `d` is `prefix + id + suffix` (the id only varies for
/// MESSAGE_CREATE), with and without message content.
struct Prepared {
    name: &'static str,
    full: (String, String),
    stripped: (String, String),
    fresh_id: bool,
}

/// One guild's ready-made events.
struct Template {
    guild_id: u64,
    events: Vec<Prepared>,
}

/// Marker replaced by a fresh message id.
const ID_MARK: &str = "@@ID@@";

fn prepare(name: &'static str, body: &Value) -> Prepared {
    let split = |v: &Value| {
        let text = v.to_string();
        match text.split_once(ID_MARK) {
            Some((a, b)) => (a.to_owned(), b.to_owned()),
            None => (text, String::new()),
        }
    };
    let mut stripped = body.clone();
    if name == "MESSAGE_CREATE" {
        stripped["content"] = json!("");
    }
    Prepared {
        name,
        full: split(body),
        stripped: split(&stripped),
        fresh_id: name == "MESSAGE_CREATE",
    }
}

fn templates(shared: &Shared, mix: &[(String, u32)]) -> Vec<Template> {
    let world = shared.world_read();
    let bot = world.bot.id;
    world
        .guilds
        .values()
        .filter_map(|g| {
            let channel = g.channels.values().find(|c| c.kind == 0)?;
            let (uid, member) = g.members.iter().find(|(id, _)| **id != bot)?;
            let user = world.users.get(uid)?;
            let gid = g.id.to_string();
            let mut events = Vec::new();
            for (name, weight) in mix {
                let body = match name.as_str() {
                    "MESSAGE_CREATE" => json!({
                        "id": ID_MARK, "channel_id": channel.id.to_string(), "guild_id": gid, "author": user.to_json(),
                        "member": {"roles": [], "joined_at": iso8601(member.joined_at_ms), "deaf": false, "mute": false, "flags": 0},
                        "content": "load test message", "timestamp": iso8601(now_ms()), "edited_timestamp": null, "tts": false,
                        "mention_everyone": false, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
                        "pinned": false, "type": 0, "flags": 0, "components": [],
                    }),
                    "TYPING_START" => json!({"channel_id": channel.id.to_string(), "guild_id": gid, "user_id": uid.to_string(), "timestamp": now_ms() / 1000}),
                    "MESSAGE_REACTION_ADD" => json!({"user_id": uid.to_string(), "channel_id": channel.id.to_string(), "message_id": "1", "guild_id": gid, "emoji": {"id": null, "name": "👍"}, "burst": false, "type": 0}),
                    "GUILD_MEMBER_UPDATE" => {
                        let mut m = member.to_json(user);
                        m["guild_id"] = json!(gid);
                        m
                    }
                    _ => continue,
                };
                let name: &'static str = match name.as_str() {
                    "MESSAGE_CREATE" => "MESSAGE_CREATE",
                    "TYPING_START" => "TYPING_START",
                    "MESSAGE_REACTION_ADD" => "MESSAGE_REACTION_ADD",
                    _ => "GUILD_MEMBER_UPDATE",
                };
                for _ in 0..*weight {
                    events.push(prepare(name, &body));
                }
            }
            (!events.is_empty()).then_some(Template { guild_id: g.id, events })
        })
        .collect()
}

/// Runs a load spec to completion.
pub(crate) async fn run(shared: Arc<Shared>, spec: LoadSpec) -> LoadReport {
    let templates = templates(&shared, &spec.mix);
    let start = Instant::now();
    let mut report = LoadReport::default();
    if templates.is_empty() {
        return report;
    }
    let mut i: usize = 0;
    let batch = if spec.events_per_sec == 0 {
        1000
    } else {
        (spec.events_per_sec / 100).max(1)
    };
    let mut next_tick = tokio::time::Instant::now();
    while report.generated < spec.total && !shared.shutdown.is_cancelled() {
        for _ in 0..batch.min(spec.total - report.generated) {
            let t = &templates[i % templates.len()];
            let p = &t.events[(i / templates.len()) % t.events.len()];
            let delivered = if p.fresh_id {
                let id = shared.ids.next();
                let full = format!("{}{id}{}", p.full.0, p.full.1);
                let stripped = format!("{}{id}{}", p.stripped.0, p.stripped.1);
                shared.gateway.dispatch_prepared(
                    &shared.counters,
                    p.name,
                    Some(t.guild_id),
                    &full,
                    &stripped,
                )
            } else {
                shared.gateway.dispatch_prepared(
                    &shared.counters,
                    p.name,
                    Some(t.guild_id),
                    &p.full.0,
                    &p.stripped.0,
                )
            };
            report.delivered += u64::try_from(delivered).unwrap_or(0);
            report.generated += 1;
            i += 1;
        }
        if spec.events_per_sec == 0 {
            tokio::task::yield_now().await;
        } else {
            next_tick += Duration::from_millis(10);
            tokio::time::sleep_until(next_tick).await;
        }
    }
    report.elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}
