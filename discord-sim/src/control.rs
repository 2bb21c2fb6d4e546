//! The handle tests use to drive a running simulator.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::counters::CountersSnapshot;
use crate::gateway::{SessionInfo, ShardAction};
use crate::state::Shared;
use crate::world::World;

/// A running simulator. Dropping it does not stop the server; call [`SimHandle::shutdown`].
#[derive(Debug)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) task: JoinHandle<()>,
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Base URL of the HTTP API, e.g. `http://127.0.0.1:41234` (REST lives under `/api/v10`).
    pub fn http_url(&self) -> String {
        self.shared.http_url()
    }

    /// Base URL of the gateway, e.g. `ws://127.0.0.1:41234` (what `/gateway/bot` returns).
    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.shared.addr)
    }

    /// The bot token the simulator accepts.
    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    /// A snapshot of the world.
    pub fn world(&self) -> World {
        self.shared.world_read().clone()
    }

    /// Runs `f` with mutable access to the world (no events are emitted for the change).
    pub fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.shared.world_write())
    }

    /// Replaces the world (e.g. with a scenario).
    pub fn set_world(&self, world: World) {
        self.shared.set_world(world);
    }

    /// Replaces the world with a freshly seeded one.
    pub fn reset_world(&self, seed: u64, guilds: u32, members: u32) {
        self.shared.set_world(World::seeded(seed, guilds, members));
    }

    /// Dispatches `event` with `data` as `d` to every session that should receive it: by the
    /// sharding formula when `guild_id` is given (shard 0 otherwise) and by intents. Returns the
    /// number of sessions it was sequenced on.
    pub fn dispatch(&self, event: &str, guild_id: Option<u64>, data: &Value) -> usize {
        self.shared.dispatch(event, guild_id, data)
    }

    /// Applies `action` to every session of `shard_id`; returns how many connections got it.
    pub fn shard_action(&self, shard_id: u32, action: &ShardAction) -> usize {
        self.shared.gateway.act(shard_id, action)
    }

    /// Sends op 7 Reconnect to `shard_id`.
    pub fn reconnect(&self, shard_id: u32) -> usize {
        self.shard_action(shard_id, &ShardAction::Reconnect)
    }

    /// Sends op 9 Invalid Session with `resumable` as `d` to `shard_id`.
    pub fn invalidate_session(&self, shard_id: u32, resumable: bool) -> usize {
        self.shard_action(shard_id, &ShardAction::InvalidSession(resumable))
    }

    /// Closes `shard_id`'s connections with close code `code`.
    pub fn close(&self, shard_id: u32, code: u16) -> usize {
        self.shard_action(shard_id, &ShardAction::Close(code))
    }

    /// Drops `shard_id`'s TCP connections without a close frame.
    pub fn drop_connection(&self, shard_id: u32) -> usize {
        self.shard_action(shard_id, &ShardAction::DropConnection)
    }

    /// Sends op 1, requesting an immediate heartbeat from `shard_id`.
    pub fn request_heartbeat(&self, shard_id: u32) -> usize {
        self.shard_action(shard_id, &ShardAction::RequestHeartbeat)
    }

    /// Makes `shard_id`'s connections zombies: silent, no heartbeat ACKs, TCP left open.
    pub fn freeze(&self, shard_id: u32) -> usize {
        self.shard_action(shard_id, &ShardAction::Freeze)
    }

    /// Live sessions.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.gateway.sessions()
    }

    /// The counters.
    pub fn counters(&self) -> CountersSnapshot {
        self.shared.counters.snapshot()
    }

    /// Injects an interaction (`kind` 2 slash command, 3 component, 4 autocomplete, 5 modal
    /// submit) by `user_id` in `channel_id` with `data` as its `data`, dispatching
    /// INTERACTION_CREATE. Returns `(interaction id, token)`.
    ///
    /// # Errors
    ///
    /// Returns a message when the type, channel or user is unknown.
    pub fn inject_interaction(
        &self,
        kind: u8,
        channel_id: u64,
        user_id: u64,
        data: Value,
    ) -> Result<(u64, String), String> {
        let (id, token, guild_id, payload) =
            crate::rest::interactions::inject(&self.shared, kind, channel_id, user_id, data)?;
        self.shared
            .dispatch("INTERACTION_CREATE", guild_id, &payload);
        Ok((id, token))
    }

    /// What the bot did with an injected interaction (callback, original, follow-ups).
    pub fn interaction(&self, id: u64) -> Option<crate::rest::InteractionLog> {
        self.shared.interactions.log(id)
    }

    /// Puts a message by `author_id` into `channel_id`'s history, sent `age` ago (its snowflake
    /// carries that time, as Discord's do), without dispatching it: a backlog for tests of
    /// history reads and deletes (bulk delete refuses messages over 14 days old). Returns its id.
    ///
    /// # Errors
    ///
    /// Returns a message when the channel or the user is unknown.
    pub fn seed_message(
        &self,
        channel_id: u64,
        author_id: u64,
        content: &str,
        age: std::time::Duration,
    ) -> Result<u64, String> {
        self.seed(channel_id, author_id, content, age, None)
    }

    /// [`SimHandle::seed_message`] with one attachment: `data` is served at the attachment's
    /// `url` (`{http_url}/attachments/{channel}/{attachment}/{filename}`), as Discord's CDN
    /// serves uploaded files. Returns the message id; the attachment object is in its JSON.
    ///
    /// # Errors
    ///
    /// Returns a message when the channel or the user is unknown.
    pub fn seed_message_with_attachment(
        &self,
        channel_id: u64,
        author_id: u64,
        content: &str,
        age: std::time::Duration,
        attachment: SeedAttachment,
    ) -> Result<u64, String> {
        self.seed(channel_id, author_id, content, age, Some(attachment))
    }

    fn seed(
        &self,
        channel_id: u64,
        author_id: u64,
        content: &str,
        age: std::time::Duration,
        attachment: Option<SeedAttachment>,
    ) -> Result<u64, String> {
        use crate::snowflake::{iso8601, now_ms, snowflake};
        let base = self.shared.http_url();
        self.with_world(|world| {
            if world.channel(channel_id).is_none() {
                return Err(format!("unknown channel {channel_id}"));
            }
            let author = world
                .users
                .get(&author_id)
                .ok_or_else(|| format!("unknown user {author_id}"))?
                .to_json();
            let at = now_ms().saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX));
            let history = world.messages.entry(channel_id).or_default();
            // A free id at that millisecond (several messages may share one).
            let mut id = snowflake(at, 0);
            while history.contains_key(&id) {
                id += 1;
            }
            let attachments: Vec<Value> = attachment
                .into_iter()
                .map(|a| {
                    let aid = crate::cdn::attachment_id(id, 0);
                    let url = crate::cdn::url(&base, channel_id, aid, &a.filename);
                    let json = serde_json::json!({
                        "id": aid.to_string(), "filename": a.filename, "size": a.data.len(),
                        "url": url, "proxy_url": url, "content_type": a.content_type,
                    });
                    self.shared.cdn.insert(
                        aid,
                        crate::cdn::CdnFile {
                            channel_id,
                            filename: a.filename,
                            content_type: a.content_type,
                            data: a.data,
                        },
                    );
                    json
                })
                .collect();
            history.insert(
                id,
                serde_json::json!({
                    "id": id.to_string(), "channel_id": channel_id.to_string(), "author": author,
                    "content": content, "timestamp": iso8601(at), "edited_timestamp": null,
                    "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
                    "attachments": attachments, "embeds": [], "components": [], "pinned": false,
                    "type": 0, "flags": 0,
                }),
            );
            Ok(id)
        })
    }

    /// The REST call log, oldest first.
    pub fn rest_calls(&self) -> Vec<crate::rest::RestCall> {
        self.shared
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Replaces the rate-limit settings and clears every bucket.
    pub fn set_ratelimits(&self, config: crate::rest::RateLimitConfig) {
        self.shared.ratelimits.set_config(config);
    }

    /// Answers every request on a top-level resource (`channels/{id}`, `guilds/{id}`,
    /// `webhooks/{id}/{token}`) with a shared-scope 429 for `duration`.
    pub fn limit_resource(&self, resource: &str, duration: std::time::Duration) {
        self.shared.ratelimits.limit_resource(resource, duration);
    }

    /// Starts the load generator; await the handle for its report.
    pub fn load(&self, spec: crate::LoadSpec) -> JoinHandle<crate::LoadReport> {
        tokio::spawn(crate::load::run(Arc::clone(&self.shared), spec))
    }

    /// Stops the server and closes every connection.
    ///
    /// # Errors
    ///
    /// Returns [`crate::Error::Task`] if the server task panicked.
    pub async fn shutdown(self) -> Result<(), crate::Error> {
        self.shared.shutdown.cancel();
        self.task.await?;
        Ok(())
    }
}

/// A file for [`SimHandle::seed_message_with_attachment`].
#[derive(Debug, Clone)]
pub struct SeedAttachment {
    /// The file name (the last segment of its URL).
    pub filename: String,
    /// Its MIME type, e.g. `image/png`.
    pub content_type: Option<String>,
    /// The bytes the CDN serves.
    pub data: bytes::Bytes,
}
