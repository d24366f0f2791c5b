//! Load generator for the paywall: a real server on loopback (the paywall layer in front of an
//! echo handler, a channel manager with a durable SQLite store, anvil), keep-alive clients with
//! pre-signed proofs (signing is not measured). Reports, from one run, paid requests per second
//! on one channel (sequential) and across 100 channels (concurrent), p50/p99 latencies, the free
//! route under the same load, both routes at the same offered rate (open loop: half the paid
//! concurrent rate) for the p99 comparison, and balance-proof checks per second on one core.
//!
//! Run with `cargo bench --bench paywall` (`PAYWALL_BENCH_REQUESTS` sets requests per client).

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::{Bytes, aliases::U192};
use axum::{Router, routing::get};
use uraiden::{
    chain::{Chain, RpcChain},
    channel::ChannelId,
    paywall::PaywallLayer,
    proof::ProofVerifier,
    protocol::rdn,
    receiver::{ChannelManager, ManagerConfig},
};

const PRICE: u64 = 1;

/// The headers of a client's i-th request.
type Headers = Arc<dyn Fn(usize) -> reqwest::header::HeaderMap + Send + Sync>;
const CHANNELS: usize = 100;

struct Load {
    requests: usize,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Load {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
    }
}

/// One client: `requests` sequential GETs on one keep-alive connection; `headers(i)` gives the
/// i-th request's headers.
async fn client(url: String, requests: usize, headers: Headers) -> Vec<Duration> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let mut latencies = Vec::with_capacity(requests);
    for i in 0..requests {
        let start = Instant::now();
        let response = http.get(&url).headers(headers(i)).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.unwrap();
        latencies.push(start.elapsed());
    }
    latencies
}

/// One client of an open-loop run: its k-th request is due at `start + (k * clients + index) /
/// rate`, whether or not the earlier ones were quick (a late answer delays the next request on
/// the same channel, and that delay counts: latency is measured from when a request was due).
async fn paced_client(
    url: String,
    requests: usize,
    headers: Headers,
    (index, clients, rate): (usize, usize, f64),
    start: tokio::time::Instant,
) -> Vec<Duration> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let mut latencies = Vec::with_capacity(requests);
    for k in 0..requests {
        let due = start + Duration::from_secs_f64((k * clients + index) as f64 / rate);
        tokio::time::sleep_until(due).await;
        let response = http.get(&url).headers(headers(k)).send().await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.unwrap();
        latencies.push(due.elapsed());
    }
    latencies
}

/// `clients` at `rate` requests per second in all.
async fn run_paced(clients: Vec<(String, usize, Headers)>, rate: f64) -> Load {
    let count = clients.len();
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (url, n, h))| tokio::spawn(paced_client(url, n, h, (i, count, rate), start)))
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Load { requests: latencies.len(), seconds: start.elapsed().as_secs_f64(), latencies }
}

async fn run(clients: Vec<(String, usize, Headers)>) -> Load {
    let start = Instant::now();
    let tasks: Vec<_> = clients.into_iter().map(|(url, n, h)| tokio::spawn(client(url, n, h))).collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Load { requests: latencies.len(), seconds: start.elapsed().as_secs_f64(), latencies }
}

fn headers_for(f: &common::Fixture<RpcChain>, ch: ChannelId, requests: usize) -> Headers {
    let signatures: Vec<Bytes> = (1..=requests).map(|i| f.pay(&ch, i as u64 * PRICE)).collect();
    let contract = f.c.channels.to_string();
    Arc::new(move |i| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(rdn::CONTRACT_ADDRESS, contract.parse().unwrap());
        h.insert(rdn::SENDER_ADDRESS, ch.sender.to_string().parse().unwrap());
        h.insert(rdn::OPEN_BLOCK, ch.open_block.to_string().parse().unwrap());
        h.insert(rdn::BALANCE, ((i + 1) as u64 * PRICE).to_string().parse().unwrap());
        h.insert(rdn::BALANCE_SIGNATURE, signatures[i].to_string().parse().unwrap());
        h
    })
}

fn proof_checks_per_second(f: &common::Fixture<RpcChain>, ch: ChannelId) -> f64 {
    let verifier = ProofVerifier::new();
    let digest = f.c.domain.balance_digest(ch.receiver, ch.open_block, U192::from(7));
    let signature = f.sender.sign_digest(digest);
    verifier.verify_known(ch.sender, digest, &signature).unwrap();
    let n = 20_000;
    let start = Instant::now();
    for _ in 0..n {
        verifier.verify_known(ch.sender, digest, &signature).unwrap();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let requests: usize = std::env::var("PAYWALL_BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let per_channel = (requests / 10).max(20);
    let mut f = common::Fixture::new(common::anvil_chain());
    // One channel for the sequential run, CHANNELS for the concurrent one and CHANNELS for the
    // paced one, each large enough.
    let deposit = (requests.max(per_channel) as u64 + 1) * PRICE;
    let (deployer, sender) = (f.deployer.address(), f.sender.address());
    f.c.transfer(&mut f.chain, deployer, sender, common::u256(deposit * (2 * CHANNELS as u64 + 1))).unwrap();
    let sequential = f.open_erc223(deposit);
    let channels: Vec<ChannelId> = (0..CHANNELS).map(|_| f.open_erc223(deposit)).collect();
    let paced_channels: Vec<ChannelId> = (0..CHANNELS).map(|_| f.open_erc223(deposit)).collect();
    f.chain.mine(2).unwrap();
    let url = f.chain.anvil_endpoint().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let store = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut config = ManagerConfig::new(url, f.c.channels, f.receiver.clone(), store);
    config.confirmations = 1;
    config.poll_interval = Duration::from_millis(200);
    let manager = rt.block_on(ChannelManager::start(config)).unwrap();
    let head = f.chain.block_number().unwrap();
    rt.block_on(manager.wait_for_block(head));
    let paid = Router::new()
        .route("/paid", get(|| async { "paid content" }))
        .route_layer(PaywallLayer::new(manager.clone(), U192::from(PRICE)));
    let app = paid.route("/free", get(|| async { "paid content" }));
    let base = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    });
    let free_headers: Headers = Arc::new(|_| reqwest::header::HeaderMap::new());

    let free_seq = rt.block_on(run(vec![(format!("{base}/free"), requests, free_headers.clone())]));
    let paid_seq = rt.block_on(run(vec![(format!("{base}/paid"), requests, headers_for(&f, sequential, requests))]));
    let free_conc =
        rt.block_on(run((0..CHANNELS).map(|_| (format!("{base}/free"), per_channel, free_headers.clone())).collect()));
    let clients =
        channels.iter().map(|ch| (format!("{base}/paid"), per_channel, headers_for(&f, *ch, per_channel))).collect();
    let paid_conc = rt.block_on(run(clients));
    // The same offered load on both routes, open loop: half the paid route's concurrent rate.
    let offered = paid_conc.rate() / 2.0;
    let free_paced = rt.block_on(run_paced(
        (0..CHANNELS).map(|_| (format!("{base}/free"), per_channel, free_headers.clone())).collect(),
        offered,
    ));
    let clients = paced_channels
        .iter()
        .map(|ch| (format!("{base}/paid"), per_channel, headers_for(&f, *ch, per_channel)))
        .collect();
    let paid_paced = rt.block_on(run_paced(clients, offered));
    let checks = proof_checks_per_second(&f, sequential);

    println!(
        "paywall load, {requests} sequential requests and {CHANNELS} clients x {per_channel} concurrent; SQLite synchronous=FULL"
    );
    println!("| run | requests/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, load) in [
        ("free route, 1 client", &free_seq),
        ("paid, 1 channel, sequential", &paid_seq),
        ("free route, 100 clients", &free_conc),
        ("paid, 100 channels, concurrent", &paid_conc),
        ("free route, 100 clients, paced", &free_paced),
        ("paid, 100 channels, paced", &paid_paced),
    ] {
        println!("| {name} | {:.0} | {:.2?} | {:.2?} |", load.rate(), load.percentile(0.5), load.percentile(0.99));
    }
    println!("proof checks (verify_known), 1 core: {checks:.0}/s");
    println!(
        "paid/free throughput: {:.2} sequential, {:.2} concurrent (goal >= 0.30)",
        paid_seq.rate() / free_seq.rate(),
        paid_conc.rate() / free_conc.rate()
    );
    println!("paid concurrent / proof checks on one core: {:.2} (goal >= 0.50)", paid_conc.rate() / checks);
    println!(
        "paid p99 / free p99 at the same offered load ({offered:.0} requests/s, open loop): {:.2} (goal <= 3)",
        paid_paced.percentile(0.99).as_secs_f64() / free_paced.percentile(0.99).as_secs_f64()
    );
    println!(
        "paid p99 / free p99 closed loop (each at its own rate): {:.2} sequential, {:.2} concurrent",
        paid_seq.percentile(0.99).as_secs_f64() / free_seq.percentile(0.99).as_secs_f64(),
        paid_conc.percentile(0.99).as_secs_f64() / free_conc.percentile(0.99).as_secs_f64()
    );
    rt.block_on(manager.shutdown());
}
