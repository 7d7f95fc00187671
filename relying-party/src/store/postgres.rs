//! [`PgStore`]: the backend for deployments that outgrow one machine. Several `vouch-rp`
//! instances share one PostgreSQL database; every protocol session lives in it, so a device
//! whose messages land on different instances still onboards.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{MIGRATOR, StoreError};

// The `Store` implementation, shared with SQLite: see `sql_store.rs`.
type Db = sqlx::Postgres;
type This = PgStore;
#[allow(clippy::duplicate_mod)] // compiled once per backend, on purpose
#[path = "sql_store.rs"]
mod sql_store;

/// Connections per instance. PostgreSQL's default limit is 100 for all its clients, so several
/// instances stay well under it.
const MAX_CONNECTIONS: u32 = 16;

/// How long a call waits for a free connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The store in a PostgreSQL database.
///
/// The same schema and the same SQL as [`SqliteStore`](super::SqliteStore): migrations run on
/// connect (under PostgreSQL's advisory lock, so instances starting together apply them once),
/// and the compare-and-swap updates rely on row locks, so of two writers racing for one record
/// the second sees the first's commit and gets [`StoreError::Conflict`]. Cloning is cheap and
/// shares the connection pool.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/database`,
    /// with the parameters libpq's URLs take, such as `sslmode`) and brings its schema up to
    /// date. The database must exist.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// Creates the empty database `name` on the server that `server_url` reaches (its user
    /// needs the CREATEDB privilege) and returns the URL of the new database: `server_url` with
    /// its path replaced. `name` is quoted as an identifier; a name PostgreSQL would refuse, or
    /// one already taken, is a [`StoreError::Backend`].
    pub async fn create_database(server_url: &str, name: &str) -> Result<String, StoreError> {
        use sqlx::Connection;
        let mut url = reqwest::Url::parse(server_url)
            .map_err(|e| StoreError::Backend(sqlx::Error::Configuration(Box::new(e))))?;
        let mut admin = sqlx::PgConnection::connect(server_url).await?;
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        // The only input is `name`, quoted as an identifier above.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        url.set_path(name);
        Ok(url.to_string())
    }

    /// Closes every connection. Calls made after this (on any clone) fail with
    /// [`StoreError::Backend`].
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
