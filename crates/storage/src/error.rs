/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (the same e-mail, handle, …).
    #[error("a record with the same unique value already exists")]
    UniqueViolation,
    #[error("database URL must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("the store is closed")]
    Closed,
    #[error("database files: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored data could not be read back: {0}")]
    Corrupt(String),
    /// PostgreSQL ended the transaction to resolve a deadlock or a serialization
    /// conflict with another: nothing was written, and the same work can be tried again.
    #[error("the database ended the transaction to let a concurrent one through: {0}")]
    Contention(sqlx::Error),
    /// The idempotent request this transaction belongs to was taken over by another
    /// server, which took this one's process for stopped: nothing was written.
    #[error("another server took over this idempotent request")]
    Superseded,
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether trying the same transaction again can succeed (an idempotent request taken
    /// over is answered by its new owner).
    pub fn is_contention(&self) -> bool {
        matches!(self, StoreError::Contention(_) | StoreError::Superseded)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::UniqueViolation,
            // serialization_failure, deadlock_detected
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("40001" | "40P01")) =>
            {
                StoreError::Contention(error)
            }
            _ => StoreError::Database(error),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ffi;
        match &error {
            rusqlite::Error::SqliteFailure(failure, _)
                if matches!(
                    failure.extended_code,
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                StoreError::UniqueViolation
            }
            _ => StoreError::Sqlite(error),
        }
    }
}
