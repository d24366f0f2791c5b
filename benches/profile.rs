//! Where a paid request's CPU time goes, next to a free one's: the paywall bench's server (the
//! paywall layer in front of an echo handler, a channel manager on SQLite with
//! `synchronous=FULL`, anvil) under 100 concurrent keep-alive clients, sampled by an in-process
//! profiler (`pprof`, 999 samples a second of CPU time, every thread). The server runs on
//! threads of its own (`paywall-server`, and SQLite's worker), the clients on others (`load`),
//! so each sample is the server's or the load generator's. A server sample is charged to the
//! first of these its stack contains: the proof check, SQLite, the receiver (payment writer,
//! state), the paywall (parsing, locks, receipt headers), HTTP (hyper, axum, tower), sockets and
//! the event loop, the async runtime, else "other". Prints microseconds of CPU per request for
//! each, on the free route, the paid route (a proof per request) and requests served from
//! prepaid sessions, and writes flame graphs to `target/profile/{free,paid,session}.svg`.
//!
//! Run with `cargo bench --bench profile --features profile` (`PROFILE_REQUESTS` sets the
//! requests per client, default 300). The server's CPU time is read from the kernel per thread;
//! the samples split it into parts.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "load/mod.rs"]
mod load;

use std::{collections::BTreeMap, sync::Arc};

use load::{CHANNELS, Headers, Server, headers_for, run};
use uraiden::chain::Chain;

/// Samples per second of CPU time.
const FREQUENCY: i32 = 999;

/// What a server sample is charged to: the first category whose patterns one of its frames
/// contains, in this order.
const CATEGORIES: &[(&str, &[&str])] = &[
    ("proof check (digest, ecrecover)", &["uraiden::proof", "k256::", "secp256k1", "ecdsa::", "keccak", "sha3::"]),
    ("SQLite (commit, fsync)", &["sqlite3", "sqlx_sqlite", "libsqlite3"]),
    ("receiver (payment writer, state)", &["uraiden::receiver"]),
    ("session credential (HMAC, decode)", &["uraiden::receiver::sessions", "hmac::", "sha2::", "base64::"]),
    ("paywall (parse, lock, receipt headers)", &["uraiden::paywall", "uraiden::protocol"]),
    ("HTTP (hyper, axum, tower)", &["hyper::", "hyper_util::", "axum::", "tower::", "httparse", "http::"]),
    (
        "sockets and event loop",
        &["mio::", "tokio::net", "tokio::io", "epoll", "__send", "__recv", "__libc_write", "__libc_read", "writev"],
    ),
    ("async runtime (scheduler, wake-ups)", &["tokio::runtime", "tokio::sync", "futex", "parking_lot"]),
];

/// The category of a server sample.
fn category(frames: &[String], thread: &str) -> &'static str {
    for (name, patterns) in CATEGORIES {
        if frames.iter().any(|f| patterns.iter().any(|p| f.contains(p))) {
            return name;
        }
    }
    if thread.starts_with("sqlx-sqlite") {
        return CATEGORIES[1].0;
    }
    "other"
}

/// One profiled run: the samples per category (server threads), of the load generator, and the
/// requests served.
struct Profile {
    /// The server's samples, by category.
    server: BTreeMap<&'static str, isize>,
    /// CPU time over the run, in seconds: the server's threads', the load generator's.
    cpu: (f64, f64),
    /// The run's wall time, in seconds.
    seconds: f64,
    /// The median latency.
    p50: std::time::Duration,
    requests: usize,
}

impl Profile {
    /// The server's CPU time per request in `category` (its share of the server's samples
    /// times the server threads' CPU time, read from the kernel: the kernel delivers fewer
    /// profiling signals than asked, at its tick rate, so samples give shares, not times).
    fn us_per_request(&self, category: &str) -> f64 {
        let total: isize = self.server.values().sum();
        let samples = self.server.get(category).copied().unwrap_or(0);
        samples as f64 / total.max(1) as f64 * self.cpu.0 * 1e6 / self.requests as f64
    }

    /// Microseconds of CPU per request of `seconds` of CPU time.
    fn per_request(&self, seconds: f64) -> f64 {
        seconds * 1e6 / self.requests as f64
    }
}

/// CPU time (user and system) of this process's threads, in seconds: the server's (named
/// `paywall-server` or SQLite's `sqlx-sqlite-…`) and the load generator's (`load`).
fn cpu_seconds() -> (f64, f64) {
    let (mut server, mut load) = (0.0, 0.0);
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let (Ok(comm), Ok(stat)) =
            (std::fs::read_to_string(task.path().join("comm")), std::fs::read_to_string(task.path().join("stat")))
        else {
            continue;
        };
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
        let seconds = (fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()) as f64 / 100.0; // USER_HZ
        if comm.starts_with("paywall-server") || comm.starts_with("sqlx-sqlite") {
            server += seconds;
        } else if comm.starts_with("load") {
            load += seconds;
        }
    }
    (server, load)
}

/// Runs `clients` under the profiler; writes the flame graph to `svg`.
fn profile(
    load_rt: &tokio::runtime::Runtime,
    clients: Vec<(String, usize, Headers)>,
    svg: &std::path::Path,
) -> Profile {
    let cpu_before = cpu_seconds();
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(FREQUENCY)
        .blocklist(&["libgcc", "pthread", "vdso"])
        .build()
        .expect("the profiler starts");
    let result = load_rt.block_on(run(clients));
    let cpu_after = cpu_seconds();
    let cpu = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let report = guard.report().build().expect("a profile");
    std::fs::create_dir_all(svg.parent().unwrap()).unwrap();
    report.flamegraph(std::fs::File::create(svg).unwrap()).expect("a flame graph");
    let mut server = BTreeMap::new();
    for (frames, count) in &report.data {
        let names: Vec<String> = frames.frames.iter().flatten().map(|symbol| symbol.name()).collect();
        if frames.thread_name.starts_with("paywall-server") || frames.thread_name.starts_with("sqlx-sqlite") {
            *server.entry(category(&names, &frames.thread_name)).or_insert(0) += count;
        }
    }
    Profile { server, cpu, seconds: result.seconds, p50: result.percentile(0.5), requests: result.requests }
}

fn main() {
    let per_client: usize = std::env::var("PROFILE_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let mut f = common::Fixture::new(common::anvil_chain());
    let deposit = (3 * per_client + 1) as u64 * load::PRICE;
    let (deployer, sender) = (f.deployer.address(), f.sender.address());
    f.c.transfer(&mut f.chain, deployer, sender, common::u256(deposit * CHANNELS as u64)).unwrap();
    let url = f.chain.anvil_endpoint().unwrap();
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("paywall-server")
        .enable_all()
        .build()
        .unwrap();
    let load_rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("load").enable_all().build().unwrap();
    let channels = load_rt.block_on(common::open_many(&f, &url, CHANNELS, deposit));
    f.chain.mine(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // `PROFILE_STORE_QUERY=?synchronous=normal` for the process-crash-safe mode.
    let query = std::env::var("PROFILE_STORE_QUERY").unwrap_or_default();
    let store = format!("sqlite://{}{query}", dir.path().join("profile.db").display());
    let head = f.chain.block_number().unwrap();
    let Server { base, manager } = server_rt.block_on(Server::start(&f, store, head));
    let free: Headers = Arc::new(|_| reqwest::header::HeaderMap::new());
    let headers: Vec<Headers> = channels.iter().map(|ch| headers_for(&f, *ch, 2 * per_client)).collect();
    // Warm-up: every channel's first payments, and connections.
    load_rt.block_on(run(headers.iter().map(|h| (format!("{base}/paid"), per_client / 2, h.clone())).collect()));
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/profile");
    let free_profile = profile(
        &load_rt,
        (0..CHANNELS).map(|_| (format!("{base}/free"), per_client, free.clone())).collect(),
        &out.join("free.svg"),
    );
    // The paid run goes on from each channel's warm-up balance.
    let offset = per_client / 2;
    let paid_clients = headers
        .iter()
        .map(|h| {
            let h = h.clone();
            (format!("{base}/paid"), per_client, Arc::new(move |i| h(i + offset)) as Headers)
        })
        .collect();
    let paid_profile = profile(&load_rt, paid_clients, &out.join("paid.svg"));
    // Each channel buys a session of `per_client` requests (not profiled), then spends it.
    let paid = (offset + per_client) as u64 * load::PRICE;
    let credentials: Vec<reqwest::header::HeaderValue> = load_rt.block_on(async {
        let http = reqwest::Client::new();
        let mut credentials = Vec::new();
        for ch in &channels {
            let purchase = load::session_purchase(&f, *ch, paid, per_client);
            let bought = http.get(format!("{base}/session")).headers(purchase).send().await.unwrap();
            assert!(bought.status().is_success(), "{}", bought.status());
            credentials.push(bought.headers()[uraiden::protocol::session::SESSION].clone());
        }
        credentials
    });
    let session_clients = credentials
        .into_iter()
        .map(|credential| {
            let headers = Arc::new(move |_| {
                let mut h = reqwest::header::HeaderMap::new();
                h.insert(uraiden::protocol::session::SESSION, credential.clone());
                h
            }) as Headers;
            (format!("{base}/session"), per_client - 1, headers)
        })
        .collect();
    let session_profile = profile(&load_rt, session_clients, &out.join("session.svg"));

    println!(
        "CPU per request by part of the server, in microseconds: {CHANNELS} keep-alive clients x {per_client} \
         requests, SQLite {} (flame graphs in {})",
        if query.is_empty() { "synchronous=FULL" } else { query.as_str() },
        out.display()
    );
    println!("| part | free route | paid route | prepaid session |");
    println!("|---|---:|---:|---:|");
    let runs = [&free_profile, &paid_profile, &session_profile];
    let names = CATEGORIES.iter().map(|(name, _)| *name).chain(["other"]);
    for name in names {
        let us = runs.map(|p| p.us_per_request(name));
        println!("| {name} | {:.1} | {:.1} | {:.1} |", us[0], us[1], us[2]);
    }
    let server = runs.map(|p| p.per_request(p.cpu.0));
    println!("| **server, all** | **{:.1}** | **{:.1}** | **{:.1}** |", server[0], server[1], server[2]);
    let load = runs.map(|p| p.per_request(p.cpu.1));
    println!("| load generator (reqwest client) | {:.1} | {:.1} | {:.1} |", load[0], load[1], load[2]);
    let samples = |p: &Profile| p.server.values().sum::<isize>();
    let busy = |p: &Profile| (p.cpu.0 + p.cpu.1) / p.seconds;
    for (name, p) in ["free", "paid", "session"].into_iter().zip(runs) {
        println!(
            "{name}: {:.0} requests/s, cores busy (server and load generator) {:.2}, p50 latency {:.2?}, {} server samples",
            p.requests as f64 / p.seconds,
            busy(p),
            p.p50,
            samples(p)
        );
    }
    server_rt.block_on(manager.shutdown());
}
