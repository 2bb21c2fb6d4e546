//! The connection pool and migrations.

use std::time::Duration;

use bb8_postgres::PostgresConnectionManager;
use tokio_postgres::NoTls;

use crate::StorageError;

/// A pool of PostgreSQL connections.
pub type Pool = bb8::Pool<PostgresConnectionManager<NoTls>>;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Any constant unique to Aegis: the advisory lock that serialises migrations between processes.
const MIGRATION_LOCK: i64 = 0x6165_6769_735f_6d69; // "aegis_mi"

/// The database of one Aegis deployment.
#[derive(Clone, Debug)]
pub struct Database {
    pool: Pool,
}

impl Database {
    /// Opens a pool of `size` connections to `url` and applies pending migrations.
    pub async fn connect(url: &str, size: u32) -> Result<Self, StorageError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            StorageError::Pool(format!("invalid AEGIS_DATABASE_URL: {e}"))
        })?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = bb8::Pool::builder()
            .max_size(size)
            .connection_timeout(Duration::from_secs(5))
            .build(manager)
            .await
            .map_err(StorageError::Query)?;
        migrate(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

/// Applies the embedded migrations that are not applied yet. Any number of processes may call it
/// at the same moment: a session-level advisory lock lets one migrate while the others wait, then
/// find nothing left to do.
pub async fn migrate(pool: &Pool) -> Result<(), StorageError> {
    let mut conn = pool.get().await?;
    conn.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = embedded::migrations::runner().run_async(&mut *conn).await;
    // Unlock whatever happened; a failed unlock only means the connection is gone, which frees it.
    let _ = conn
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    let report = report.map_err(|e| StorageError::Migration(e.to_string()))?;
    for migration in report.applied_migrations() {
        tracing::info!(
            version = migration.version(),
            name = migration.name(),
            "migration applied"
        );
    }
    Ok(())
}
