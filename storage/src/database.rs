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

    /// Creates the database named in `url` if it does not exist yet (connecting to the server's
    /// `postgres` database to do it), so a first start on a fresh server needs no manual step.
    /// Safe when several processes do it at once.
    pub async fn create_if_missing(url: &str) -> Result<(), StorageError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            StorageError::Pool(format!("invalid AEGIS_DATABASE_URL: {e}"))
        })?;
        let Some(name) = config.get_dbname().map(str::to_owned) else {
            return Ok(());
        };
        let mut admin = config.clone();
        admin.dbname("postgres");
        let (client, connection) = admin.connect(NoTls).await?;
        tokio::spawn(connection);
        let exists = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            match client
                .batch_execute(&format!("CREATE DATABASE {quoted}"))
                .await
            {
                Ok(()) => tracing::info!(database = %name, "database created"),
                // Another process created it first.
                Err(err)
                    if err.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {
                }
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
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
