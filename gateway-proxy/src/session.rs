//! Shard sessions kept outside the process, so a restarted gateway-proxy resumes.

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

/// What a shard needs to RESUME: stored in Redis under
/// `{prefix}:gateway:session:{total}:{shard}` (the total is in the key, so a re-sharded bot never
/// resumes a session of another shard layout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    /// Discord's session id from READY.
    pub session_id: String,
    /// The last sequence number whose event JetStream has acknowledged. Resuming from it makes
    /// Discord replay everything after it; what was already published is dropped as a duplicate.
    pub seq: u64,
    /// `resume_gateway_url` from READY.
    pub resume_url: String,
}

/// Why a session could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionStoreError {
    /// Redis refused or is unreachable.
    #[error("session store (Redis): {0}")]
    Redis(#[from] redis::RedisError),
    /// The stored value is not a session (written by something else); it is ignored.
    #[error("stored session of shard {shard} is unreadable: {source}")]
    Corrupt {
        /// The shard.
        shard: u32,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// Discord keeps a disconnected session resumable for a few minutes; a stored session older than
/// this is useless, so it expires.
const SESSION_TTL_SECONDS: u64 = 15 * 60;

/// Sessions of one bot's shards, in Redis.
#[derive(Clone)]
pub struct SessionStore {
    redis: ConnectionManager,
    prefix: String,
    total: u32,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SessionStore {
    /// Sessions under `prefix` for a bot with `total` shards.
    pub fn new(redis: ConnectionManager, prefix: &str, total: u32) -> Self {
        Self {
            redis,
            prefix: prefix.to_owned(),
            total,
        }
    }

    fn key(&self, shard: u32) -> String {
        format!("{}:gateway:session:{}:{shard}", self.prefix, self.total)
    }

    /// The stored session of `shard`, if any.
    pub async fn load(&self, shard: u32) -> Result<Option<StoredSession>, SessionStoreError> {
        let raw: Option<String> = self.redis.clone().get(self.key(shard)).await?;
        raw.map(|raw| serde_json::from_str(&raw))
            .transpose()
            .map_err(|source| SessionStoreError::Corrupt { shard, source })
    }

    /// Stores the session of `shard`.
    pub async fn save(&self, shard: u32, session: &StoredSession) -> Result<(), SessionStoreError> {
        let json = serde_json::to_string(session)
            .map_err(|source| SessionStoreError::Corrupt { shard, source })?;
        let () = self
            .redis
            .clone()
            .set_ex(self.key(shard), json, SESSION_TTL_SECONDS)
            .await?;
        Ok(())
    }

    /// Forgets the session of `shard` (after an invalid session: the next start identifies).
    pub async fn clear(&self, shard: u32) -> Result<(), SessionStoreError> {
        let () = self.redis.clone().del(self.key(shard)).await?;
        Ok(())
    }
}
