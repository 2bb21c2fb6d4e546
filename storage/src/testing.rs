//! Test databases: each test gets its own, created from the `postgres` database and dropped at the
//! end, so tests run in parallel and again without cleanup. (Feature `testing`.)

use std::time::{SystemTime, UNIX_EPOCH};

use tokio_postgres::NoTls;

use crate::{Database, StorageError};

/// The server tests use: `AEGIS_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432`.
pub fn server_url() -> String {
    std::env::var("AEGIS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database made for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl TestDatabase {
    /// Creates an empty database with a unique name.
    pub async fn create() -> Result<Self, StorageError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "aegis_test_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000_000
        );
        let (client, connection) =
            tokio_postgres::connect(&format!("{}/postgres", server_url()), NoTls).await?;
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        Ok(Self {
            url: format!("{}/{name}", server_url()),
            name,
        })
    }

    /// A migrated pool on it.
    pub async fn connect(&self, size: u32) -> Result<Database, StorageError> {
        Database::connect(&self.url, size).await
    }

    /// Drops it (closing any connection still open).
    pub async fn drop_database(self) -> Result<(), StorageError> {
        let (client, connection) =
            tokio_postgres::connect(&format!("{}/postgres", server_url()), NoTls).await?;
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        Ok(())
    }
}
