//! A paywalled axum service in one file: a receiver's channel manager and the paywall layer on
//! a route, on a local anvil.
//!
//! Run with `cargo run --release --example paywalled_service` (`-- --serve` keeps it up, to be
//! paid with `uraiden get`). Needs `npm ci` for the pinned anvil.

use std::path::Path;

use alloy_primitives::{U256, aliases::U192};
use anyhow::Context;
use axum::{Router, routing::get};
use uraiden::{
    chain::{Chain, RpcChain},
    contract::Contracts,
    paywall::{PaywallLayer, api},
    proof::Signer,
    protocol,
    receiver::{ChannelManager, ManagerConfig},
};

fn main() -> anyhow::Result<()> {
    // 1. A local chain with the token and the channel contract (challenge period 10 blocks).
    let (deployer, receiver) = (Signer::test_key(0), Signer::test_key(2));
    let anvil = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/anvil");
    let mut chain = RpcChain::spawn_anvil(&anvil, &[deployer.clone(), receiver.clone()])
        .with_context(|| format!("starting {} (npm ci installs it)", anvil.display()))?;
    let url = chain.anvil_endpoint().context("the anvil endpoint")?;
    let (contracts, _) = Contracts::deploy(&mut chain, deployer.address(), U256::from(1_000_000), 10)?;
    println!("anvil {url} (chain {}), channel contract {}", chain.chain_id(), contracts.channels);

    // The chain above is synchronous; the receiver and the server run on tokio.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(serve(&url, &contracts, receiver))
}

async fn serve(url: &str, contracts: &Contracts, receiver: Signer) -> anyhow::Result<()> {
    // 2. The receiver's channel manager: follows the contract, keeps payments in SQLite.
    let dir = tempfile::tempdir()?;
    let store = format!("sqlite://{}", dir.path().join("receiver.db").display());
    let mut config = ManagerConfig::new(url, contracts.channels, receiver, store);
    config.confirmations = 1;
    config.poll_interval = std::time::Duration::from_millis(100);
    let manager = ChannelManager::start(config).await?;
    println!("receiver {} follows the chain", manager.receiver());

    // 3. The app: `/paid` costs 5 token units (route_layer: only matched routes are priced),
    //    `/free` costs nothing, and the management API answers under /api/1.
    let app = Router::new()
        .route("/paid", get(|| async { "a paid resource\n" }))
        .route_layer(PaywallLayer::new(manager.clone(), U192::from(5)))
        .route("/free", get(|| async { "free\n" }))
        .merge(api::router(manager.clone(), None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("serving {base}/paid (price 5) and {base}/free");

    // 4. Ask without paying: the paywall answers 402 with its terms in the headers.
    let http = reqwest::Client::new();
    let free = http.get(format!("{base}/free")).send().await?;
    println!("GET /free -> {}", free.status());
    let unpaid = http.get(format!("{base}/paid")).send().await?;
    println!("GET /paid without payment -> {}", unpaid.status());
    anyhow::ensure!(unpaid.status() == reqwest::StatusCode::PAYMENT_REQUIRED, "expected a 402");
    for name in protocol::headers() {
        if let Some(value) = unpaid.headers().get(name) {
            let value = value.to_str().unwrap_or("(binary)");
            println!("  {name}: {}", if value.len() > 60 { format!("{}…", &value[..60]) } else { value.into() });
        }
    }

    // 5. Keep serving on request (pay it with `uraiden get --rpc-url URL --key K URL/paid`).
    if std::env::args().any(|a| a == "--serve") {
        println!("serving until Ctrl-C");
        tokio::signal::ctrl_c().await?;
    }
    server.abort();
    manager.shutdown().await;
    println!("paywalled service: done");
    Ok(())
}
