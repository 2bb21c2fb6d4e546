//! gateway-proxy configuration, from environment variables.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use aegis_service::{ConfigError, Env, NatsConfig};

/// Transport compression asked of Discord (`compress` query parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `zlib-stream`: one zlib context per connection (the default; every client supports it).
    Zlib,
    /// `zstd-stream`: one zstd context per connection; smaller and cheaper to inflate.
    Zstd,
    /// Plain JSON text frames.
    None,
}

impl Compression {
    /// The query parameter value, if any.
    pub fn query_value(self) -> Option<&'static str> {
        match self {
            Self::Zlib => Some("zlib-stream"),
            Self::Zstd => Some("zstd-stream"),
            Self::None => None,
        }
    }
}

/// How many shards the bot has in total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardTotal {
    /// Discord's recommendation from `GET /gateway/bot`.
    Auto,
    /// A fixed total.
    Fixed(u32),
}

/// Which shards of the total this process owns (inclusive range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardRange {
    /// Every shard.
    All,
    /// `first..=last`.
    Range {
        /// First owned shard id.
        first: u32,
        /// Last owned shard id.
        last: u32,
    },
}

/// Where the IDENTIFY queue lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// twilight-gateway-queue's `InMemoryQueue`: correct only while one process owns every shard.
    Memory,
    /// A lock per `shard % max_concurrency` bucket in Redis: correct across processes.
    Redis,
}

/// Everything gateway-proxy needs. See the crate README for the variables and defaults.
#[derive(Clone, Debug)]
pub struct Config {
    /// The bot token (`DISCORD_TOKEN`).
    pub token: String,
    /// Base URL for `GET /api/v10/gateway/bot`: rest-proxy when it runs, else Discord.
    pub api_url: String,
    /// Total shard count.
    pub shard_total: ShardTotal,
    /// The shards this process owns.
    pub shard_range: ShardRange,
    /// Gateway intents.
    pub intents: u64,
    /// Transport compression.
    pub compression: Compression,
    /// `large_threshold` of IDENTIFY (50 to 250).
    pub large_threshold: u64,
    /// Which identify queue paces IDENTIFY.
    pub identify_queue: QueueKind,
    /// Spacing of IDENTIFYs per bucket for the Redis queue (Discord: 5 s).
    pub identify_interval: Duration,
    /// Redis (sessions, identify queue).
    pub redis_url: String,
    /// Redis key prefix, so several bots or tests share one Redis.
    pub redis_prefix: String,
    /// Operations listener.
    pub ops_addr: SocketAddr,
    /// Dispatch names not published (dropped at the proxy).
    pub excluded_events: HashSet<String>,
    /// Publishes awaiting their JetStream ack, per shard, before the shard stops reading.
    pub publish_window: usize,
    /// How often each shard's session (id, acknowledged sequence, resume URL) is saved.
    pub session_save_interval: Duration,
    /// NATS and JetStream.
    pub nats: NatsConfig,
}

/// The intents Aegis needs: GUILDS, GUILD_MEMBERS, GUILD_MODERATION, GUILD_MESSAGES,
/// DIRECT_MESSAGES, MESSAGE_CONTENT, AUTO_MODERATION_EXECUTION.
pub const DEFAULT_INTENTS: u64 = 2_134_535;

impl Config {
    /// Reads the configuration; see the README's table.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            token: env.required("DISCORD_TOKEN", "the bot token")?,
            api_url: env.string("AEGIS_GATEWAY_API_URL", "https://discord.com")?,
            shard_total: env.parse_with("AEGIS_GATEWAY_SHARDS", ShardTotal::Auto, parse_total)?,
            shard_range: env.parse_with(
                "AEGIS_GATEWAY_SHARD_RANGE",
                ShardRange::All,
                parse_range,
            )?,
            intents: env.parse(
                "AEGIS_GATEWAY_INTENTS",
                DEFAULT_INTENTS,
                "an intents bit field",
            )?,
            compression: env.parse_with(
                "AEGIS_GATEWAY_COMPRESSION",
                Compression::Zlib,
                |v| match v {
                    "zlib-stream" => Ok(Compression::Zlib),
                    "zstd-stream" => Ok(Compression::Zstd),
                    "none" => Ok(Compression::None),
                    _ => Err("zlib-stream, zstd-stream or none".to_owned()),
                },
            )?,
            large_threshold: env.parse_with("AEGIS_GATEWAY_LARGE_THRESHOLD", 250, |v| {
                match v.parse::<u64>() {
                    Ok(n @ 50..=250) => Ok(n),
                    _ => Err("a number from 50 to 250 (Discord's range)".to_owned()),
                }
            })?,
            identify_queue: env.parse_with(
                "AEGIS_GATEWAY_IDENTIFY_QUEUE",
                QueueKind::Redis,
                |v| match v {
                    "memory" => Ok(QueueKind::Memory),
                    "redis" => Ok(QueueKind::Redis),
                    _ => Err("memory or redis".to_owned()),
                },
            )?,
            identify_interval: env
                .duration("AEGIS_GATEWAY_IDENTIFY_INTERVAL", Duration::from_secs(5))?,
            redis_url: env.string("AEGIS_REDIS_URL", "redis://127.0.0.1:6379")?,
            redis_prefix: env.string("AEGIS_REDIS_PREFIX", "aegis")?,
            ops_addr: env.parse(
                "AEGIS_GATEWAY_OPS_ADDR",
                ([127, 0, 0, 1], 9101).into(),
                "a socket address like 127.0.0.1:9101",
            )?,
            excluded_events: env.parse_with(
                "AEGIS_GATEWAY_EXCLUDE_EVENTS",
                HashSet::new(),
                |v| {
                    Ok(v.split(',')
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned)
                        .collect())
                },
            )?,
            publish_window: env.parse_with("AEGIS_GATEWAY_PUBLISH_WINDOW", 1024, |v| match v
                .parse::<usize>()
            {
                Ok(n @ 1..=65_536) => Ok(n),
                _ => Err("a number from 1 to 65536".to_owned()),
            })?,
            session_save_interval: env.duration(
                "AEGIS_GATEWAY_SESSION_SAVE_INTERVAL",
                Duration::from_secs(1),
            )?,
            nats: NatsConfig::from_env(env)?,
        })
    }
}

fn parse_total(value: &str) -> Result<ShardTotal, String> {
    if value == "auto" {
        return Ok(ShardTotal::Auto);
    }
    match value.parse::<u32>() {
        Ok(n) if n >= 1 => Ok(ShardTotal::Fixed(n)),
        _ => Err("auto or a shard count of at least 1".to_owned()),
    }
}

fn parse_range(value: &str) -> Result<ShardRange, String> {
    let expected = || "all, or first-last like 0-15".to_owned();
    if value == "all" {
        return Ok(ShardRange::All);
    }
    let (first, last) = value.split_once('-').ok_or_else(expected)?;
    match (first.trim().parse(), last.trim().parse()) {
        (Ok(first), Ok(last)) if first <= last => Ok(ShardRange::Range { first, last }),
        _ => Err(expected()),
    }
}

impl ShardRange {
    /// The owned shard ids, given the total; an error names a range outside the total.
    pub fn resolve(self, total: u32) -> Result<std::ops::RangeInclusive<u32>, String> {
        match self {
            Self::All => Ok(0..=total.saturating_sub(1)),
            Self::Range { first, last } if last < total => Ok(first..=last),
            Self::Range { first, last } => Err(format!(
                "shard range {first}-{last} is outside a total of {total} shards"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use aegis_service::Env;

    use super::{Compression, Config, ShardRange, ShardTotal};

    fn env(extra: &[(&str, &str)]) -> Env {
        let mut pairs = vec![("DISCORD_TOKEN", "t")];
        pairs.extend_from_slice(extra);
        Env::from_pairs(pairs)
    }

    #[test]
    fn defaults_work_on_one_machine() {
        let config = Config::from_env(&env(&[])).expect("defaults");
        assert_eq!(config.shard_total, ShardTotal::Auto);
        assert_eq!(config.shard_range, ShardRange::All);
        assert_eq!(config.compression, Compression::Zlib);
    }

    #[test]
    fn the_token_is_required() {
        let err = Config::from_env(&Env::default()).expect_err("no token");
        assert_eq!(
            err.to_string(),
            "DISCORD_TOKEN is not set: expected the bot token"
        );
    }

    #[test]
    fn ranges_parse_and_resolve() {
        let config = Config::from_env(&env(&[("AEGIS_GATEWAY_SHARD_RANGE", "2-3")])).expect("ok");
        assert_eq!(config.shard_range.resolve(4), Ok(2..=3));
        assert!(config.shard_range.resolve(3).is_err());
        for bad in ["3-2", "x", "1-"] {
            let err = Config::from_env(&env(&[("AEGIS_GATEWAY_SHARD_RANGE", bad)]))
                .expect_err("bad range");
            assert!(
                err.to_string().starts_with("AEGIS_GATEWAY_SHARD_RANGE"),
                "{err}"
            );
        }
    }
}
