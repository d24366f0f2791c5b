//! Payments registered per second by the channel manager, on its real stores: SQLite as durable
//! as it gets (`synchronous=FULL`, WAL) and PostgreSQL (a real server from the pinned npm
//! package, `fsync=on`, `synchronous_commit=on`), on one channel (each payment extends the last,
//! so they are sequential) and across 1,000 channels (every channel's payments in flight at once,
//! committed together by the manager's group commit). Next to them, from the same run on the same
//! cores: proof verifications per second (the digest and `verify_known`, which
//! `register_payment` does before anything else), on one core and on every core. Proofs are
//! signed before the clock starts. Each figure is the median of several runs.
//!
//! Run with `cargo bench --bench receiver` (`RECEIVER_BENCH_RUNS` sets the runs, default 5).

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use alloy_primitives::{Bytes, aliases::U192};
use uraiden::{
    chain::{Chain, RpcChain},
    channel::ChannelId,
    proof::{ChannelDomain, ProofVerifier},
    receiver::{ChannelManager, ManagerConfig},
};

const CHANNELS: usize = 1_000;
/// Payments per channel per run across the 1,000 channels.
const PER_CHANNEL: usize = 10;
/// Payments per run on one channel.
const SEQUENTIAL: usize = 300;

/// Pre-signed payments: `proofs[i]` brings the channel to balance `i + 1` (price 1).
struct Channel {
    id: ChannelId,
    proofs: Arc<Vec<Bytes>>,
}

fn signed(f: &common::Fixture<RpcChain>, id: ChannelId, payments: usize) -> Channel {
    Channel { id, proofs: Arc::new((1..=payments).map(|b| f.pay(&id, b as u64)).collect()) }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Registers `payments` payments on one channel, one after the other, starting at `from`.
async fn one_channel(manager: &ChannelManager, ch: &Channel, from: usize, payments: usize) -> f64 {
    let start = Instant::now();
    for i in from..from + payments {
        manager
            .register_payment(ch.id.sender, ch.id.open_block, U192::from(i + 1), &ch.proofs[i], U192::from(1))
            .await
            .unwrap();
    }
    payments as f64 / start.elapsed().as_secs_f64()
}

/// Registers `per_channel` payments on every channel, each channel's in order, all channels at
/// once, starting at `from`.
async fn many_channels(manager: &ChannelManager, channels: &[Channel], from: usize, per_channel: usize) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = channels
        .iter()
        .map(|ch| {
            let (manager, id, proofs) = (manager.clone(), ch.id, ch.proofs.clone());
            tokio::spawn(async move {
                for i in from..from + per_channel {
                    manager
                        .register_payment(id.sender, id.open_block, U192::from(i + 1), &proofs[i], U192::from(1))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (channels.len() * per_channel) as f64 / start.elapsed().as_secs_f64()
}

/// Proof verifications per second on `threads` cores: each thread checks the pre-signed proofs
/// of its share of the channels (digest included), as `register_payment` does.
fn verifications(domain: &ChannelDomain, channels: &[Channel], per_channel: usize, threads: usize) -> f64 {
    let work: Arc<Vec<(ChannelId, U192, Bytes)>> = Arc::new(
        channels
            .iter()
            .flat_map(|ch| (0..per_channel).map(move |i| (ch.id, U192::from(i + 1), ch.proofs[i].clone())))
            .collect(),
    );
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (work, domain) = (work.clone(), domain.clone());
            thread::spawn(move || {
                let verifier = ProofVerifier::new();
                for (id, balance, signature) in work.iter().skip(t).step_by(threads) {
                    let digest = domain.balance_digest(id.receiver, id.open_block, *balance);
                    verifier.verify_known(id.sender, digest, signature).unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    work.len() as f64 / start.elapsed().as_secs_f64()
}

/// Medians over the runs; each run measures the proof checks right before the payments, so
/// each ratio compares figures taken on the same cores under the same load.
struct Figures {
    one: f64,
    many: f64,
    checks: f64,
    one_ratio: f64,
    many_ratio: f64,
}

fn measure(
    rt: &tokio::runtime::Runtime,
    config: ManagerConfig,
    one: &Channel,
    many: &[Channel],
    runs: usize,
) -> Figures {
    let cores = rt.metrics().num_workers();
    let manager = rt.block_on(ChannelManager::start(config)).expect("the manager starts");
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), async {
            while manager.channels().iter().filter(|v| v.confirmed).count() < CHANNELS + 1 {
                manager.next_poll().await;
            }
        })
        .await
        .expect("the manager sees the channels confirmed")
    });
    let domain = ChannelDomain::new(manager.chain_id(), manager.contract());
    let (mut ones, mut manys, mut checks, mut one_ratios, mut many_ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let check = verifications(&domain, many, PER_CHANNEL, cores);
        let one_rate = rt.block_on(one_channel(&manager, one, run * SEQUENTIAL, SEQUENTIAL));
        let many_rate = rt.block_on(many_channels(&manager, many, run * PER_CHANNEL, PER_CHANNEL));
        ones.push(one_rate);
        manys.push(many_rate);
        checks.push(check);
        one_ratios.push(one_rate / check);
        many_ratios.push(many_rate / check);
    }
    rt.block_on(manager.shutdown());
    Figures {
        one: median(ones),
        many: median(manys),
        checks: median(checks),
        one_ratio: median(one_ratios),
        many_ratio: median(many_ratios),
    }
}

fn main() {
    let runs: usize = std::env::var("RECEIVER_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5).max(1);
    let cores = thread::available_parallelism().map_or(1, |n| n.get());
    let mut f = common::Fixture::new(common::anvil_chain());
    let (deployer, sender) = (f.deployer.address(), f.sender.address());
    let one_deposit = (SEQUENTIAL * runs) as u64;
    let many_deposit = (PER_CHANNEL * runs) as u64;
    f.c.transfer(&mut f.chain, deployer, sender, common::u256(one_deposit + many_deposit * CHANNELS as u64)).unwrap();
    let opened = Instant::now();
    let one = f.open_erc223(one_deposit);
    let url = f.chain.anvil_endpoint().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(cores).enable_all().build().unwrap();
    let many = rt.block_on(common::open_many(&f, &url, CHANNELS, many_deposit));
    f.chain.mine(1).unwrap();
    eprintln!("opened {} channels in {:.1?}", CHANNELS + 1, opened.elapsed());
    let signing = Instant::now();
    let one = signed(&f, one, SEQUENTIAL * runs);
    let many: Vec<Channel> = many.into_iter().map(|id| signed(&f, id, PER_CHANNEL * runs)).collect();
    eprintln!("signed {} proofs in {:.1?}", SEQUENTIAL * runs + CHANNELS * PER_CHANNEL * runs, signing.elapsed());

    let config = |store: String| {
        let mut config = ManagerConfig::new(url.clone(), f.c.channels, f.receiver.clone(), store);
        config.confirmations = 1;
        config.poll_interval = Duration::from_millis(100);
        config
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = measure(&rt, config(format!("sqlite://{}", dir.path().join("bench.db").display())), &one, &many, runs);
    let server = common::postgres::PgServer::start();
    let postgres = measure(&rt, config(server.create_database()), &one, &many, runs);
    drop(server);

    let single = verifications(&f.c.domain, &many, PER_CHANNEL, 1);

    println!(
        "receiver payments, median of {runs} runs: 1 channel x {SEQUENTIAL} sequential, {CHANNELS} channels x {PER_CHANNEL} concurrent; {cores} core(s)"
    );
    println!(
        "| store | 1 channel, payments/s | 1,000 channels, payments/s | proof checks/s, {cores} core(s), same runs | ratio 1 channel | ratio 1,000 channels |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, x) in [("SQLite, synchronous=FULL", &sqlite), ("PostgreSQL 18, synchronous_commit=on", &postgres)] {
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            x.one, x.many, x.checks, x.one_ratio, x.many_ratio
        );
    }
    println!("proof checks (digest + verify_known) on 1 core: {single:.0}/s");
    println!("goal: payments / proof checks >= 0.50");
}
