//! Scheduler configuration.

use std::net::SocketAddr;
use std::time::Duration;

use aegis_service::{ConfigError, Env, NatsConfig};
use aegis_storage::{RetainedTable, StorageConfig};

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
    /// Retention: each table's maximum age (`None`: kept forever).
    pub retention: Vec<(RetainedTable, Option<Duration>)>,
    /// How often each retention purge runs.
    pub retention_every: Duration,
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
            retention: RetainedTable::ALL
                .iter()
                .map(|(table, name, default)| {
                    let variable = format!("AEGIS_RETENTION_{}", name.to_ascii_uppercase());
                    let age = env.parse_with(&variable, Some(*default), |v| {
                        if v == "forever" {
                            return Ok(None);
                        }
                        Env::from_pairs([("AGE", v)])
                            .duration("AGE", Duration::ZERO)
                            .ok()
                            .filter(|d| !d.is_zero())
                            .map(Some)
                            .ok_or_else(|| "a duration like 90d, or forever".to_owned())
                    })?;
                    Ok((*table, age))
                })
                .collect::<Result<_, ConfigError>>()?,
            retention_every: env.duration("AEGIS_RETENTION_EVERY", Duration::from_secs(3600))?,
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

    #[test]
    fn retention_ages_are_configurable_and_checked() {
        let env = Env::from_pairs([
            ("AEGIS_RETENTION_COMMAND_USAGE", "30d"),
            ("AEGIS_RETENTION_FINISHED_TIMERS", "forever"),
        ]);
        let config = Config::from_env(&env).expect("valid");
        let age = |name: &str| {
            config
                .retention
                .iter()
                .find(|(t, _)| t.name() == name)
                .and_then(|(_, a)| *a)
        };
        assert_eq!(
            age("command_usage"),
            Some(std::time::Duration::from_secs(30 * 86_400))
        );
        assert_eq!(age("finished_timers"), None);
        let bad = Env::from_pairs([("AEGIS_RETENTION_COMMAND_USAGE", "a while")]);
        let err = Config::from_env(&bad).expect_err("invalid age");
        assert!(
            err.to_string().starts_with("AEGIS_RETENTION_COMMAND_USAGE"),
            "{err}"
        );
    }
}
