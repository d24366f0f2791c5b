//! A sender paying a paywalled service in one file: the paying HTTP client opens a channel on
//! the first 402 and pays every request with a balance proof, then closes cooperatively.
//!
//! Run with `cargo run --release --example paying_client`. Needs `npm ci` for the pinned anvil.
//! The service it pays is the one of `examples/paywalled_service.rs`, started here too.

use std::path::Path;

use alloy_primitives::{U256, aliases::U192};
use anyhow::Context;
use axum::{Router, routing::get};
use uraiden::{
    chain::RpcChain,
    contract::Contracts,
    paywall::PaywallLayer,
    proof::Signer,
    receiver::{ChannelManager, ManagerConfig},
    sender::{ChannelClient, DepositPath, PayingClient, PaymentPolicy, SenderConfig},
};

fn main() -> anyhow::Result<()> {
    // 1. A local chain, the contracts, and 1,000 tokens for the sender.
    let (deployer, sender, receiver) = (Signer::test_key(0), Signer::test_key(1), Signer::test_key(2));
    let anvil = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/anvil");
    let mut chain = RpcChain::spawn_anvil(&anvil, &[deployer.clone(), sender.clone(), receiver.clone()])
        .with_context(|| format!("starting {} (npm ci installs it)", anvil.display()))?;
    let url = chain.anvil_endpoint().context("the anvil endpoint")?;
    let (contracts, _) = Contracts::deploy(&mut chain, deployer.address(), U256::from(1_000_000), 10)?;
    contracts.transfer(&mut chain, deployer.address(), sender.address(), U256::from(1_000))?;

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(pay(&url, &contracts, sender, receiver))?;
    drop(runtime);
    let balance = contracts.balance_of(&mut chain, Signer::test_key(2).address())?;
    println!("the receiver holds {balance} tokens on chain");
    Ok(())
}

async fn pay(url: &str, contracts: &Contracts, sender: Signer, receiver: Signer) -> anyhow::Result<()> {
    // 2. The service: `/paid` at 5 token units (see paywalled_service.rs).
    let dir = tempfile::tempdir()?;
    let store = format!("sqlite://{}", dir.path().join("receiver.db").display());
    let mut config = ManagerConfig::new(url, contracts.channels, receiver, store);
    (config.confirmations, config.poll_interval) = (1, std::time::Duration::from_millis(100));
    let manager = ChannelManager::start(config).await?;
    let app = Router::new()
        .route("/paid", get(|| async { "a paid resource\n" }))
        .route_layer(PaywallLayer::new(manager.clone(), U192::from(5)))
        .merge(uraiden::paywall::api::router(manager.clone(), None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // 3. The sender's channel client: its key, the contract, and a local store of its channels.
    let channels = ChannelClient::connect(SenderConfig {
        rpc_url: url.to_string(),
        contract: contracts.channels,
        deployment_block: 0,
        key: sender,
        data_dir: dir.path().join("sender"),
        deposit_path: DepositPath::Erc223,
    })
    .await?;

    // 4. The paying client: on a 402 it opens (or tops up) a channel within its policy, signs
    //    the new balance and sends the request again, once.
    let policy = PaymentPolicy { max_price: U192::from(10), deposit_prices: 20, ..PaymentPolicy::default() };
    let client = PayingClient::new(channels, policy)?;
    for _ in 0..3 {
        let paid = client.execute(client.http().get(format!("{base}/paid")).build()?).await?;
        let payment = paid.payment.context("the request was not paid")?;
        let body = paid.response.text().await?;
        let (amount, at, balance) = (payment.amount, payment.open_block, payment.balance);
        println!("paid {amount} on channel @{at} (balance {balance}), the service answered {:?}", body.trim());
    }

    // 5. Close cooperatively: the receiver signs the closing agreement through its API, and
    //    the contract pays it the balance and returns the rest of the deposit to the sender.
    for channel in client.channels().channels().await? {
        println!("channel @{}: deposit {}, balance {}", channel.open_block, channel.deposit, channel.balance);
        let tx = client.channels().close_cooperatively(&channel, &base).await?;
        println!("closed cooperatively (tx {tx})");
    }
    server.abort();
    manager.shutdown().await;
    println!("paying client: done");
    Ok(())
}
