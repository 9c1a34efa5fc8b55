//! The database handle: connecting (SQLite by default, PostgreSQL for a
//! `postgres://` URL), applying migrations, and serializing writers where the
//! engine needs it.

use crate::config::{DEFAULT_SQLITE_PATH, DatabaseSettings};
use crate::migration::Migrator;
use anyhow::Context;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

/// A pool of connections plus what the engine needs to write safely.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite takes one writer at a time; a transaction that reads first and
    /// then writes fails at once with "database is locked" if another writer
    /// got in between, so writers queue here instead. PostgreSQL uses row locks.
    sqlite_writer: Option<Arc<Mutex<()>>>,
}

/// Held for the length of a write transaction (a no-op on PostgreSQL).
pub struct WriteGuard<'a> {
    _held: Option<MutexGuard<'a, ()>>,
}

impl Db {
    /// Connects and applies pending migrations.
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        let url = match &settings.url {
            Some(url) => url.expose_secret().to_owned(),
            None => default_sqlite_url()?,
        };
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbBackend::Postgres
        } else if url.starts_with("sqlite:") {
            DbBackend::Sqlite
        } else {
            anyhow::bail!("unsupported database URL: use sqlite:// or postgres://");
        };
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(settings.max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false);
        let conn = Database::connect(options)
            .await
            .context("cannot connect to the database")?;
        if backend == DbBackend::Sqlite {
            conn.execute_unprepared("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
                .await
                .context("cannot set SQLite journal mode")?;
        }
        Migrator::up(&conn, None)
            .await
            .context("cannot apply migrations")?;
        let sqlite_writer = (backend == DbBackend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Self {
            conn,
            sqlite_writer,
        })
    }

    /// The connection pool.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Which engine this is.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Waits for this process's turn to write; hold the guard until commit.
    pub async fn write_guard(&self) -> WriteGuard<'_> {
        match &self.sqlite_writer {
            Some(lock) => WriteGuard {
                _held: Some(lock.lock().await),
            },
            None => WriteGuard { _held: None },
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        self.conn.ping().await.is_ok()
    }
}

fn default_sqlite_url() -> anyhow::Result<String> {
    let path = std::path::Path::new(DEFAULT_SQLITE_PATH);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(format!("sqlite://{DEFAULT_SQLITE_PATH}?mode=rwc"))
}
