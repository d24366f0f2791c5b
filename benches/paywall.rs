//! Load generator for the paywall: a real server on loopback (the paywall layer in front of an
//! echo handler, a channel manager with a durable SQLite store, anvil), keep-alive clients with
//! pre-signed proofs (signing is not measured). Reports, from one run, paid requests per second
//! on one channel (sequential) and across 100 channels (concurrent), p50/p99 latencies, the free
//! route under the same load, both routes at the same offered rate (open loop: half the paid
//! concurrent rate) for the p99 comparison, prepaid sessions (one payment buys each client's
//! every request) against the free route, and balance-proof checks per second on one core.
//!
//! Run with `cargo bench --bench paywall` (`PAYWALL_BENCH_REQUESTS` sets requests per client).

#[path = "../tests/common/mod.rs"]
mod common;

#[path = "load/mod.rs"]
mod load;

use std::{sync::Arc, time::Instant};

use alloy_primitives::aliases::U192;
use load::{CHANNELS, Headers, PRICE, Server, headers_for, run, run_paced, run_sessions, session_purchase};
use uraiden::{
    chain::{Chain, RpcChain},
    channel::ChannelId,
    proof::ProofVerifier,
};

/// How many times the paced comparison runs.
const PACED_RUNS: usize = 5;

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
    let deposit = (requests.max(PACED_RUNS * per_channel) as u64 + 1) * PRICE;
    let (deployer, sender) = (f.deployer.address(), f.sender.address());
    // The runs without a proof per request (free, sessions) are ten times longer: they are quick.
    let quick = 10 * requests;
    let quick_deposit = (quick as u64 + 1) * PRICE;
    let total = deposit * (3 * CHANNELS as u64 + 5) + quick_deposit;
    f.c.transfer(&mut f.chain, deployer, sender, common::u256(total)).unwrap();
    let sequential = f.open_erc223(deposit);
    // One channel for each other durability mode's sequential run.
    let durability_channels: Vec<ChannelId> = (0..3).map(|_| f.open_erc223(deposit)).collect();
    let channels: Vec<ChannelId> = (0..CHANNELS).map(|_| f.open_erc223(deposit)).collect();
    let paced_channels: Vec<ChannelId> = (0..CHANNELS).map(|_| f.open_erc223(deposit)).collect();
    // Prepaid sessions: one channel for the sequential run, CHANNELS for the concurrent one.
    let session_sequential = f.open_erc223(quick_deposit);
    let session_channels: Vec<ChannelId> = (0..CHANNELS).map(|_| f.open_erc223(deposit)).collect();
    f.chain.mine(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let store = format!("sqlite://{}", dir.path().join("bench.db").display());
    let head = f.chain.block_number().unwrap();
    let Server { base, manager } = rt.block_on(Server::start(&f, store, head));
    let free_headers: Headers = Arc::new(|_| reqwest::header::HeaderMap::new());

    let free_seq = rt.block_on(run(vec![(format!("{base}/free"), quick, free_headers.clone())]));
    let paid_seq = rt.block_on(run(vec![(format!("{base}/paid"), requests, headers_for(&f, sequential, requests))]));
    let free_conc =
        rt.block_on(run((0..CHANNELS).map(|_| (format!("{base}/free"), per_channel, free_headers.clone())).collect()));
    let clients =
        channels.iter().map(|ch| (format!("{base}/paid"), per_channel, headers_for(&f, *ch, per_channel))).collect();
    let paid_conc = rt.block_on(run(clients));
    let session_seq = rt.block_on(run_sessions(vec![(
        format!("{base}/session"),
        quick,
        session_purchase(&f, session_sequential, 0, quick),
    )]));
    let clients = session_channels
        .iter()
        .map(|ch| (format!("{base}/session"), per_channel, session_purchase(&f, *ch, 0, per_channel)))
        .collect();
    let session_conc = rt.block_on(run_sessions(clients));
    // The same offered load on both routes, open loop: half the paid route's concurrent rate.
    let offered = paid_conc.rate() / 2.0;
    // Repeated: the tail is what varies from run to run (the median and the worst are reported).
    let paced_headers: Vec<Headers> =
        paced_channels.iter().map(|ch| headers_for(&f, *ch, PACED_RUNS * per_channel)).collect();
    let mut paced = Vec::with_capacity(PACED_RUNS);
    for r in 0..PACED_RUNS {
        let free_paced = rt.block_on(run_paced(
            (0..CHANNELS).map(|_| (format!("{base}/free"), per_channel, free_headers.clone())).collect(),
            offered,
        ));
        let clients = paced_headers
            .iter()
            .map(|h| {
                let h = h.clone();
                (format!("{base}/paid"), per_channel, Arc::new(move |i| h(r * per_channel + i)) as Headers)
            })
            .collect();
        paced.push((free_paced, rt.block_on(run_paced(clients, offered))));
    }
    let tail_ratio = |(free, paid): &(load::Load, load::Load)| {
        paid.percentile(0.99).as_secs_f64() / free.percentile(0.99).as_secs_f64()
    };
    let mut ratios: Vec<f64> = paced.iter().map(tail_ratio).collect();
    ratios.sort_by(f64::total_cmp);
    let (free_paced, paid_paced) = &paced[PACED_RUNS / 2];
    let checks = proof_checks_per_second(&f, sequential);

    println!(
        "paywall load, {requests} sequential paid requests ({quick} free or from a session) and {CHANNELS} clients x {per_channel} concurrent; SQLite synchronous=FULL"
    );
    println!("| run | requests/s | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (name, load) in [
        ("free route, 1 client", &free_seq),
        ("paid, 1 channel, sequential", &paid_seq),
        ("free route, 100 clients", &free_conc),
        ("paid, 100 channels, concurrent", &paid_conc),
        ("prepaid sessions, 1 channel, sequential", &session_seq),
        ("prepaid sessions, 100 channels, concurrent", &session_conc),
        ("free route, 100 clients, paced (one of the runs)", free_paced),
        ("paid, 100 channels, paced (the same run)", paid_paced),
    ] {
        println!("| {name} | {:.0} | {:.2?} | {:.2?} |", load.rate(), load.percentile(0.5), load.percentile(0.99));
    }
    println!("proof checks (verify_known), 1 core: {checks:.0}/s");
    println!(
        "paid/free throughput: {:.2} sequential, {:.2} concurrent (goal >= 0.5 concurrent)",
        paid_seq.rate() / free_seq.rate(),
        paid_conc.rate() / free_conc.rate()
    );
    println!("paid concurrent / proof checks on one core: {:.2} (goal >= 0.7)", paid_conc.rate() / checks);
    println!(
        "prepaid sessions/free throughput: {:.2} sequential, {:.2} concurrent (goal >= 0.85 both; one payment buys a client's every request)",
        session_seq.rate() / free_seq.rate(),
        session_conc.rate() / free_conc.rate()
    );
    println!(
        "paid p99 / free p99 at the same offered load ({offered:.0} requests/s, open loop), {PACED_RUNS} runs: \
         median {:.2}, worst {:.2}, all {ratios:.2?} (goal <= 2)",
        ratios[PACED_RUNS / 2],
        ratios[PACED_RUNS - 1]
    );
    println!(
        "paid p99 / free p99 closed loop (each at its own rate): {:.2} sequential, {:.2} concurrent",
        paid_seq.percentile(0.99).as_secs_f64() / free_seq.percentile(0.99).as_secs_f64(),
        paid_conc.percentile(0.99).as_secs_f64() / free_conc.percentile(0.99).as_secs_f64()
    );
    rt.block_on(manager.shutdown());

    // One channel's sequential paid rate under each durability mode, each on a server of its own.
    let postgres = common::postgres::PgServer::start();
    let (pg_on, pg_off) = (postgres.create_database(), postgres.create_database());
    let name = pg_off.rsplit('/').next().unwrap().to_string();
    common::postgres::query(&pg_off, &format!("ALTER DATABASE {name} SET synchronous_commit = off"));
    let modes = [
        (
            format!("sqlite://{}?synchronous=normal", dir.path().join("normal.db").display()),
            "SQLite `synchronous=normal`",
        ),
        (pg_on, "PostgreSQL `synchronous_commit=on`"),
        (pg_off, "PostgreSQL `synchronous_commit=off`"),
    ];
    let mut durability = vec![("SQLite `synchronous=FULL` (default)", paid_seq.rate())];
    for ((store, mode), ch) in modes.into_iter().zip(&durability_channels) {
        let head = f.chain.block_number().unwrap();
        let Server { base, manager } = rt.block_on(Server::start(&f, store, head));
        let load = rt.block_on(run(vec![(format!("{base}/paid"), requests, headers_for(&f, *ch, requests))]));
        durability.push((mode, load.rate()));
        rt.block_on(manager.shutdown());
    }
    println!(
        "one channel, {requests} sequential paid requests, by durability mode (free sequential: {:.0}/s)",
        free_seq.rate()
    );
    println!("| mode | paid requests/s | / free sequential |");
    println!("|---|---:|---:|");
    for (mode, rate) in durability {
        println!("| {mode} | {rate:.0} | {:.2} |", rate / free_seq.rate());
    }
}
