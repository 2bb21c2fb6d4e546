//! Scheduler configuration.

use std::net::SocketAddr;
use std::time::Duration;

use aegis_service::{ConfigError, Env, NatsConfig};
use aegis_storage::StorageConfig;

/// Everything a scheduler needs; see the crate README.
#[derive(Clone, Debug)]
pub struct Config {
    /// Longest sleep between looks at the table (it also wakes for the next due timer).
    pub poll_interval: Duration,
    /// Timers claimed per round.
    pub claim_batch: i64,
    /// How long a claim holds a timer before another scheduler may take it.
    pub lease: Duration,
    /// Ops endpoints.
    pub ops_addr: SocketAddr,
    /// PostgreSQL.
    pub storage: StorageConfig,
    /// NATS and JetStream.
    pub nats: NatsConfig,
}

impl Config {
    /// Reads the configuration.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let nats = NatsConfig::from_env(env)?;
        let lease = env.duration("AEGIS_SCHEDULER_LEASE", Duration::from_secs(30))?;
        if lease >= nats.topology.duplicate_window {
            let raw = env.raw("AEGIS_SCHEDULER_LEASE").unwrap_or("30s");
            return Err(ConfigError::invalid(
                "AEGIS_SCHEDULER_LEASE",
                raw,
                "a lease shorter than AEGIS_DUPLICATE_WINDOW, so a re-published job is still dropped as a duplicate",
            ));
        }
        Ok(Self {
            poll_interval: env.duration("AEGIS_SCHEDULER_POLL", Duration::from_millis(250))?,
            claim_batch: env.parse_with("AEGIS_SCHEDULER_BATCH", 500, |v| {
                match v.parse::<i64>() {
                    Ok(n @ 1..=10_000) => Ok(n),
                    _ => Err("a number from 1 to 10000".to_owned()),
                }
            })?,
            lease,
            ops_addr: env.parse(
                "AEGIS_SCHEDULER_OPS_ADDR",
                ([127, 0, 0, 1], 9104).into(),
                "a socket address like 127.0.0.1:9104",
            )?,
            storage: StorageConfig::from_env(env)?,
            nats,
        })
    }
}

#[cfg(test)]
mod tests {
    use aegis_service::Env;

    use super::Config;

    #[test]
    fn a_lease_longer_than_the_duplicate_window_is_refused() {
        let env = Env::from_pairs([("AEGIS_SCHEDULER_LEASE", "5m")]);
        let err = Config::from_env(&env).expect_err("lease too long");
        assert!(
            err.to_string().starts_with("AEGIS_SCHEDULER_LEASE"),
            "{err}"
        );
        assert!(Config::from_env(&Env::default()).is_ok());
    }
}
