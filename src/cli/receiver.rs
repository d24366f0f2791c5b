//! `uraiden receiver …`: the receiver's own view of its channels and its cash-out, from its
//! store and the chain: list channels, show the status, close one channel or all of them with
//! the latest proofs. Each command starts the channel manager on the store, waits until it has
//! caught up with the node, acts, and stops. `resync` first forgets the chain-derived state
//! (keeping every proof), so the manager re-reads the chain from the deployment block.

use std::{path::PathBuf, time::Duration};

use alloy_primitives::Address;
use anyhow::Context;

use super::{deploy::DeploymentRecord, key::NodeArgs};
use uraiden::{
    node::Node,
    receiver::{ChannelManager, CloseError, ManagerConfig, StoreIdentity},
};

/// `uraiden receiver`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReceiverArgs {
    /// The receiver's store: `sqlite://PATH` or `postgres://…` (the one its server uses; a
    /// SQLite store held by a running server is refused: use its admin API then).
    #[arg(long, global = true, env = "URAIDEN_STORE", default_value = "sqlite://receiver.db", value_name = "URL")]
    store: String,
    /// The channel contract [default: from deployments/<chain id>.json].
    #[arg(long, global = true, value_name = "ADDRESS")]
    contract: Option<Address>,
    /// Where `uraiden deploy` recorded the contracts.
    #[arg(long, global = true, default_value = "deployments", value_name = "DIR")]
    deployments_dir: PathBuf,
    /// Blocks a deposit needs before it can be spent (as the server is configured).
    #[arg(long, global = true, default_value_t = 5, value_name = "N")]
    confirmations: u64,
    #[command(subcommand)]
    command: ReceiverCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ReceiverCommand {
    /// List the receiver's channels: deposit, balance, status, settle block.
    Channels {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Close a channel (or every channel with a balance) with the latest proof: the receiver
    /// is paid at once.
    #[command(group = clap::ArgGroup::new("which").required(true).args(["sender", "all"]))]
    Close {
        /// The channel's sender.
        #[arg(requires = "open_block")]
        sender: Option<Address>,
        /// The block the channel was opened in.
        open_block: Option<u32>,
        /// Close every channel that has a registered balance and is not settled.
        #[arg(long)]
        all: bool,
    },
    /// Rebuild the chain-derived state (deposits, statuses, close requests, settlements, the
    /// cursor) by re-reading the chain from the deployment block, keeping every stored proof:
    /// the way back after a reorg deeper than the confirmations (a server does it by itself
    /// unless configured not to) or after moving to another node. Stop the server first.
    Resync,
    /// Show the counts, sums, sync state and warnings (low ether for disputes, halts).
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(args: ReceiverArgs, node: &NodeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(run_async(args, node))
}

async fn run_async(args: ReceiverArgs, node: &NodeArgs) -> anyhow::Result<()> {
    let url = node.rpc_url()?;
    let key = node.signer()?;
    let (contract, deployment_block) = match args.contract {
        Some(contract) => (contract, 0),
        None => {
            let chain_id = Node::connect(&url, None).await?.chain_id();
            let record = DeploymentRecord::load(&args.deployments_dir, chain_id)
                .context("pass --contract ADDRESS, or run from the folder holding deployments/")?;
            (record.channels, record.block)
        }
    };
    if matches!(args.command, ReceiverCommand::Resync) {
        let chain_id = Node::connect(&url, None).await?.chain_id();
        let identity = StoreIdentity { chain_id, contract, receiver: key.address() };
        let kept = ChannelManager::resync_store(&args.store, identity).await?;
        println!("chain-derived state forgotten; {kept} channel(s) keep their proofs");
    }
    let mut config = ManagerConfig::new(url.clone(), contract, key, args.store.clone());
    config.deployment_block = deployment_block;
    config.confirmations = args.confirmations;
    config.poll_interval = Duration::from_millis(250);
    let manager = ChannelManager::start(config).await?;
    let result = act(&manager, &url, args.command).await;
    manager.shutdown().await;
    result
}

/// Waits until the manager has read the chain up to the node's head as it was at the start.
async fn synced(manager: &ChannelManager, node: &Node) -> anyhow::Result<()> {
    let head = node.head().await?;
    let status = tokio::time::timeout(Duration::from_secs(300), manager.wait_for_block(head))
        .await
        .context("the manager did not catch up with the node in 5 minutes")?;
    if let Some(halted) = status.halted {
        anyhow::bail!("the receiver is halted: {halted}");
    }
    Ok(())
}

async fn act(manager: &ChannelManager, url: &str, command: ReceiverCommand) -> anyhow::Result<()> {
    let node = Node::connect(url, None).await?;
    synced(manager, &node).await?;
    match command {
        ReceiverCommand::Channels { json } => print_channels(manager, json),
        ReceiverCommand::Close { sender: Some(sender), open_block: Some(open_block), .. } => {
            close_one(manager, sender, open_block).await
        }
        ReceiverCommand::Close { .. } => close_all(manager).await,
        ReceiverCommand::Resync => {
            print_resync(manager);
            Ok(())
        }
        ReceiverCommand::Status { json } => print_status(manager, json).await,
    }
}

/// `receiver channels`: the channels as a table, or as JSON.
fn print_channels(manager: &ChannelManager, json: bool) -> anyhow::Result<()> {
    let channels = manager.channels();
    if json {
        println!("{}", serde_json::to_string_pretty(&channels)?);
        return Ok(());
    }
    println!("receiver {} on contract {}", manager.receiver(), manager.contract());
    println!(
        "{:<42}  {:>10}  {:>10}  {:>10}  {:>12}  status",
        "sender", "open block", "deposit", "balance", "settle block"
    );
    for c in &channels {
        let confirmed = if c.confirmed { "" } else { " (unconfirmed)" };
        println!(
            "{:<42}  {:>10}  {:>10}  {:>10}  {:>12}  {}{confirmed}",
            c.sender.to_string(),
            c.open_block,
            c.deposit.to_string(),
            c.balance.to_string(),
            c.settle_block.map(|b| b.to_string()).unwrap_or_default(),
            c.status.as_str(),
        );
    }
    Ok(())
}

/// `receiver close SENDER OPEN_BLOCK`: closes one channel.
async fn close_one(manager: &ChannelManager, sender: Address, open_block: u32) -> anyhow::Result<()> {
    let outcome = manager.close_channel(sender, open_block).await?;
    println!(
        "closed {sender} / {open_block} at balance {} in block {} (tx {})",
        outcome.balance, outcome.block, outcome.tx_hash
    );
    Ok(())
}

/// `receiver close`: closes every channel with a balance, and fails if any close failed.
async fn close_all(manager: &ChannelManager) -> anyhow::Result<()> {
    let results = manager.close_all().await;
    let (mut failed, mut settled) = (0, 0);
    for (id, result) in &results {
        match result {
            Ok(outcome) => println!(
                "closed {} / {} at balance {} in block {} (tx {})",
                id.sender, id.open_block, outcome.balance, outcome.block, outcome.tx_hash
            ),
            Err(CloseError::Settled) => {
                settled += 1;
                println!("{} / {}: already settled on chain", id.sender, id.open_block);
            }
            Err(error) => {
                failed += 1;
                eprintln!("{} / {}: {error}", id.sender, id.open_block);
            }
        }
    }
    println!("{} channel(s) closed, {settled} already settled, {failed} failed", results.len() - failed - settled);
    anyhow::ensure!(failed == 0, "{failed} close(s) failed");
    Ok(())
}

/// `receiver resync`: where the re-read of the chain got to.
fn print_resync(manager: &ChannelManager) {
    let (stats, status) = (manager.stats(), manager.status());
    println!(
        "re-read the chain to block {}: {} open, {} closing, {} settled",
        status.synced_block.map(|b| b.to_string()).unwrap_or("-".into()),
        stats.open,
        stats.closing,
        stats.settled
    );
}

/// `receiver status`: the receiver, its channels' totals, its tokens and its sync, as text or
/// JSON.
async fn print_status(manager: &ChannelManager, json: bool) -> anyhow::Result<()> {
    let (stats, status) = (manager.stats(), manager.status());
    let tokens = manager.token_balance().await?;
    if json {
        let value = serde_json::json!({
            "receiver": manager.receiver(), "contract": manager.contract(), "token": manager.token(),
            "chain_id": manager.chain_id(), "token_balance": tokens.to_string(),
            "stats": stats, "sync": status,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("receiver       {} (chain {})", manager.receiver(), manager.chain_id());
    println!("contract       {} (token {})", manager.contract(), manager.token());
    println!(
        "channels       {} open, {} closing, {} settled, {} unconfirmed",
        stats.open, stats.closing, stats.settled, stats.unconfirmed
    );
    println!("senders        {}", stats.senders);
    println!("deposits       {}", stats.deposits);
    println!("locked         {} (registered balances of open and closing channels)", stats.locked);
    println!("token balance  {}", tokens);
    println!(
        "synced         block {} of {}",
        status.synced_block.map(|b| b.to_string()).unwrap_or("-".into()),
        status.head
    );
    if let Some(low) = status.low_funds {
        println!(
            "warning        {} wei of ether; one close transaction needs {}: fund the receiver",
            low.balance, low.needed
        );
    }

    Ok(())
}
