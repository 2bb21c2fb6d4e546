//! Simulator configuration: defaults that match Discord, overridable per scenario.

use std::net::SocketAddr;
use std::time::Duration;

use crate::intents;

/// How the simulator is set up. Every field has a default matching Discord's documented
/// behaviour (or a realistic value where Discord does not document one).
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on; `127.0.0.1:0` (an ephemeral port) by default.
    pub addr: SocketAddr,
    /// The bot token the simulator accepts (`Authorization: Bot <token>` and IDENTIFY).
    pub token: String,
    /// Recommended shard count returned by `GET /gateway/bot`.
    pub shards: u32,
    /// Number of guilds in the seeded world.
    pub guilds: u32,
    /// Members per guild in the seeded world (the bot comes on top).
    pub members: u32,
    /// Seed of the deterministic world.
    pub seed: u64,
    /// `heartbeat_interval` sent in HELLO.
    pub heartbeat_interval: Duration,
    /// Extra time beyond `heartbeat_interval` a client may take between heartbeats before the
    /// connection is dropped as zombied.
    pub heartbeat_grace: Duration,
    /// `session_start_limit.total`.
    pub session_start_total: u32,
    /// `session_start_limit.remaining` at start-up.
    pub session_start_remaining: u32,
    /// `session_start_limit.reset_after`.
    pub session_start_reset_after: Duration,
    /// `session_start_limit.max_concurrency`.
    pub max_concurrency: u32,
    /// Minimum spacing of IDENTIFYs in one `shard_id % max_concurrency` bucket (5 s on Discord).
    pub identify_interval: Duration,
    /// Most guilds one session may hold before IDENTIFY closes with 4011 (2500 on Discord).
    pub max_guilds_per_shard: u32,
    /// Client payloads allowed per `payload_window` before closing with 4008 (120 on Discord).
    pub payload_limit: u32,
    /// Window of the client payload limit (60 s on Discord).
    pub payload_window: Duration,
    /// How long a disconnected session stays resumable.
    pub resume_timeout: Duration,
    /// Dispatches kept per session for RESUME; resuming from an older sequence gets op 9.
    pub replay_buffer: usize,
    /// Privileged intents enabled for the application; others close IDENTIFY with 4014.
    pub privileged_intents: u64,
    /// How long after INTERACTION_CREATE the first callback is accepted (3 s on Discord).
    pub interaction_deadline: Duration,
    /// HTTP rate limits.
    pub ratelimits: crate::rest::RateLimitConfig,
    /// REST calls kept in the call log.
    pub call_log_capacity: usize,
    /// OAuth2 client secret accepted by `POST /oauth2/token` (the client id is the application id).
    pub oauth_client_secret: String,
    /// A world to start from instead of the seeded one (see [`crate::World::from_scenario`]).
    pub scenario: Option<crate::World>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: "sim-token".to_owned(),
            shards: 1,
            guilds: 2,
            members: 10,
            seed: 1,
            heartbeat_interval: Duration::from_millis(41_250),
            heartbeat_grace: Duration::from_secs(10),
            session_start_total: 1000,
            session_start_remaining: 1000,
            session_start_reset_after: Duration::from_secs(24 * 3600),
            max_concurrency: 1,
            identify_interval: Duration::from_secs(5),
            max_guilds_per_shard: 2500,
            payload_limit: 120,
            payload_window: Duration::from_secs(60),
            resume_timeout: Duration::from_secs(180),
            replay_buffer: 100_000,
            privileged_intents: intents::PRIVILEGED,
            interaction_deadline: Duration::from_secs(3),
            ratelimits: crate::rest::RateLimitConfig::default(),
            call_log_capacity: 10_000,
            scenario: None,
            oauth_client_secret: "sim-secret".to_owned(),
        }
    }
}

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for {var}: {reason}")]
pub struct ConfigError {
    /// The environment variable (or field) at fault.
    pub var: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Config {
    /// Reads `AEGIS_SIM_*` variables through `lookup` on top of the defaults, with the binary's
    /// default address `127.0.0.1:7878`. See the crate README for the table of variables.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the first variable whose value cannot be parsed.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut c = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 7878)),
            ..Self::default()
        };
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        if let Some(v) = get("AEGIS_SIM_ADDR") {
            c.addr = parse("AEGIS_SIM_ADDR", &v)?;
        }
        if let Some(v) = get("AEGIS_SIM_TOKEN") {
            c.token = v;
        }
        if let Some(v) = get("AEGIS_SIM_SHARDS") {
            c.shards = parse_nonzero("AEGIS_SIM_SHARDS", &v)?;
        }
        if let Some(v) = get("AEGIS_SIM_GUILDS") {
            c.guilds = parse("AEGIS_SIM_GUILDS", &v)?;
        }
        if let Some(v) = get("AEGIS_SIM_MEMBERS") {
            c.members = parse("AEGIS_SIM_MEMBERS", &v)?;
        }
        if let Some(v) = get("AEGIS_SIM_SEED") {
            c.seed = parse("AEGIS_SIM_SEED", &v)?;
        }
        if let Some(v) = get("AEGIS_SIM_HEARTBEAT_INTERVAL_MS") {
            c.heartbeat_interval =
                Duration::from_millis(parse_nonzero("AEGIS_SIM_HEARTBEAT_INTERVAL_MS", &v)?);
        }
        if let Some(v) = get("AEGIS_SIM_MAX_CONCURRENCY") {
            c.max_concurrency = parse_nonzero("AEGIS_SIM_MAX_CONCURRENCY", &v)?;
        }
        if let Some(v) = get("AEGIS_SIM_SESSION_START_REMAINING") {
            c.session_start_remaining = parse("AEGIS_SIM_SESSION_START_REMAINING", &v)?;
        }
        if let Some(v) = get("AEGIS_SIM_OAUTH_CLIENT_SECRET") {
            c.oauth_client_secret = v;
        }
        if let Some(v) = get("AEGIS_SIM_SCENARIO") {
            c.scenario = Some(
                crate::World::from_scenario(std::path::Path::new(&v)).map_err(|reason| {
                    ConfigError {
                        var: "AEGIS_SIM_SCENARIO".to_owned(),
                        reason,
                    }
                })?,
            );
        }
        if let Some(v) = get("AEGIS_SIM_RATELIMITS") {
            c.ratelimits.enabled = parse::<bool>("AEGIS_SIM_RATELIMITS", &v)?;
        }
        if let Some(v) = get("AEGIS_SIM_GLOBAL_RATELIMIT") {
            c.ratelimits.global_per_second = parse("AEGIS_SIM_GLOBAL_RATELIMIT", &v)?;
        }
        if let Some(v) = get("AEGIS_SIM_IDENTIFY_INTERVAL_MS") {
            c.identify_interval =
                Duration::from_millis(parse("AEGIS_SIM_IDENTIFY_INTERVAL_MS", &v)?);
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks values that would make the simulator misbehave.
    ///
    /// # Errors
    ///
    /// Returns a [`ConfigError`] naming the field at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |var: &str, reason: &str| ConfigError {
            var: var.to_owned(),
            reason: reason.to_owned(),
        };
        if self.shards == 0 {
            return Err(bad("shards", "must be at least 1"));
        }
        if self.max_concurrency == 0 {
            return Err(bad("max_concurrency", "must be at least 1"));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(bad("heartbeat_interval", "must be above zero"));
        }
        if self.token.is_empty() {
            return Err(bad("token", "must not be empty"));
        }
        Ok(())
    }
}

fn parse<T: std::str::FromStr>(var: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse().map_err(|e: T::Err| ConfigError {
        var: var.to_owned(),
        reason: format!("{value:?}: {e}"),
    })
}

fn parse_nonzero<T: std::str::FromStr + Default + PartialEq>(
    var: &str,
    value: &str,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let v: T = parse(var, value)?;
    if v == T::default() {
        return Err(ConfigError {
            var: var.to_owned(),
            reason: format!("{value:?}: must be at least 1"),
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_errors_name_the_variable() {
        let err = Config::from_lookup(|k| (k == "AEGIS_SIM_SHARDS").then(|| "x".to_owned()))
            .expect_err("bad shards");
        assert_eq!(err.var, "AEGIS_SIM_SHARDS");
        let ok = Config::from_lookup(|k| (k == "AEGIS_SIM_GUILDS").then(|| "7".to_owned()))
            .expect("valid");
        assert_eq!(ok.guilds, 7);
        assert_eq!(ok.addr.port(), 7878);
        let err =
            Config::from_lookup(|k| (k == "AEGIS_SIM_SCENARIO").then(|| "/nope.json".to_owned()))
                .expect_err("missing scenario");
        assert_eq!(err.var, "AEGIS_SIM_SCENARIO");
    }
}
