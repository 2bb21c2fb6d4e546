//! Gateway v10: sessions, dispatch routing and the control operations on shards.

pub(crate) mod compress;
mod connection;
mod identify;
mod payloads;
mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

pub(crate) use connection::serve;
pub(crate) use session::Outbound;
use session::Session;

use crate::intents;
use crate::world::shard_of;

/// What the control API can do to the connections of a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardAction {
    /// Send op 7 Reconnect.
    Reconnect,
    /// Send op 9 Invalid Session with this `d`; `false` also ends the session.
    InvalidSession(bool),
    /// Close with this code (and invalidate the session when the code is not resumable).
    Close(u16),
    /// Drop the TCP connection without a close frame.
    DropConnection,
    /// Send op 1, asking for an immediate heartbeat.
    RequestHeartbeat,
    /// Go silent (a zombied connection): no more dispatches, heartbeat ACKs or answers; the TCP
    /// connection stays open and the session stays resumable.
    Freeze,
}

/// A session as the control API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    /// `session_id`.
    pub session_id: String,
    /// `[shard_id, num_shards]`.
    pub shard: [u32; 2],
    /// Intents from IDENTIFY.
    pub intents: u64,
    /// Last sequence number handed out.
    pub seq: u64,
    /// Whether a connection is attached.
    pub connected: bool,
}

/// `session_start_limit` state.
#[derive(Debug)]
struct StartLimit {
    remaining: u32,
    reset_at: Instant,
}

/// The gateway's shared state.
#[derive(Debug)]
pub(crate) struct Gateway {
    sessions: RwLock<HashMap<String, Arc<Session>>>,
    buckets: Mutex<HashMap<u32, Instant>>,
    start_limit: Mutex<StartLimit>,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Close codes after which Discord does not let the session resume.
pub(crate) fn ends_session(code: u16) -> bool {
    matches!(code, 1000 | 1001 | 4004 | 4007 | 4009..=4014)
}

impl Gateway {
    pub(crate) fn new(config: &crate::Config) -> Self {
        Self {
            sessions: RwLock::new(HashMap::new()),
            buckets: Mutex::new(HashMap::new()),
            start_limit: Mutex::new(StartLimit {
                remaining: config.session_start_remaining,
                reset_at: Instant::now() + config.session_start_reset_after,
            }),
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn sessions_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn sessions_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `(remaining, reset_after)` of the session start limit, resetting it when due.
    pub(crate) fn start_limit(&self, config: &crate::Config) -> (u32, Duration) {
        let mut limit = lock(&self.start_limit);
        let now = Instant::now();
        if now >= limit.reset_at {
            limit.remaining = config.session_start_total;
            limit.reset_at = now + config.session_start_reset_after;
        }
        (limit.remaining, limit.reset_at - now)
    }

    /// Spends one session start; `false` when none is left.
    fn spend_start(&self, config: &crate::Config) -> bool {
        self.start_limit(config);
        let mut limit = lock(&self.start_limit);
        if limit.remaining == 0 {
            return false;
        }
        limit.remaining -= 1;
        true
    }

    /// Takes the identify slot of `shard_id`'s concurrency bucket; `false` if the previous
    /// IDENTIFY in that bucket was less than `identify_interval` ago.
    fn take_bucket(&self, config: &crate::Config, shard_id: u32) -> bool {
        let bucket = shard_id % config.max_concurrency.max(1);
        let mut buckets = lock(&self.buckets);
        let now = Instant::now();
        match buckets.get(&bucket) {
            Some(last) if now.duration_since(*last) < config.identify_interval => false,
            _ => {
                buckets.insert(bucket, now);
                true
            }
        }
    }

    fn insert(&self, session: Arc<Session>) {
        self.sessions_write().insert(session.id.clone(), session);
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions_read().get(id).cloned()
    }

    pub(crate) fn remove(&self, id: &str) {
        self.sessions_write().remove(id);
    }

    /// Drops sessions detached for longer than `timeout`.
    pub(crate) fn expire(&self, timeout: Duration) {
        self.sessions_write()
            .retain(|_, s| s.lock().detached_at.is_none_or(|at| at.elapsed() < timeout));
    }

    /// Sessions for the control API, sorted by shard.
    pub(crate) fn sessions(&self) -> Vec<SessionInfo> {
        let mut out: Vec<SessionInfo> = self
            .sessions_read()
            .values()
            .map(|s| {
                let inner = s.lock();
                SessionInfo {
                    session_id: s.id.clone(),
                    shard: s.shard,
                    intents: s.intents,
                    seq: inner.seq,
                    connected: inner.link.is_some(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.shard.cmp(&b.shard).then(a.session_id.cmp(&b.session_id)));
        out
    }

    /// Routes a dispatch to every session that should see it (shard formula, DMs to shard 0,
    /// intents, message content). Returns how many sessions got it.
    pub(crate) fn dispatch(
        &self,
        counters: &crate::counters::Counters,
        bot_id: u64,
        event: &str,
        guild_id: Option<u64>,
        data: &Value,
    ) -> usize {
        let full = data.to_string();
        let stripped = std::cell::OnceCell::new();
        let private = content_is_private(event, bot_id, data);
        self.route(
            counters,
            event,
            guild_id,
            &full,
            private.then_some(&stripped),
            &|| strip_content(data).to_string(),
        )
    }

    /// Like [`Self::dispatch`] with `d` already serialised: `full`, and `stripped` (without
    /// message content) for sessions lacking MESSAGE_CONTENT.
    pub(crate) fn dispatch_prepared(
        &self,
        counters: &crate::counters::Counters,
        event: &str,
        guild_id: Option<u64>,
        full: &str,
        stripped: &str,
    ) -> usize {
        let cell = std::cell::OnceCell::new();
        self.route(counters, event, guild_id, full, Some(&cell), &|| {
            stripped.to_owned()
        })
    }

    /// Sequences `event` on every session routed to it. Sessions without MESSAGE_CONTENT get
    /// the text of `stripped` (filled by `make_stripped`) when it is given.
    fn route(
        &self,
        counters: &crate::counters::Counters,
        event: &str,
        guild_id: Option<u64>,
        full: &str,
        stripped: Option<&std::cell::OnceCell<String>>,
        make_stripped: &dyn Fn() -> String,
    ) -> usize {
        let required = intents::required(event, guild_id.is_some());
        let mut sent = 0;
        for session in self.sessions_read().values() {
            let [shard_id, shards] = session.shard;
            let routed = match guild_id {
                Some(g) => shard_of(g, shards) == shard_id,
                None => shard_id == 0,
            };
            if !routed || required.is_some_and(|bits| session.intents & bits == 0) {
                continue;
            }
            let d = match stripped {
                Some(cell) if session.intents & intents::MESSAGE_CONTENT == 0 => {
                    cell.get_or_init(make_stripped).as_str()
                }
                _ => full,
            };
            let seq = session.dispatch(event, d);
            counters.dispatched(shard_id, seq);
            sent += 1;
        }
        sent
    }

    /// Applies a control action to every session of `shard_id`; returns how many were hit.
    pub(crate) fn act(&self, shard_id: u32, action: &ShardAction) -> usize {
        let targets: Vec<Arc<Session>> = self
            .sessions_read()
            .values()
            .filter(|s| s.shard[0] == shard_id)
            .cloned()
            .collect();
        let mut hit = 0;
        for s in targets {
            let out = match action {
                ShardAction::Reconnect => {
                    Outbound::Text(r#"{"op":7,"d":null,"s":null,"t":null}"#.into())
                }
                ShardAction::InvalidSession(d) => {
                    Outbound::Text(format!(r#"{{"op":9,"d":{d},"s":null,"t":null}}"#).into())
                }
                ShardAction::Close(code) => {
                    Outbound::Close(*code, "closed by discord-sim control".into())
                }
                ShardAction::DropConnection => Outbound::Drop,
                ShardAction::RequestHeartbeat => {
                    Outbound::Text(r#"{"op":1,"d":null,"s":null,"t":null}"#.into())
                }
                ShardAction::Freeze => Outbound::Freeze,
            };
            if s.send_raw(out) {
                hit += 1;
            }
            let invalidate = match action {
                ShardAction::InvalidSession(d) => !d,
                ShardAction::Close(code) => ends_session(*code),
                _ => false,
            };
            if invalidate {
                self.remove(&s.id);
            }
        }
        hit
    }
}

/// Whether a message event's user content is hidden from sessions without MESSAGE_CONTENT:
/// guild messages not sent by the bot and not mentioning it.
fn content_is_private(event: &str, bot_id: u64, data: &Value) -> bool {
    if !matches!(event, "MESSAGE_CREATE" | "MESSAGE_UPDATE") {
        return false;
    }
    if data.get("guild_id").is_none_or(Value::is_null) {
        return false;
    }
    let bot = bot_id.to_string();
    let by_bot = data
        .pointer("/author/id")
        .and_then(Value::as_str)
        .is_some_and(|id| id == bot);
    let mentions_bot = data
        .get("mentions")
        .and_then(Value::as_array)
        .is_some_and(|m| {
            m.iter()
                .any(|u| u.get("id").and_then(Value::as_str) == Some(&bot))
        });
    !by_bot && !mentions_bot
}

/// The message with `content`, `embeds`, `attachments`, `components` and `poll` emptied.
fn strip_content(data: &Value) -> Value {
    let mut v = data.clone();
    if let Some(obj) = v.as_object_mut() {
        for (key, empty) in [
            ("content", Value::String(String::new())),
            ("embeds", Value::Array(Vec::new())),
            ("attachments", Value::Array(Vec::new())),
            ("components", Value::Array(Vec::new())),
        ] {
            if obj.contains_key(key) {
                obj.insert(key.to_owned(), empty);
            }
        }
        obj.remove("poll");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_content_is_stripped_unless_bot_involved() {
        let msg = json!({"guild_id": "1", "author": {"id": "5"}, "content": "hi", "mentions": []});
        assert!(content_is_private("MESSAGE_CREATE", 9, &msg));
        assert!(!content_is_private("MESSAGE_CREATE", 5, &msg));
        assert_eq!(strip_content(&msg)["content"], "");
        let dm = json!({"author": {"id": "5"}, "content": "hi"});
        assert!(!content_is_private("MESSAGE_CREATE", 9, &dm));
    }
}
