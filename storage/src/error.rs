//! Storage errors.

/// What went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No connection could be had from the pool (database down, pool exhausted past its timeout).
    #[error("no database connection: {0}")]
    Pool(String),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    /// Migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A stored value has a shape this build does not understand.
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
}

impl From<bb8::RunError<tokio_postgres::Error>> for StorageError {
    fn from(err: bb8::RunError<tokio_postgres::Error>) -> Self {
        match err {
            bb8::RunError::User(err) => Self::Query(err),
            bb8::RunError::TimedOut => Self::Pool("timed out waiting for a connection".to_owned()),
        }
    }
}
