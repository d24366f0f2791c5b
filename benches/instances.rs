//! Several `uraiden proxy` processes of one receiver on one PostgreSQL database: paid requests
//! per second with 1, 2 and 3 instances, as ratios to one instance in the same run, and what a
//! paid request costs each part (CPU of the instances, of PostgreSQL and of the load generator;
//! write transactions and WAL bytes of the database).
//!
//! The real binary, a real PostgreSQL server (`fsync=on`, `synchronous_commit=on`) and anvil,
//! all on this machine's cores. 100 clients, one channel each, pay one request at a time
//! (pre-signed proofs, keep-alive connections): "sticky" sends a client's requests to one
//! instance (a balancer hashing on the sender, or on the connection), "spread" sends each
//! request to the next instance (a round-robin balancer), so that every payment lands on an
//! instance whose memory of the channel is stale and reads it back from the database first.
//! Each figure is the median of several runs.
//!
//! Run with `cargo bench --bench instances` (`INSTANCES_BENCH_RUNS` sets the runs, default 3).

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::{Bytes, keccak256};
use reqwest::header::HeaderMap;
use uraiden::{chain::Chain, channel::ChannelId, protocol::rdn};

const CHANNELS: usize = 100;
/// Payments per client per run.
const PER_CLIENT: usize = 60;

/// A running instance; killed when dropped.
struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &Path) -> Instance {
    let mut child = Command::new(env!("CARGO_BIN_EXE_uraiden"))
        .args(["proxy", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .env_remove("ETH_RPC_URL")
        .env_remove("PRIVATE_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the uraiden binary runs");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("the proxy says where it listens").unwrap();
        if let Some(base) = line.strip_prefix("uraiden proxy listening on ") {
            break base.to_string();
        }
    };
    Instance { child, base }
}

/// CPU time (user + system) of the processes `pids`, in seconds.
fn cpu_seconds(pids: &[u32]) -> f64 {
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // After "pid (comm) ": state is field 0, utime 11, stime 12.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
        })
        .sum();
    ticks as f64 / 100.0 // USER_HZ
}

/// The postmaster and its children.
fn postgres_pids(postmaster: u32) -> Vec<u32> {
    let mut pids = vec![postmaster];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        if rest.split_whitespace().nth(1) == Some(postmaster.to_string().as_str()) {
            pids.push(pid);
        }
    }
    pids
}

/// The database's write transactions so far (the next transaction id) and WAL bytes.
fn database_counters(url: &str) -> (f64, f64) {
    let xid = common::postgres::query(url, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text");
    let wal = common::postgres::query(url, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text");
    (xid[0].parse().unwrap(), wal[0].parse().unwrap())
}

/// One run's figures, per paid request where it says so.
#[derive(Clone, Copy, Default)]
struct Figures {
    rate: f64,
    instances_cpu_us: f64,
    postgres_cpu_us: f64,
    client_cpu_us: f64,
    transactions: f64,
    wal_bytes: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Bench {
    rt: tokio::runtime::Runtime,
    channels: Vec<ChannelId>,
    /// `proofs[c][b]`: channel `c`'s signature of balance `b`.
    proofs: Vec<Arc<Vec<Bytes>>>,
    contract: String,
    /// Each channel's balance so far.
    paid: Vec<usize>,
    store: String,
    postmaster: u32,
}

impl Bench {
    /// One run: every client pays PER_CLIENT requests, one at a time.
    fn run(&mut self, instances: &[Instance], spread: bool) -> Figures {
        let bases: Vec<String> = instances.iter().map(|i| format!("{}/paid", i.base)).collect();
        let pids: Vec<u32> = instances.iter().map(|i| i.child.id()).collect();
        let postgres = postgres_pids(self.postmaster);
        let (cpu_instances, cpu_postgres, cpu_self) =
            (cpu_seconds(&pids), cpu_seconds(&postgres), cpu_seconds(&[std::process::id()]));
        let (xid, wal) = database_counters(&self.store);
        let start = Instant::now();
        let tasks: Vec<_> = (0..CHANNELS)
            .map(|c| {
                let (ch, proofs, contract, bases) =
                    (self.channels[c], self.proofs[c].clone(), self.contract.clone(), bases.clone());
                let from = self.paid[c];
                self.rt.spawn(async move {
                    let http = reqwest::Client::new();
                    for (j, balance) in (from + 1..=from + PER_CLIENT).enumerate() {
                        let target = if spread { (c + j) % bases.len() } else { c % bases.len() };
                        let mut h = HeaderMap::new();
                        h.insert(rdn::CONTRACT_ADDRESS, contract.parse().unwrap());
                        h.insert(rdn::SENDER_ADDRESS, ch.sender.to_string().parse().unwrap());
                        h.insert(rdn::OPEN_BLOCK, ch.open_block.to_string().parse().unwrap());
                        h.insert(rdn::BALANCE, balance.to_string().parse().unwrap());
                        h.insert(rdn::BALANCE_SIGNATURE, proofs[balance].to_string().parse().unwrap());
                        let response = http.get(&bases[target]).headers(h).send().await.unwrap();
                        assert_eq!(response.status(), 200, "payment {balance} on {ch}: {:?}", response.headers());
                        response.bytes().await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            self.rt.block_on(task).unwrap();
        }
        let seconds = start.elapsed().as_secs_f64();
        for paid in &mut self.paid {
            *paid += PER_CLIENT;
        }
        let requests = (CHANNELS * PER_CLIENT) as f64;
        let (xid_after, wal_after) = database_counters(&self.store);
        let us = |before: f64, after: f64| (after - before) * 1e6 / requests;
        Figures {
            rate: requests / seconds,
            instances_cpu_us: us(cpu_instances, cpu_seconds(&pids)),
            postgres_cpu_us: us(cpu_postgres, cpu_seconds(&postgres)),
            client_cpu_us: us(cpu_self, cpu_seconds(&[std::process::id()])),
            // The counters' own queries are read-only: they take no transaction id.
            transactions: (xid_after - xid) / requests,
            wal_bytes: (wal_after - wal) / requests,
        }
    }
}

fn main() {
    let runs: usize = std::env::var("INSTANCES_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let configurations = [1usize, 2, 3];
    let payments = configurations.len() * 2 * runs * PER_CLIENT + 1;
    let mut f = common::Fixture::new(common::anvil_chain());
    let url = f.chain.anvil_endpoint().unwrap();
    let (deployer, sender) = (f.deployer.address(), f.sender.address());
    let deposit = payments as u64;
    f.c.transfer(&mut f.chain, deployer, sender, common::u256(deposit * CHANNELS as u64)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let channels = rt.block_on(common::open_many(&f, &url, CHANNELS, deposit));
    f.chain.mine(2).unwrap();
    let proofs: Vec<Arc<Vec<Bytes>>> =
        channels.iter().map(|ch| Arc::new((0..=payments).map(|b| f.pay(ch, b as u64)).collect())).collect();

    let server = common::postgres::PgServer::start();
    let store = server.create_database();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("receiver.key");
    std::fs::write(&key, keccak256("uraiden test key 2").to_string()).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert_eq!(
        uraiden::proof::Signer::from_hex(&std::fs::read_to_string(&key).unwrap()).unwrap().address(),
        f.receiver.address()
    );
    let config = dir.path().join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "[chain]\nrpc_url = \"{url}\"\nconfirmations = 2\ncontract = \"{}\"\n\n\
             [receiver]\nprivate_key_file = \"receiver.key\"\nstore = \"{store}\"\n\n\
             [server]\nlisten = \"127.0.0.1:0\"\n\n[[route]]\npath = \"/paid\"\nprice = 1\necho = true\n",
            f.c.channels
        ),
    )
    .unwrap();

    let mut bench = Bench {
        rt,
        channels,
        proofs,
        contract: f.c.channels.to_string(),
        paid: vec![0; CHANNELS],
        store: store.clone(),
        postmaster: server.pid(),
    };
    let mut rows = Vec::new();
    for &n in &configurations {
        let instances: Vec<Instance> = (0..n).map(|_| start(&config)).collect();
        // Every instance has seen every channel confirmed: one paid request each, spread.
        let http = reqwest::Client::new();
        for instance in &instances {
            for ch in &bench.channels {
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let path = format!("{}/api/1/channels/{}/{}", instance.base, ch.sender, ch.open_block);
                    let view: serde_json::Value =
                        bench.rt.block_on(async { http.get(&path).send().await?.json().await }).unwrap_or_default();
                    if view["confirmed"] == true {
                        break;
                    }
                    assert!(Instant::now() < deadline, "{ch} never confirmed at {}", instance.base);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        for spread in [false, true] {
            if n == 1 && spread {
                continue;
            }
            let figures: Vec<Figures> = (0..runs).map(|_| bench.run(&instances, spread)).collect();
            let pick = |get: fn(&Figures) -> f64| median(figures.iter().map(get).collect());
            let row = Figures {
                rate: pick(|f| f.rate),
                instances_cpu_us: pick(|f| f.instances_cpu_us),
                postgres_cpu_us: pick(|f| f.postgres_cpu_us),
                client_cpu_us: pick(|f| f.client_cpu_us),
                transactions: pick(|f| f.transactions),
                wal_bytes: pick(|f| f.wal_bytes),
            };
            let worst = figures.iter().map(|f| f.rate).fold(f64::INFINITY, f64::min);
            rows.push((n, spread, row, worst));
        }
        drop(instances);
    }

    let one = rows[0].2.rate;
    println!(
        "{configurations:?} instances of `uraiden proxy` on one PostgreSQL database (fsync=on, \
         synchronous_commit=on), {CHANNELS} clients x {PER_CLIENT} sequential paid requests per run, median of \
         {runs} runs; CPU per paid request in microseconds, on {} cores shared by everything",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| instances | routing | paid req/s | worst run | vs 1 instance | instances' CPU | PostgreSQL CPU | load generator CPU | write transactions | WAL bytes |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (n, spread, row, worst) in rows {
        println!(
            "| {n} | {} | {:.0} | {worst:.0} | {:.2} | {:.0} | {:.0} | {:.0} | {:.3} | {:.0} |",
            if spread { "spread" } else { "sticky" },
            row.rate,
            row.rate / one,
            row.instances_cpu_us,
            row.postgres_cpu_us,
            row.client_cpu_us,
            row.transactions,
            row.wal_bytes,
        );
    }
}
