//! What member actions need to know of a guild (its name, owner and role positions), read from
//! Discord through rest-proxy and cached in Redis under `{prefix}:guild:{id}:facts`.
//!
//! Every member action checks the role hierarchy, and a `GET /guilds/{id}` per command spends
//! Discord's global limit (50 requests/s per bot, shared by every worker): at 50 commands/s the
//! commands would queue behind their own reads. So the facts are cached, shared by every worker,
//! and dropped when the guild or its roles change (`GUILD_UPDATE`, `GUILD_ROLE_CREATE`,
//! `GUILD_ROLE_UPDATE`, `GUILD_ROLE_DELETE`, `GUILD_DELETE`, handled in the guild's event order).
//! A copy lives [`CACHE_TTL_SECONDS`] at most, which bounds the one stale case: a read from
//! Discord that began before a change and is written back after its invalidation. Redis is a
//! cache here: when it is down or slow, the facts come from Discord.

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use twilight_model::id::Id;

use super::GuildFacts;
use crate::handlers::HandlerError;

/// How long a cached copy may live without an invalidation (a safety net, not the mechanism).
const CACHE_TTL_SECONDS: u64 = 300;
/// A Redis that does not answer within this is treated as absent for this call.
const REDIS_TIMEOUT: Duration = Duration::from_millis(100);

/// The facts of one guild.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct GuildInfo {
    pub(crate) name: String,
    pub(crate) owner_id: u64,
    /// (role id, position).
    pub(crate) roles: Vec<(u64, i64)>,
}

impl GuildInfo {
    /// What the hierarchy checks use.
    pub(crate) fn facts(&self) -> GuildFacts {
        GuildFacts {
            owner_id: self.owner_id,
            positions: self.roles.iter().copied().collect::<HashMap<_, _>>(),
        }
    }
}

/// The cache of guild facts.
#[derive(Clone)]
pub(crate) struct Guilds {
    redis: Option<ConnectionManager>,
    prefix: String,
}

impl std::fmt::Debug for Guilds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guilds")
            .field("cached", &self.redis.is_some())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Guilds {
    /// Facts cached in `redis` (none: every read goes to Discord) under `prefix`.
    pub(crate) fn new(redis: Option<ConnectionManager>, prefix: &str) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, guild_id: u64) -> String {
        format!("{}:guild:{guild_id}:facts", self.prefix)
    }

    /// A guild's facts: from Redis when cached, otherwise from Discord (then cached).
    pub(crate) async fn get(
        &self,
        http: &twilight_http::Client,
        guild_id: u64,
    ) -> Result<GuildInfo, HandlerError> {
        let key = self.key(guild_id);
        if let Some(mut redis) = self.redis.clone() {
            match tokio::time::timeout(REDIS_TIMEOUT, redis.get::<_, Option<String>>(&key)).await {
                Ok(Ok(Some(json))) => match serde_json::from_str(&json) {
                    Ok(info) => return Ok(info),
                    Err(err) => {
                        tracing::warn!(guild_id, error = %err, "unreadable cached guild; asking Discord");
                    }
                },
                Ok(Ok(None)) => {}
                Ok(Err(err)) => tracing::debug!(guild_id, error = %err, "guild cache unavailable"),
                Err(_) => tracing::debug!(guild_id, "guild cache timed out"),
            }
        }
        let id = Id::new_checked(guild_id)
            .ok_or_else(|| HandlerError::Permanent(format!("guild id {guild_id}")))?;
        let guild = http
            .guild(id)
            .await
            .map_err(|e| HandlerError::Transient(format!("GET guild: {e}")))?
            .model()
            .await
            .map_err(|e| HandlerError::Transient(format!("guild body: {e}")))?;
        let info = GuildInfo {
            name: guild.name,
            owner_id: guild.owner_id.get(),
            roles: guild
                .roles
                .iter()
                .map(|r| (r.id.get(), r.position))
                .collect(),
        };
        if let (Some(mut redis), Ok(json)) = (self.redis.clone(), serde_json::to_string(&info)) {
            let set = redis.set_ex::<_, _, ()>(&key, json, CACHE_TTL_SECONDS);
            if let Ok(Err(err)) = tokio::time::timeout(REDIS_TIMEOUT, set).await {
                tracing::debug!(guild_id, error = %err, "cannot cache the guild");
            }
        }
        Ok(info)
    }

    /// Drops a guild's cached facts (it or its roles changed).
    pub(crate) async fn forget(&self, guild_id: u64) {
        let Some(mut redis) = self.redis.clone() else {
            return;
        };
        match tokio::time::timeout(REDIS_TIMEOUT, redis.del::<_, ()>(self.key(guild_id))).await {
            Ok(Ok(())) => {}
            // As with settings: the copy expires within CACHE_TTL_SECONDS anyway.
            _ => tracing::warn!(
                guild_id,
                "cannot drop the cached guild; it expires within 5 minutes"
            ),
        }
    }
}
