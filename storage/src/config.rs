//! Where PostgreSQL and Redis are.

use aegis_service::{ConfigError, Env};

/// Storage settings shared by every process that touches the database.
///
/// | variable | default | meaning |
/// | --- | --- | --- |
/// | `AEGIS_DATABASE_URL` | `postgres://postgres@127.0.0.1:5432/aegis` | PostgreSQL |
/// | `AEGIS_DATABASE_POOL` | `16` | connections per process |
/// | `AEGIS_REDIS_URL` | `redis://127.0.0.1:6379` | Redis (cache, rate limits) |
/// | `AEGIS_REDIS_PREFIX` | `aegis` | first segment of every Redis key |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageConfig {
    /// PostgreSQL URL.
    pub database_url: String,
    /// Pool size.
    pub pool_size: u32,
    /// Redis URL.
    pub redis_url: String,
    /// Redis key prefix.
    pub redis_prefix: String,
}

impl StorageConfig {
    /// Reads the variables above.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self {
            database_url: env.string(
                "AEGIS_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/aegis",
            )?,
            pool_size: env.parse_with("AEGIS_DATABASE_POOL", 16, |v| match v.parse::<u32>() {
                Ok(n @ 1..=1000) => Ok(n),
                _ => Err("a pool size from 1 to 1000".to_owned()),
            })?,
            redis_url: env.string("AEGIS_REDIS_URL", "redis://127.0.0.1:6379")?,
            redis_prefix: env.string("AEGIS_REDIS_PREFIX", "aegis")?,
        })
    }
}
