//! The database handle: connecting (SQLite by default, PostgreSQL for a
//! `postgres://` URL), applying migrations, and serializing writers where the
//! engine needs it. A SQLite database is private to the server's user: its
//! folder, when the server makes it (or it is the default `kam-data/`), is
//! 0700 and its files 0600, whatever the umask (see [`make_private`]).
//! Also the way rows are inserted ([`insert_each`], [`upsert_each`]), and
//! the named values kept in `server_values` ([`values`]).

pub mod values;

use crate::config::{DEFAULT_SQLITE_PATH, DatabaseSettings};
use crate::migration::Migrator;
use anyhow::Context;
use sea_orm::sea_query::OnConflict;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{
    AccessMode, ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, ExecResult, IsolationLevel, QueryResult,
    Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, MutexGuard};

/// Prepared statements each PostgreSQL connection keeps (sqlx's default is
/// 100). The server's SQL texts number in the hundreds (every `IN (...)`
/// list length and every kind's statements are texts of their own), and a
/// text that fell out of the cache costs a parse round trip when it comes
/// back; see BENCHMARKS.md, "PostgreSQL statement cache".
const POSTGRES_STATEMENT_CACHE: usize = 1_000;

/// A pool of connections plus what the engine needs to write safely.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    /// SQLite takes one writer at a time; a transaction that reads first and
    /// then writes fails at once with "database is locked" if another writer
    /// got in between, so writers queue here instead. PostgreSQL uses row locks.
    sqlite_writer: Option<Arc<Mutex<()>>>,
}

/// Held for the length of a write (a no-op on PostgreSQL).
pub struct WriteGuard<'a> {
    _held: Option<MutexGuard<'a, ()>>,
}

/// A write transaction with the engine's writer turn: the only way the
/// server begins one ([`Db::begin_write`]), so no write can forget SQLite's
/// single-writer queue. It is a connection like the transaction; dropped without
/// [`WriteTxn::commit`], it rolls back, and then gives up the turn.
pub struct WriteTxn<'a> {
    // Fields drop in order: the transaction ends before the turn is given up.
    txn: DatabaseTransaction,
    _turn: WriteGuard<'a>,
}

impl WriteTxn<'_> {
    /// Commits, then gives up the writer turn.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }

    fn support_returning(&self) -> bool {
        self.txn.support_returning()
    }
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
        if backend == DbBackend::Sqlite
            && let Some(path) = sqlite_file(&url)?
        {
            make_private(&path)?;
        }
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(settings.max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(30))
            .sqlx_logging(false)
            .map_sqlx_postgres_opts(|postgres| {
                postgres.statement_cache_capacity(POSTGRES_STATEMENT_CACHE)
            });
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

    /// The pool's connections: open (in use or idle), idle, and the most
    /// it may open.
    pub fn pool_usage(&self) -> (u32, u32, u32) {
        fn of<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> (u32, u32, u32) {
            let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
            (pool.size(), idle, pool.options().get_max_connections())
        }
        match self.backend() {
            DbBackend::Postgres => of(self.conn.get_postgres_connection_pool()),
            _ => of(self.conn.get_sqlite_connection_pool()),
        }
    }

    /// Which engine this is.
    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// Waits for this process's turn to write, then begins a transaction
    /// that holds the turn until it commits or is dropped.
    pub async fn begin_write(&self) -> Result<WriteTxn<'_>, DbErr> {
        let turn = self.write_guard().await;
        // The one place a write transaction begins (clippy.toml).
        #[allow(clippy::disallowed_methods)]
        let txn = self.conn.begin().await?;
        Ok(WriteTxn { txn, _turn: turn })
    }

    /// Begins a transaction that only reads: one consistent snapshot across
    /// its statements (PostgreSQL `REPEATABLE READ`, read-only; a SQLite
    /// read transaction is a snapshot already). It takes no writer turn.
    pub async fn begin_read(&self) -> Result<DatabaseTransaction, DbErr> {
        match self.backend() {
            DbBackend::Postgres => {
                self.conn
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await
            }
            #[allow(clippy::disallowed_methods)]
            _ => self.conn.begin().await,
        }
    }

    /// Waits for this process's turn to write one statement outside a
    /// transaction; hold the guard until it is done.
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
        private_folder(dir)?;
        // The default folder is the server's own: one made by an older
        // version with the umask's mode is closed too.
        set_mode(dir, 0o700)?;
    }
    Ok(format!("sqlite://{DEFAULT_SQLITE_PATH}?mode=rwc"))
}

/// The file a SQLite URL names, as the driver reads it; `None` for an
/// in-memory database.
fn sqlite_file(url: &str) -> anyhow::Result<Option<PathBuf>> {
    let options = SqliteConnectOptions::from_str(url).context("invalid SQLite URL")?;
    let path = options.get_filename();
    let in_memory = url.contains("mode=memory")
        || path.as_os_str().is_empty()
        || path.to_string_lossy().starts_with("file:");
    Ok((!in_memory).then(|| path.to_path_buf()))
}

/// Makes the database at `path` readable by the server's user alone: its
/// folder, if missing, is made 0700; the file is made (empty) if missing,
/// and it and its journals are set to 0600. SQLite gives the write-ahead
/// log and its index the mode of the database file when it makes them, so
/// they are 0600 from then on too.
pub fn make_private(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        private_folder(dir)?;
    }
    // Made empty: nothing is readable before its mode is set below.
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        if file.exists() {
            set_mode(&file, 0o600)?;
        }
    }
    Ok(())
}

/// Makes `dir` and its missing parents 0700; an existing folder is left as
/// it is (it may be shared, such as `/var/lib`).
fn private_folder(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    set_mode(dir, 0o700)
}

/// Sets a Unix mode, whatever the umask; elsewhere the platform's defaults stand.
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot set the mode of {} to {mode:o}", path.display()))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// Inserts `rows`, one statement each.
///
/// One statement per row, not multi-row inserts: every row count is another
/// SQL text and, on PostgreSQL, another prepared statement, and the field
/// day over TCP stored 291 documents/s with multi-row inserts against 770
/// with one row per statement (SQLite: 1,173 against 1,070, within the
/// noise). Each statement here is prepared once per connection and reused.
pub async fn insert_each<A>(conn: &impl ConnectionTrait, rows: Vec<A>) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    for row in rows {
        A::Entity::insert(row).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Inserts `rows`, one statement each, updating those that exist already.
pub async fn upsert_each<A>(
    conn: &impl ConnectionTrait,
    rows: Vec<A>,
    on_conflict: OnConflict,
) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    for row in rows {
        A::Entity::insert(row)
            .on_conflict(on_conflict.clone())
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}
