//! A receiver's cash-out: a sender pays on a channel, and the receiver closes every channel it
//! holds a proof for, on chain, and is paid at once.
//!
//! Run with `cargo run --release --example cash_out`. Needs `npm ci` for the pinned anvil.

use std::path::Path;

use alloy_primitives::{U256, aliases::U192};
use anyhow::Context;
use uraiden::{
    chain::RpcChain,
    contract::Contracts,
    proof::Signer,
    receiver::{ChannelManager, ManagerConfig},
    sender::{ChannelClient, DepositPath, SenderConfig},
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
    runtime.block_on(cash_out(&url, &contracts, sender, receiver))
}

async fn cash_out(url: &str, contracts: &Contracts, sender: Signer, receiver: Signer) -> anyhow::Result<()> {
    // 2. The receiver's channel manager, following the contract.
    let dir = tempfile::tempdir()?;
    let store = format!("sqlite://{}", dir.path().join("receiver.db").display());
    let mut config = ManagerConfig::new(url, contracts.channels, receiver.clone(), store);
    (config.confirmations, config.poll_interval) = (1, std::time::Duration::from_millis(100));
    let manager = ChannelManager::start(config).await?;

    // 3. A sender opens a channel with a deposit of 100 and pays 3 times 10, each payment a
    //    balance proof the receiver checks and stores (what the paywall does per request).
    let client = ChannelClient::connect(SenderConfig {
        rpc_url: url.to_string(),
        contract: contracts.channels,
        deployment_block: 0,
        key: sender.clone(),
        data_dir: dir.path().join("sender"),
        deposit_path: DepositPath::Erc223,
    })
    .await?;
    let channel = client.open(receiver.address(), U192::from(100)).await?;
    println!("sender opened a channel in block {} with deposit {}", channel.open_block, channel.deposit);
    while !manager.channel(sender.address(), channel.open_block).is_some_and(|c| c.confirmed) {
        manager.next_poll().await;
    }
    for balance in [10u64, 20, 30] {
        let balance = U192::from(balance);
        let signature = client.sign(receiver.address(), channel.open_block, balance);
        manager.register_payment(sender.address(), channel.open_block, balance, &signature, U192::from(10)).await?;
        println!("receiver registered a payment: balance {balance}");
    }

    // 4. Cash out: close every channel with its latest proof. The receiver's close settles at
    //    once: the balance goes to the receiver, the rest of the deposit back to the sender.
    let before = manager.token_balance().await?;
    for (id, outcome) in manager.close_all().await {
        let outcome = outcome.with_context(|| format!("closing {id}"))?;
        println!("closed {id} with balance {} in block {} (tx {})", outcome.balance, outcome.block, outcome.tx_hash);
    }
    let after = manager.token_balance().await?;
    println!("receiver's tokens: {before} -> {after}");
    anyhow::ensure!(after == before + U256::from(30), "the receiver was not paid 30");
    manager.shutdown().await;
    println!("cash out: done, collected {}", after - before);
    Ok(())
}
