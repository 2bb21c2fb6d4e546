//! Configuration of the all-in-one process.

use std::net::SocketAddr;

use aegis_service::{ConfigError, Env, NatsConfig};

/// What `aegis-local` runs and where.
///
/// | variable | default | meaning |
/// | --- | --- | --- |
/// | `AEGIS_LOCAL_OPS_ADDR` | `127.0.0.1:9100` | `/metrics`, `/healthz`, `/readyz` of the all-in-one process |
/// | `AEGIS_SIM_ADDR` | `127.0.0.1:7878` | where the in-process Discord simulator listens |
/// | `AEGIS_SIM_GUILDS` | `3` | guilds in the simulator's seeded world |
/// | `AEGIS_SIM_MEMBERS` | `25` | members per guild |
/// | `AEGIS_SIM_SEED` | `1` | seed of the world (same seed, same ids) |
///
/// plus `AEGIS_DATABASE_URL` and `AEGIS_DATABASE_POOL` (see aegis-storage), the NATS variables of
/// [`NatsConfig`] and gateway-proxy's `AEGIS_GATEWAY_*` variables
/// (its ops endpoints default to `127.0.0.1:9101`).
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Operations listener address.
    pub ops_addr: SocketAddr,
    /// Simulator listen address.
    pub sim_addr: SocketAddr,
    /// Guilds in the simulated world.
    pub sim_guilds: u32,
    /// Members per simulated guild.
    pub sim_members: u32,
    /// World seed.
    pub sim_seed: u64,
    /// NATS and JetStream.
    pub nats: NatsConfig,
    /// PostgreSQL and Redis.
    pub storage: aegis_storage::StorageConfig,
    /// rest-proxy; its Discord URL and token are replaced by the simulator's at start.
    pub rest: aegis_rest_proxy::Config,
    /// A scheduler.
    pub scheduler: aegis_scheduler::Config,
    /// A worker; its bot user id is replaced by the simulator's at start.
    pub worker: aegis_workers::Config,
    /// gateway-proxy; its token and API URL are replaced by the simulator's at start.
    pub gateway: aegis_gateway_proxy::Config,
}

impl LocalConfig {
    /// Reads the variables above.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let addr = "a socket address like 127.0.0.1:9100";
        Ok(Self {
            ops_addr: env.parse("AEGIS_LOCAL_OPS_ADDR", ([127, 0, 0, 1], 9100).into(), addr)?,
            sim_addr: env.parse("AEGIS_SIM_ADDR", ([127, 0, 0, 1], 7878).into(), addr)?,
            sim_guilds: env.parse_with("AEGIS_SIM_GUILDS", 3, |v| bounded(v, 1, 100_000))?,
            sim_members: env.parse_with("AEGIS_SIM_MEMBERS", 25, |v| bounded(v, 1, 100_000))?,
            sim_seed: env.parse("AEGIS_SIM_SEED", 1, "a whole number")?,
            nats: NatsConfig::from_env(env)?,
            storage: aegis_storage::StorageConfig::from_env(env)?,
            rest: aegis_rest_proxy::Config::from_env(
                &env.clone().with_default("DISCORD_TOKEN", "sim-token"),
            )?,
            scheduler: aegis_scheduler::Config::from_env(env)?,
            worker: aegis_workers::Config::from_env(
                &env.clone().with_default("AEGIS_BOT_USER_ID", "1"),
            )?,
            gateway: aegis_gateway_proxy::Config::from_env(
                &env.clone().with_default("DISCORD_TOKEN", "sim-token"),
            )?,
        })
    }
}

fn bounded(value: &str, min: u32, max: u32) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("a whole number from {min} to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use aegis_service::Env;

    use super::LocalConfig;

    #[test]
    fn defaults_need_no_variables() {
        let config = LocalConfig::from_env(&Env::default()).expect("defaults are valid");
        assert_eq!(config.ops_addr.port(), 9100);
        assert_eq!(config.sim_addr.port(), 7878);
    }

    #[test]
    fn an_empty_world_is_refused() {
        let err = LocalConfig::from_env(&Env::from_pairs([("AEGIS_SIM_GUILDS", "0")]))
            .expect_err("zero guilds");
        assert_eq!(
            err.to_string(),
            r#"AEGIS_SIM_GUILDS="0" is invalid: expected a whole number from 1 to 100000"#
        );
    }
}
