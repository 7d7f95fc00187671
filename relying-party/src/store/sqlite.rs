//! [`SqliteStore`]: the default backend, one SQLite file in the data directory.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{MIGRATOR, StoreError};

// The `Store` implementation, shared with PostgreSQL: see `sql_store.rs`.
type Db = sqlx::Sqlite;
type This = SqliteStore;
#[allow(clippy::duplicate_mod)] // compiled once per backend, on purpose
#[path = "sql_store.rs"]
mod sql_store;

/// How long a writer waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in a file-backed pool: readers run in parallel under WAL, writers queue on
/// SQLite's lock (with [`BUSY_TIMEOUT`]).
const MAX_CONNECTIONS: u32 = 8;

/// How often [`SqliteStore`] runs the migrations when they fail to apply (another process
/// applying them at the same time).
const MIGRATION_ATTEMPTS: u32 = 40;

/// How many times opening a file retries when SQLite reports it busy or locked (see
/// [`SqliteStore::open`]).
const OPEN_ATTEMPTS: u32 = 40;

/// SQLITE_BUSY or SQLITE_LOCKED, primary or extended code.
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
        _ => false,
    }
}

/// The store at a SQLite database.
///
/// Opened with WAL journaling (readers never block the writer), `synchronous = FULL` (a
/// committed voucher survives a power cut), foreign keys enforced and a busy timeout so
/// concurrent writers wait rather than fail. Migrations run on open. Cloning is cheap and shares
/// the connection pool.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// The name of the database file that [`SqliteStore::open_dir`] uses.
    pub const FILE_NAME: &'static str = "vouch.sqlite3";

    /// Opens (creating if missing) `vouch.sqlite3` in the data directory `dir`, creating the
    /// directory too.
    pub async fn open_dir(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref();
        tokio::fs::create_dir_all(dir).await?;
        Self::open(dir.join(Self::FILE_NAME)).await
    }

    /// Opens the database file at `path`, creating it if missing (readable by its owner only,
    /// since it holds private keys) and bringing its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        create_private_file(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // A connection to a new file switches it to WAL, which needs the file to itself for a
        // moment; a process opening it at that moment gets SQLITE_BUSY at once (the busy
        // timeout does not cover the switch), so that is retried briefly.
        let mut attempt = 1;
        let pool = loop {
            match SqlitePoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .connect_with(options.clone())
                .await
            {
                Ok(pool) => break pool,
                Err(e) if is_busy(&e) && attempt < OPEN_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        Self::migrated(pool).await
    }

    /// A private in-memory database, for tests: gone when the store (and its clones) are
    /// dropped.
    pub async fn memory() -> Result<Self, StoreError> {
        // sqlx gives each `:memory:` options value its own shared-cache database; one connection
        // that never idles out keeps it alive and avoids shared-cache table locks.
        let options = "sqlite::memory:"
            .parse::<SqliteConnectOptions>()?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        // SQLite has no lock for the migrator to take: two processes opening a new file at once
        // both find a migration unapplied, and the second to get the write lock fails on the
        // tables the first one committed. Each migration is one transaction, so a new run
        // finds it recorded and goes on from there.
        let mut attempt = 1;
        loop {
            match MIGRATOR.run(&pool).await {
                Ok(()) => return Ok(Self { pool }),
                Err(
                    sqlx::migrate::MigrateError::Execute(_)
                    | sqlx::migrate::MigrateError::ExecuteMigration(..),
                ) if attempt < MIGRATION_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Closes every connection, checkpointing the WAL into the database file. Calls made after
    /// this (on any clone) fail with [`StoreError::Backend`].
    pub async fn close(&self) {
        self.pool.close().await;
    }

    #[cfg(test)]
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Creates `path` empty with mode 0600 if it does not exist (an empty file is an empty SQLite
/// database). SQLite gives its `-wal` and `-shm` files the database file's permissions.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}
