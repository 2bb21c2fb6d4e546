//! Where NATS is, and the JetStream topology every process provisions.

use std::time::Duration;

use aegis_protocol::{Namespace, PartitionCount, ProvisionError, Topology, provision};
use async_nats::jetstream;

use crate::{ConfigError, Env};

/// NATS settings shared by every process that touches NATS.
///
/// | variable | default | meaning |
/// | --- | --- | --- |
/// | `AEGIS_NATS_URL` | `nats://127.0.0.1:4222` | NATS server (comma-separated for a cluster) |
/// | `AEGIS_NAMESPACE` | `aegis` | first subject token and stream-name prefix |
/// | `AEGIS_PARTITIONS` | `64` | guild-event partitions (same in every process) |
/// | `AEGIS_NATS_REPLICAS` | `1` | JetStream stream replicas |
/// | `AEGIS_DUPLICATE_WINDOW` | `2m` | JetStream de-duplication window |
/// | `AEGIS_EVENTS_MAX_AGE` | `24h` | how long gateway events are kept |
/// | `AEGIS_DEAD_LETTERS_MAX_AGE` | `14d` | how long dead letters are kept |
/// | `AEGIS_ACK_WAIT` | `30s` | redelivery delay of an unacknowledged message |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatsConfig {
    /// Server URL(s).
    pub url: String,
    /// Streams and consumers.
    pub topology: Topology,
}

/// Why NATS could not be reached or prepared.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// No connection to the server.
    #[error("cannot connect to NATS at {url}: {source}")]
    Connect {
        /// The configured URL.
        url: String,
        /// The client's error.
        #[source]
        source: async_nats::ConnectError,
    },
    /// Connected, but streams or consumers could not be created (is JetStream enabled, `-js`?).
    #[error(transparent)]
    Provision(#[from] ProvisionError),
}

impl NatsConfig {
    /// Reads the variables above.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Topology::default();
        let namespace = env.parse_with("AEGIS_NAMESPACE", Namespace::default(), |v| {
            Namespace::new(v).map_err(|_| "1 to 32 characters of a-z, 0-9, '_' or '-'".to_owned())
        })?;
        let partitions = env.parse_with("AEGIS_PARTITIONS", PartitionCount::DEFAULT, |v| {
            v.parse::<u64>()
                .ok()
                .and_then(|n| PartitionCount::new(n).ok())
                .ok_or_else(|| format!("a whole number from 1 to {}", PartitionCount::MAX))
        })?;
        let replicas = env.parse_with("AEGIS_NATS_REPLICAS", 1, |v| match v.parse::<usize>() {
            Ok(n @ 1..=5) => Ok(n),
            _ => Err("1 to 5 (JetStream's replica limit)".to_owned()),
        })?;
        let url = env.string("AEGIS_NATS_URL", "nats://127.0.0.1:4222")?;
        let positive = |variable: &str, default: Duration| -> Result<Duration, ConfigError> {
            let value = env.duration(variable, default)?;
            if value.is_zero() {
                let raw = env.raw(variable).unwrap_or_default();
                return Err(ConfigError::invalid(variable, raw, "a duration above zero"));
            }
            Ok(value)
        };
        Ok(Self {
            url,
            topology: Topology {
                namespace,
                partitions,
                replicas,
                duplicate_window: positive("AEGIS_DUPLICATE_WINDOW", defaults.duplicate_window)?,
                events_max_age: positive("AEGIS_EVENTS_MAX_AGE", defaults.events_max_age)?,
                dead_letters_max_age: positive(
                    "AEGIS_DEAD_LETTERS_MAX_AGE",
                    defaults.dead_letters_max_age,
                )?,
                ack_wait: positive("AEGIS_ACK_WAIT", defaults.ack_wait)?,
            },
        })
    }

    /// Connects as `client_name` (shown by `nats server report connections`).
    pub async fn connect(&self, client_name: &str) -> Result<async_nats::Client, NatsError> {
        async_nats::ConnectOptions::new()
            .name(client_name)
            .connection_timeout(Duration::from_secs(5))
            .connect(&self.url)
            .await
            .map_err(|source| NatsError::Connect {
                url: self.url.clone(),
                source,
            })
    }

    /// Connects, then creates or updates the streams and consumers. Every process calls this at
    /// start-up; see [`provision`].
    pub async fn connect_and_provision(
        &self,
        client_name: &str,
    ) -> Result<(async_nats::Client, jetstream::Context), NatsError> {
        let client = self.connect(client_name).await?;
        let js = jetstream::new(client.clone());
        provision(&js, &self.topology).await?;
        Ok((client, js))
    }
}

#[cfg(test)]
mod tests {
    use super::NatsConfig;
    use crate::Env;

    #[test]
    fn defaults_work_on_one_machine() {
        let config = NatsConfig::from_env(&Env::default()).expect("defaults are valid");
        assert_eq!(config.url, "nats://127.0.0.1:4222");
        assert_eq!(config.topology.namespace.as_str(), "aegis");
        assert_eq!(config.topology.partitions.get(), 64);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (variable, value) in [
            ("AEGIS_PARTITIONS", "0"),
            ("AEGIS_PARTITIONS", "many"),
            ("AEGIS_NAMESPACE", "Has.Dots"),
            ("AEGIS_NATS_REPLICAS", "7"),
            ("AEGIS_ACK_WAIT", "0s"),
            ("AEGIS_EVENTS_MAX_AGE", "forever"),
        ] {
            let err = NatsConfig::from_env(&Env::from_pairs([(variable, value)]))
                .expect_err("invalid value accepted");
            assert!(
                err.to_string().starts_with(variable),
                "{variable}={value}: {err}"
            );
        }
    }
}
