/// What can go wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write (the same e-mail, handle, …).
    #[error("a record with the same unique value already exists")]
    UniqueViolation,
    #[error("database URL must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("stored data could not be read back: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::UniqueViolation,
            _ => StoreError::Database(error),
        }
    }
}
