//! Per-guild settings: PostgreSQL JSONB, validated, behind a Redis cache-aside.

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

use crate::{Pool, StorageError};

/// A guild's configuration. Stored as JSONB; fields a newer build added are kept by older ones
/// only as far as serde's defaults go, so every field has a default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GuildSettings {
    /// Where moderation actions are logged.
    #[serde(with = "snowflake_opt")]
    pub mod_log_channel: Option<u64>,
    /// The role `/mute` gives (role mute) instead of a Discord timeout.
    #[serde(with = "snowflake_opt")]
    pub mute_role: Option<u64>,
    /// Whether the target is told by DM (before a kick or ban).
    pub dm_on_action: bool,
    /// Warnings stop counting after this many days (none: never).
    pub warn_expiry_days: Option<u32>,
}

/// Why settings were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid setting {field}: {reason}")]
pub struct SettingsError {
    /// The setting.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl GuildSettings {
    /// Checks every value, naming the first bad one.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.mod_log_channel == Some(0) {
            return Err(SettingsError {
                field: "mod_log_channel",
                reason: "0 is not a channel id".into(),
            });
        }
        if self.mute_role == Some(0) {
            return Err(SettingsError {
                field: "mute_role",
                reason: "0 is not a role id".into(),
            });
        }
        if let Some(days) = self.warn_expiry_days.filter(|d| !(1..=3650).contains(d)) {
            return Err(SettingsError {
                field: "warn_expiry_days",
                reason: format!("{days} is not between 1 and 3650"),
            });
        }
        Ok(())
    }
}

/// Snowflakes as strings in JSON, as Discord writes them (JavaScript loses precision on numbers).
mod snowflake_opt {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(id) => s.serialize_str(&id.to_string()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        raw.map(|s| s.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// How long a cached copy may live even without an invalidation (a safety net, not the mechanism).
const CACHE_TTL_SECONDS: u64 = 300;
/// A Redis that does not answer within this is treated as absent for this call.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Settings of every guild, read through the cache.
#[derive(Clone)]
pub struct Settings {
    pool: Pool,
    redis: Option<ConnectionManager>,
    prefix: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("cached", &self.redis.is_some())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Settings in `pool`'s database, cached in `redis` under `{prefix}:guild:{id}:settings`
    /// (`redis` `None`: no cache).
    pub fn new(pool: Pool, redis: Option<ConnectionManager>, prefix: &str) -> Self {
        Self {
            pool,
            redis,
            prefix: prefix.to_owned(),
        }
    }

    /// The cache key of a guild's settings.
    pub fn cache_key(&self, guild_id: u64) -> String {
        format!("{}:guild:{guild_id}:settings", self.prefix)
    }

    /// A guild's settings (defaults if it never changed any). From Redis when cached; otherwise
    /// from PostgreSQL, then cached. A Redis failure only costs the round trip to PostgreSQL.
    pub async fn get(&self, guild_id: u64) -> Result<GuildSettings, StorageError> {
        let key = self.cache_key(guild_id);
        if let Some(mut redis) = self.redis.clone() {
            match tokio::time::timeout(REDIS_TIMEOUT, redis.get::<_, Option<String>>(&key)).await {
                Ok(Ok(Some(json))) => match serde_json::from_str(&json) {
                    Ok(settings) => return Ok(settings),
                    Err(err) => {
                        tracing::warn!(guild_id, error = %err, "unreadable cached settings; reading the database")
                    }
                },
                Ok(Ok(None)) => {}
                Ok(Err(err)) => {
                    tracing::debug!(guild_id, error = %err, "settings cache unavailable")
                }
                Err(_) => tracing::debug!(guild_id, "settings cache timed out"),
            }
        }
        let guild = i64::try_from(guild_id)
            .map_err(|_| StorageError::Corrupt(format!("guild id {guild_id} out of range")))?;
        let conn = self.pool.get().await?;
        let row = conn
            .query_opt("SELECT settings FROM guilds WHERE guild_id = $1", &[&guild])
            .await?;
        let settings = match row {
            Some(row) => {
                let json: serde_json::Value = row.try_get(0)?;
                serde_json::from_value(json).map_err(|e| {
                    StorageError::Corrupt(format!("settings of guild {guild_id}: {e}"))
                })?
            }
            None => GuildSettings::default(),
        };
        if let (Some(mut redis), Ok(json)) = (self.redis.clone(), serde_json::to_string(&settings))
        {
            let set = redis.set_ex::<_, _, ()>(&key, json, CACHE_TTL_SECONDS);
            if let Ok(Err(err)) = tokio::time::timeout(REDIS_TIMEOUT, set).await {
                tracing::debug!(guild_id, error = %err, "cannot cache settings");
            }
        }
        Ok(settings)
    }

    /// Validates and stores a guild's settings, then drops the cached copy so every worker reads
    /// the new ones. `Ok(Err(..))` names an invalid value (nothing is stored).
    pub async fn set(
        &self,
        guild_id: u64,
        settings: &GuildSettings,
    ) -> Result<Result<(), SettingsError>, StorageError> {
        if let Err(invalid) = settings.validate() {
            return Ok(Err(invalid));
        }
        let guild = i64::try_from(guild_id)
            .map_err(|_| StorageError::Corrupt(format!("guild id {guild_id} out of range")))?;
        let json =
            serde_json::to_value(settings).map_err(|e| StorageError::Corrupt(e.to_string()))?;
        let conn = self.pool.get().await?;
        conn.execute(
            "INSERT INTO guilds (guild_id, settings) VALUES ($1, $2)
             ON CONFLICT (guild_id) DO UPDATE SET settings = EXCLUDED.settings, updated_at = now()",
            &[&guild, &json],
        )
        .await?;
        self.invalidate(guild_id).await;
        Ok(Ok(()))
    }

    /// Drops the cached copy of a guild's settings.
    pub async fn invalidate(&self, guild_id: u64) {
        if let Some(mut redis) = self.redis.clone() {
            let key = self.cache_key(guild_id);
            match tokio::time::timeout(REDIS_TIMEOUT, redis.del::<_, ()>(&key)).await {
                Ok(Ok(())) => {}
                // The cached copy expires within CACHE_TTL_SECONDS anyway.
                _ => tracing::warn!(
                    guild_id,
                    "cannot invalidate cached settings; they expire within 5 minutes"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GuildSettings;

    #[test]
    fn snowflakes_are_strings_and_unknown_fields_are_ignored() {
        let settings = GuildSettings {
            mod_log_channel: Some(81_384_788_765_712_384),
            ..Default::default()
        };
        let json = serde_json::to_string(&settings).expect("serialises");
        assert!(
            json.contains(r#""mod_log_channel":"81384788765712384""#),
            "{json}"
        );
        let read: GuildSettings =
            serde_json::from_str(r#"{"mod_log_channel":"5","future_field":true}"#)
                .expect("tolerant");
        assert_eq!(read.mod_log_channel, Some(5));
    }

    #[test]
    fn invalid_values_are_named() {
        let bad = GuildSettings {
            warn_expiry_days: Some(0),
            ..Default::default()
        };
        assert_eq!(bad.validate().map_err(|e| e.field), Err("warn_expiry_days"));
        assert!(GuildSettings::default().validate().is_ok());
    }
}
