//! The SQLite store: one file, mode 0600, held by one process at a time.

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::receiver::error::StoreError;

/// A SQLite database file and the lock that keeps other processes out.
#[derive(Debug, Clone)]
pub(crate) struct SqliteStore {
    pub(super) pool: SqlitePool,
    /// `PATH.lock`, locked exclusively for as long as the store lives.
    _lock: Arc<File>,
}

impl SqliteStore {
    /// Opens `spec` (`PATH`, or `PATH?synchronous=full|normal`), creating the file with mode
    /// 0600 if it does not exist.
    pub(super) async fn open(spec: &str) -> Result<Self, StoreError> {
        let (path, synchronous) = parse_spec(spec)?;
        let file = path.clone();
        let lock = tokio::task::spawn_blocking(move || {
            let lock = lock(&file)?;
            create_private(&file)?;
            Ok::<_, StoreError>(lock)
        })
        .await
        .map_err(|e| StoreError::Io { context: "opening the store".into(), source: std::io::Error::other(e) })??;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool, _lock: Arc::new(lock) })
    }
}

fn parse_spec(spec: &str) -> Result<(PathBuf, SqliteSynchronous), StoreError> {
    let (path, query) = spec.split_once('?').unwrap_or((spec, ""));
    if path.is_empty() {
        return Err(StoreError::UnsupportedUrl(format!("sqlite://{spec} (no file name)")));
    }
    let mut synchronous = SqliteSynchronous::Full;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", value @ ("full" | "normal" | "extra"))) => {
                synchronous =
                    SqliteSynchronous::from_str(value).map_err(|e| StoreError::UnsupportedUrl(e.to_string()))?;
            }
            _ => {
                return Err(StoreError::UnsupportedUrl(format!(
                    "sqlite://{spec}: unknown option {pair:?} (only synchronous=full|normal|extra)"
                )));
            }
        }
    }
    Ok((PathBuf::from(path), synchronous))
}

/// How long opening waits for the lock before calling the store in use. A lock is held a
/// moment past its release when a process is exiting, or when any thread of the process that
/// held it was spawning a child (the child holds a copy of every descriptor until it execs):
/// a restart should not fail on that moment, and a second receiver on the file still fails.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Takes the exclusive lock `PATH.lock`, or fails if another process holds it for
/// [`LOCK_WAIT`]. Blocking: runs on a blocking thread.
fn lock(path: &Path) -> Result<File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let file =
        OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&lock_path).map_err(|source| {
            StoreError::Io { context: format!("opening {}", Path::new(&lock_path).display()), source }
        })?;
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::Locked(path.display().to_string())),
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(StoreError::Io { context: format!("locking {}", Path::new(&lock_path).display()), source });
            }
        }
    }
}

/// Creates the database file with mode 0600, or checks that an existing one is not readable by
/// others.
fn create_private(path: &Path) -> Result<(), StoreError> {
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mode = std::fs::metadata(path)
                .map_err(|source| StoreError::Io { context: format!("reading {}", path.display()), source })?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(StoreError::Permissions { path: path.display().to_string(), mode: mode & 0o777 });
            }
            Ok(())
        }
        Err(source) => Err(StoreError::Io { context: format!("creating {}", path.display()), source }),
    }
}
