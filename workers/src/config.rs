//! Worker configuration.

use std::net::SocketAddr;
use std::time::Duration;

use aegis_service::{ConfigError, Env, NatsConfig};
use aegis_storage::StorageConfig;

use crate::UserLimit;

/// Everything a worker needs; see the crate README for variables and defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// The bot's user id: native moderation done by the bot itself is already a case.
    pub bot_user_id: u64,
    /// Interactions and jobs handled at once by this worker.
    pub concurrency: usize,
    /// Deliveries of one message before it goes to the dead letters.
    pub max_deliveries: u64,
    /// How long a partition lease lasts without renewal (a dead worker's partitions move after it).
    pub lease_ttl: Duration,
    /// rest-proxy, `host:port`: every Discord call goes there (workers hold no token).
    pub rest_proxy: String,
    /// Register the slash commands at start-up (bulk overwrite).
    pub register_commands: bool,
    /// Register them in this guild only (development) instead of globally.
    pub commands_guild: Option<u64>,
    /// Ops endpoints.
    pub ops_addr: SocketAddr,
    /// Per-user command budget (per guild); none: unlimited.
    pub user_limit: Option<UserLimit>,
    /// An interaction not answered this long after gateway-proxy read it is deferred (Discord
    /// drops it after 3 s).
    pub defer_after: Duration,
    /// Where ticket transcripts are stored.
    pub transcripts: aegis_transcripts::StoreConfig,
    /// Bounds of a transcript build (attachment cap, ...).
    pub transcript_limits: aegis_transcripts::Limits,
    /// Where people open transcripts: the link in the log channel and the opener's DM is
    /// `{this}/{object key}` (the dashboard, or a bucket served over HTTPS); none: the key alone.
    pub transcripts_url: Option<String>,
    /// PostgreSQL and Redis.
    pub storage: StorageConfig,
    /// NATS and JetStream.
    pub nats: NatsConfig,
}

impl Config {
    /// Reads the configuration.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            bot_user_id: {
                let expected = "the bot's user id (a snowflake)";
                let raw = env.required("AEGIS_BOT_USER_ID", expected)?;
                match raw.trim().parse::<u64>() {
                    Ok(id) if id > 0 => id,
                    _ => return Err(ConfigError::invalid("AEGIS_BOT_USER_ID", &raw, expected)),
                }
            },
            concurrency: env.parse_with("AEGIS_WORKER_CONCURRENCY", 64, |v| {
                match v.parse::<usize>() {
                    Ok(n @ 1..=10_000) => Ok(n),
                    _ => Err("a number from 1 to 10000".to_owned()),
                }
            })?,
            max_deliveries: env.parse_with("AEGIS_WORKER_MAX_DELIVERIES", 5, |v| {
                match v.parse::<u64>() {
                    Ok(n @ 1..=100) => Ok(n),
                    _ => Err("a number from 1 to 100".to_owned()),
                }
            })?,
            lease_ttl: env.duration("AEGIS_WORKER_LEASE_TTL", Duration::from_secs(6))?,
            rest_proxy: env.parse_with("AEGIS_REST_URL", "127.0.0.1:8081".to_owned(), |v| {
                let host = v.trim_start_matches("http://").trim_end_matches('/');
                if host.is_empty() || host.contains('/') || v.starts_with("https://") {
                    return Err("rest-proxy's address, http://host:port".to_owned());
                }
                Ok(host.to_owned())
            })?,
            register_commands: env.bool("AEGIS_REGISTER_COMMANDS", true)?,
            commands_guild: env.parse_with("AEGIS_COMMANDS_GUILD", None, |v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .map(Some)
                    .ok_or_else(|| "a guild id".to_owned())
            })?,
            ops_addr: env.parse(
                "AEGIS_WORKER_OPS_ADDR",
                ([127, 0, 0, 1], 9103).into(),
                "a socket address like 127.0.0.1:9103",
            )?,
            user_limit: env.parse_with(
                "AEGIS_WORKER_USER_COMMANDS",
                Some(UserLimit {
                    count: 10,
                    window: Duration::from_secs(10),
                }),
                parse_user_limit,
            )?,
            defer_after: env.parse_with(
                "AEGIS_WORKER_DEFER_AFTER",
                Duration::from_millis(1_500),
                |v| match aegis_service::parse_duration(v) {
                    Some(d) if d <= Duration::from_millis(2_500) => Ok(d),
                    _ => Err("a duration up to 2500ms (Discord allows 3 s)".to_owned()),
                },
            )?,
            transcripts: aegis_transcripts::StoreConfig::from_env(env)?,
            transcript_limits: aegis_transcripts::Limits::from_env(env)?,
            transcripts_url: env.parse_with("AEGIS_TRANSCRIPTS_URL", None, |v| {
                let v = v.trim().trim_end_matches('/');
                if v.starts_with("https://") || v.starts_with("http://") {
                    Ok(Some(v.to_owned()))
                } else {
                    Err("an http(s) URL like https://aegis.example/transcripts".to_owned())
                }
            })?,
            storage: StorageConfig::from_env(env)?,
            nats: NatsConfig::from_env(env)?,
        })
    }
}

/// Reads `COUNT/WINDOW` (like `10/10s`) or `off`.
fn parse_user_limit(value: &str) -> Result<Option<UserLimit>, String> {
    let expected = || "COUNT/WINDOW like 10/10s, or off".to_owned();
    if value.trim() == "off" {
        return Ok(None);
    }
    let (count, window) = value.split_once('/').ok_or_else(expected)?;
    let count: u32 = count.trim().parse().map_err(|_| expected())?;
    let window = aegis_service::parse_duration(window).ok_or_else(expected)?;
    if count == 0 || window.is_zero() {
        return Err(expected());
    }
    Ok(Some(UserLimit { count, window }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_user_limit;
    use crate::UserLimit;

    #[test]
    fn user_limits_read_count_per_window_or_off() {
        assert_eq!(
            parse_user_limit("5/30s"),
            Ok(Some(UserLimit {
                count: 5,
                window: Duration::from_secs(30)
            }))
        );
        assert_eq!(parse_user_limit("off"), Ok(None));
        assert!(parse_user_limit("0/10s").is_err());
        assert!(parse_user_limit("ten").is_err());
    }
}
