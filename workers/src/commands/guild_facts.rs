//! What the permission checks need of a guild (its name, owner, role positions and the bot's
//! roles), cached in Redis so a burst of commands in one guild costs one pair of Discord calls
//! instead of one per command: Discord limits `GET /guilds/{id}` per guild, and 200 moderators'
//! commands waiting on that limit would miss the 3-second answer.
//!
//! Cache-aside under `aegis:guild:{id}:facts` for [`TTL`], dropped when the guild, its roles or
//! the bot's member change (`GUILD_UPDATE`, `GUILD_ROLE_*`, the bot's `GUILD_MEMBER_UPDATE`, handled
//! in guild order by whichever worker owns the partition). Concurrent misses in one worker wait
//! for one fetch. Redis down: every command fetches (slower, still correct).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use twilight_model::id::Id;

use super::GuildFacts;
use crate::handlers::HandlerError;

/// How long cached facts live without an invalidating event (bounds staleness should an event be
/// missed or race a fetch).
pub(crate) const TTL: Duration = Duration::from_secs(60);
/// How long Redis gets before the facts are fetched from Discord.
const REDIS_WAIT: Duration = Duration::from_millis(100);

/// A guild as the checks see it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub(crate) struct CachedGuild {
    pub(crate) name: String,
    pub(crate) owner_id: u64,
    /// (role id, position).
    pub(crate) positions: Vec<(u64, i64)>,
    pub(crate) bot_roles: Vec<u64>,
}

impl CachedGuild {
    /// The hierarchy facts of the checks.
    pub(crate) fn facts(&self) -> GuildFacts {
        GuildFacts {
            owner_id: self.owner_id,
            positions: self.positions.iter().copied().collect(),
        }
    }
}

/// The cache.
#[derive(Clone)]
pub(crate) struct GuildCache {
    redis: Option<ConnectionManager>,
    prefix: String,
    /// A lock per guild being fetched, so concurrent misses fetch once.
    fetching: Arc<Mutex<HashMap<u64, Arc<tokio::sync::Mutex<()>>>>>,
}

impl std::fmt::Debug for GuildCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuildCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl GuildCache {
    /// A cache in `redis` (none: no cache) under `{prefix}:guild:{id}:facts`.
    pub(crate) fn new(redis: Option<ConnectionManager>, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            fetching: Arc::default(),
        }
    }

    fn key(&self, guild_id: u64) -> String {
        format!("{}:guild:{guild_id}:facts", self.prefix)
    }

    async fn cached(&self, guild_id: u64) -> Option<CachedGuild> {
        let mut redis = self.redis.clone()?;
        let read = redis.get::<_, Option<String>>(self.key(guild_id));
        match tokio::time::timeout(REDIS_WAIT, read).await {
            Ok(Ok(Some(json))) => serde_json::from_str(&json).ok(),
            Ok(Ok(None)) => None,
            Ok(Err(err)) => {
                tracing::debug!(guild_id, error = %err, "guild cache unavailable");
                None
            }
            Err(_) => None,
        }
    }

    /// The guild's facts: cached, or fetched through rest-proxy and cached.
    pub(crate) async fn get(
        &self,
        http: &twilight_http::Client,
        guild_id: u64,
        bot_user_id: u64,
    ) -> Result<CachedGuild, HandlerError> {
        if let Some(found) = self.cached(guild_id).await {
            return Ok(found);
        }
        let lock = {
            let mut fetching = self
                .fetching
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(fetching.entry(guild_id).or_default())
        };
        let fetched = {
            let _turn = lock.lock().await;
            // Whoever held the lock before may have just cached it.
            match self.cached(guild_id).await {
                Some(found) => Ok(found),
                None => self.fetch(http, guild_id, bot_user_id).await,
            }
        };
        let mut fetching = self
            .fetching
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Only the map and this task hold it: nobody else is waiting.
        if Arc::strong_count(&lock) == 2 {
            fetching.remove(&guild_id);
        }
        fetched
    }

    async fn fetch(
        &self,
        http: &twilight_http::Client,
        guild_id: u64,
        bot_user_id: u64,
    ) -> Result<CachedGuild, HandlerError> {
        let guild = http
            .guild(Id::new(guild_id))
            .await
            .map_err(|e| HandlerError::Transient(format!("GET guild: {e}")))?
            .model()
            .await
            .map_err(|e| HandlerError::Transient(format!("guild body: {e}")))?;
        let bot = http
            .guild_member(Id::new(guild_id), Id::new(bot_user_id))
            .await
            .map_err(|e| HandlerError::Transient(format!("GET bot member: {e}")))?
            .model()
            .await
            .map_err(|e| HandlerError::Transient(format!("bot member body: {e}")))?;
        let found = CachedGuild {
            name: guild.name,
            owner_id: guild.owner_id.get(),
            positions: guild
                .roles
                .iter()
                .map(|r| (r.id.get(), r.position))
                .collect(),
            bot_roles: bot.roles.iter().map(|r| r.get()).collect(),
        };
        if let (Some(mut redis), Ok(json)) = (self.redis.clone(), serde_json::to_string(&found)) {
            let ttl = TTL.as_secs();
            let write = redis.set_ex::<_, _, ()>(self.key(guild_id), json, ttl);
            if let Ok(Err(err)) = tokio::time::timeout(REDIS_WAIT, write).await {
                tracing::debug!(guild_id, error = %err, "cannot cache guild facts");
            }
        }
        Ok(found)
    }

    /// Drops the cached facts after a change. With Redis unreachable the entry cannot be
    /// dropped, but it cannot be read either, and it expires within [`TTL`]; holding the guild's
    /// events back for it would cost more than it saves.
    pub(crate) async fn invalidate(&self, guild_id: u64) {
        let Some(mut redis) = self.redis.clone() else {
            return;
        };
        let dropped = redis.del::<_, ()>(self.key(guild_id));
        match tokio::time::timeout(REDIS_WAIT, dropped).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(guild_id, error = %err, "cannot drop cached guild facts; they expire on their own");
            }
            Err(_) => tracing::warn!(guild_id, "dropping cached guild facts timed out"),
        }
    }
}
