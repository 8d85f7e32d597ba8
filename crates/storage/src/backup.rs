//! An online backup of a SQLite database: a consistent copy taken while the server runs.
//!
//! The copy is made with `VACUUM INTO`, which writes one read transaction's snapshot into a
//! new file. In WAL mode a reader never blocks the server's writer, so the server keeps
//! serving while the copy is written, and the copy holds every commit up to its start
//! and none after. Unlike the page-by-page backup API, it cannot be sent back to the
//! start by writes that land during the copy, and the file it writes is compact and
//! stands alone (no `-wal` file beside it). It needs no extra SQLite build feature.

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::{Backend, StoreError, backend_of};

/// What can stop a backup. Whatever the cause, no file is left at the destination.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backup copies SQLite databases; for PostgreSQL use pg_dump, e.g. \
         `pg_dump --format=custom --file=stagecoach.dump 'postgres://USER@HOST/DB'` \
         (restore with `pg_restore --dbname=… stagecoach.dump`)"
    )]
    Postgres,
    #[error("the database URL must start with sqlite://")]
    UnsupportedUrl,
    #[error("the database {} does not exist", .0.display())]
    SourceMissing(PathBuf),
    #[error("{} already exists; backup never overwrites a file: choose a new name", .0.display())]
    DestinationExists(PathBuf),
    #[error("the folder {} does not exist", .0.display())]
    FolderMissing(PathBuf),
    #[error("SQLite takes UTF-8 file names: {} is not one", .0.display())]
    NotUtf8(PathBuf),
    #[error("cannot write the backup: {0}")]
    Io(#[from] std::io::Error),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies the SQLite database `source_url` names into a new file at `destination`, and
/// returns the file's absolute path. Refuses an existing destination, and a source that
/// does not exist (it is opened read-only, so it is never created).
///
/// The copy is written to a hidden file beside the destination and renamed into place
/// only when complete, without replacing anything: an interrupted backup leaves nothing
/// that looks like a backup.
pub fn backup_sqlite(source_url: &str, destination: &Path) -> Result<PathBuf, BackupError> {
    match backend_of(source_url) {
        Some(Backend::Sqlite) => {}
        Some(Backend::Postgres) => return Err(BackupError::Postgres),
        None => return Err(BackupError::UnsupportedUrl),
    }
    let source = crate::sqlite::path_of(source_url)?;
    if !source.is_file() {
        return Err(BackupError::SourceMissing(source));
    }
    let destination = std::path::absolute(destination)?;
    if destination.symlink_metadata().is_ok() {
        return Err(BackupError::DestinationExists(destination));
    }
    let folder = destination
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    if !folder.is_dir() {
        return Err(BackupError::FolderMissing(folder));
    }
    let name = destination
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // VACUUM INTO accepts an empty file, which is what this creates.
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(&folder)?;
    let partial_path = partial
        .path()
        .to_str()
        .ok_or_else(|| BackupError::NotUtf8(partial.path().to_path_buf()))?
        .to_owned();

    let conn = Connection::open_with_flags(
        &source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The server's checkpointer may hold the WAL index for a moment.
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute("VACUUM INTO ?1", [&partial_path])?;
    drop(conn);
    File::open(partial.path())?.sync_all()?;

    partial
        .persist_noclobber(&destination)
        .map_err(|error| match error.error.kind() {
            std::io::ErrorKind::AlreadyExists => {
                BackupError::DestinationExists(destination.clone())
            }
            _ => BackupError::Io(error.error),
        })?;
    // The rename itself survives a crash only once the folder is synced.
    #[cfg(unix)]
    File::open(&folder)?.sync_all()?;
    Ok(destination)
}
