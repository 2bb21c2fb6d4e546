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

/// One event, serialised once: `d` is `head + id + middle + nonce + tail` for MESSAGE_CREATE
/// (a fresh message id, and the send time as its `nonce`), just `head` for the others; with and
/// without message content.
struct Prepared {
    name: &'static str,
    full: Segments,
    stripped: Segments,
    fresh_id: bool,
}

/// A serialised `d` cut at the id and nonce markers.
struct Segments {
    head: String,
    middle: String,
    tail: String,
}

impl Segments {
    fn cut(v: &Value) -> Self {
        let text = v.to_string();
        let Some((head, rest)) = text.split_once(ID_MARK) else {
            return Self {
                head: text,
                middle: String::new(),
                tail: String::new(),
            };
        };
        let (middle, tail) = rest.split_once(NONCE_MARK).unwrap_or((rest, ""));
        Self {
            head: head.to_owned(),
            middle: middle.to_owned(),
            tail: tail.to_owned(),
        }
    }

    fn render(&self, id: u64, nonce: u128) -> String {
        format!("{}{id}{}{nonce}{}", self.head, self.middle, self.tail)
    }
}

/// One guild's ready-made events.
struct Template {
    guild_id: u64,
    events: Vec<Prepared>,
}

/// Marker replaced by a fresh message id.
const ID_MARK: &str = "@@ID@@";
/// Marker replaced by the send time, microseconds since the Unix epoch, in MESSAGE_CREATE's
/// `nonce` (a field Discord echoes from the sender): benchmarks read it back downstream to time
/// the path from the simulator's send.
const NONCE_MARK: &str = "@@NONCE@@";

/// Microseconds since the Unix epoch.
pub(crate) fn now_micros() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

fn prepare(name: &'static str, body: &Value) -> Prepared {
    let mut stripped = body.clone();
    if name == "MESSAGE_CREATE" {
        stripped["content"] = json!("");
    }
    Prepared {
        name,
        full: Segments::cut(body),
        stripped: Segments::cut(&stripped),
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
                        "pinned": false, "type": 0, "flags": 0, "components": [], "nonce": NONCE_MARK,
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
    // As fast as possible: 1,000 at a time between yields. Paced: a tick every millisecond (or
    // every event, below 1,000/s), so a paced run is as smooth as the timer allows and latency
    // figures measure the path, not bursts queued behind each other.
    let (batch, tick) = match spec.events_per_sec {
        0 => (1000, Duration::ZERO),
        rate if rate >= 1000 => (rate.div_ceil(1000), Duration::from_millis(1)),
        rate => (1, Duration::from_secs(1) / u32::try_from(rate).unwrap_or(1)),
    };
    let mut sent_in_ticks: u64 = 0;
    let mut next_tick = tokio::time::Instant::now();
    while report.generated < spec.total && !shared.shutdown.is_cancelled() {
        // Paced runs send what the rate allows up to now, so rounding in `batch` never drifts.
        let due = if spec.events_per_sec == 0 {
            batch
        } else {
            let elapsed = start.elapsed().as_secs_f64();
            let allowed = (elapsed * spec.events_per_sec as f64) as u64 + batch;
            allowed.saturating_sub(sent_in_ticks).min(batch * 2)
        };
        for _ in 0..due.min(spec.total - report.generated) {
            let t = &templates[i % templates.len()];
            let p = &t.events[(i / templates.len()) % t.events.len()];
            let delivered = if p.fresh_id {
                let id = shared.ids.next();
                let nonce = now_micros();
                let full = p.full.render(id, nonce);
                let stripped = p.stripped.render(id, nonce);
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
                    &p.full.head,
                    &p.stripped.head,
                )
            };
            report.delivered += u64::try_from(delivered).unwrap_or(0);
            report.generated += 1;
            sent_in_ticks += 1;
            i += 1;
        }
        if spec.events_per_sec == 0 {
            tokio::task::yield_now().await;
        } else {
            next_tick += tick;
            tokio::time::sleep_until(next_tick).await;
        }
    }
    report.elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}
