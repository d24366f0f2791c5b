//! `uraiden channel …`: open, top up, inspect, pay, agree, close and settle channels on a node,
//! with the contract found in `deployments/<chain_id>.json`.
//!
//! Opening, topping up, closing with the sender's store and settling are the sender's client's
//! ([`super::sender`]): every deposit is first simulated whole (`eth_simulateV1`: the approve
//! and the channel call together, in one block), and if any of its transactions would revert,
//! the decoded custom error is reported and nothing is sent; an approve is skipped when the
//! allowance already covers the amount. A close with explicit signatures is estimated first, the
//! same way. `info` is a read and needs no key.

use std::{path::PathBuf, time::Duration};

use alloy::{network::TransactionBuilder, rpc::types::TransactionRequest};
use alloy_primitives::{Address, Bytes, aliases::U192};
use anyhow::bail;

use super::{deploy::DeploymentRecord, key::NodeArgs, sender::SenderArgs};
use uraiden::{
    chain::{Chain, RpcChain},
    channel::ChannelId,
    contract::{Call, Contracts, decode_logs},
    node::{Node, Nonce, Resend, SendError, TxSender},
    proof::Signer,
    sender::DepositPath,
};

/// The limit on each node request of a close with explicit signatures.
const NODE_TIMEOUT: Duration = Duration::from_secs(30);
/// The limit on the wait for its receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// Arguments shared by every channel command.
#[derive(Debug, clap::Args)]
pub(crate) struct ChannelArgs {
    /// Where `uraiden deploy` recorded the contracts.
    #[arg(long, default_value = "deployments", global = true, value_name = "DIR")]
    deployments_dir: PathBuf,
    /// The sender's channel store (for `close --cooperative|--uncooperative` and `settle`).
    #[command(flatten)]
    sender: SenderArgs,
    #[command(subcommand)]
    command: ChannelCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ChannelCommand {
    /// Open a channel to RECEIVER with DEPOSIT tokens (approve + createChannelERC20, or ERC223).
    Open {
        /// The receiver's address.
        #[arg(long)]
        receiver: Address,
        /// The deposit, in token base units (at most 2^192-1).
        #[arg(long)]
        deposit: U192,
        /// Open with one ERC223 transfer instead of approve + createChannelERC20.
        #[arg(long)]
        erc223: bool,
    },
    /// Add AMOUNT tokens to your channel (approve + topUpERC20, or ERC223).
    Topup {
        /// The receiver's address.
        #[arg(long)]
        receiver: Address,
        /// The block the channel was opened in.
        #[arg(long)]
        open_block: u32,
        /// Tokens to add, in base units.
        #[arg(long)]
        amount: U192,
        /// Top up with one ERC223 transfer instead of approve + topUpERC20.
        #[arg(long)]
        erc223: bool,
    },
    /// Show a channel (getChannelInfo).
    Info {
        /// The sender's address.
        #[arg(long)]
        sender: Address,
        /// The receiver's address.
        #[arg(long)]
        receiver: Address,
        /// The block the channel was opened in.
        #[arg(long)]
        open_block: u32,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Sign a balance proof (as the sender): prints the signature and the balance. Sends nothing.
    Pay {
        /// The receiver's address.
        #[arg(long)]
        receiver: Address,
        /// The block the channel was opened in.
        #[arg(long)]
        open_block: u32,
        /// The new cumulative balance owed to the receiver, in base units.
        #[arg(long)]
        balance: U192,
    },
    /// Sign a closing agreement over a balance proof (as the receiver). Sends nothing.
    Agree {
        /// The sender's balance proof (65 bytes, hex) to agree to.
        #[arg(long)]
        balance_sig: Bytes,
    },
    /// Close a channel. As the sender, with the client and its store: `--cooperative URL` (the
    /// receiver's server signs the close; settled at once; if it refuses, closes alone) or
    /// `--uncooperative` (closes alone with the last acknowledged balance; the challenge period
    /// starts). With explicit signatures: `--balance` and `--balance-sig` alone (receiver:
    /// settles now; sender: starts the challenge period), plus `--closing-sig` (cooperative,
    /// anyone may send).
    #[command(group = clap::ArgGroup::new("how").required(true).args(["cooperative", "uncooperative", "balance_sig"]))]
    Close {
        /// The receiver's address.
        #[arg(long)]
        receiver: Address,
        /// The block the channel was opened in.
        #[arg(long)]
        open_block: u32,
        /// Ask the receiver's server at URL (e.g. http://host:5000) for a cooperative close.
        #[arg(long, value_name = "URL")]
        cooperative: Option<String>,
        /// Close alone with the last balance the receiver acknowledged.
        #[arg(long)]
        uncooperative: bool,
        /// The balance to close at, in base units (with --balance-sig).
        #[arg(long, requires = "balance_sig")]
        balance: Option<U192>,
        /// The sender's balance proof over that balance (65 bytes, hex).
        #[arg(long, requires = "balance")]
        balance_sig: Option<Bytes>,
        /// The receiver's closing signature (65 bytes, hex), for a cooperative close.
        #[arg(long, requires = "balance_sig")]
        closing_sig: Option<Bytes>,
    },
    /// Settle after the challenge period (as the sender).
    Settle {
        /// The receiver's address.
        #[arg(long)]
        receiver: Address,
        /// The block the channel was opened in.
        #[arg(long)]
        open_block: u32,
    },
}

pub(crate) fn run(args: ChannelArgs, node: &NodeArgs) -> anyhow::Result<()> {
    let url = &node.rpc_url()?;
    if let ChannelCommand::Info { sender, receiver, open_block, json } = args.command {
        let mut chain = RpcChain::connect_read_only(url)?;
        let record = DeploymentRecord::load(&args.deployments_dir, chain.chain_id())?;
        let c = Contracts::at(record.chain_id, record.token, record.channels);
        return info(&mut chain, &c, ChannelId { sender, receiver, open_block }, json);
    }
    // The sender's client commands: the client finds the contract (--contract or the record).
    let dir = &args.deployments_dir;
    let path = |erc223: bool| if erc223 { DepositPath::Erc223 } else { DepositPath::Erc20 };
    match &args.command {
        ChannelCommand::Open { receiver, deposit, erc223 } => {
            return super::sender::open(node, &args.sender, dir, path(*erc223), *receiver, *deposit);
        }
        ChannelCommand::Topup { receiver, open_block, amount, erc223 } => {
            let path = path(*erc223);
            return super::sender::top_up(node, &args.sender, dir, path, *receiver, *open_block, *amount);
        }
        ChannelCommand::Close { receiver, open_block, cooperative, balance_sig: None, .. } => {
            return super::sender::close(node, &args.sender, dir, *receiver, *open_block, cooperative.as_deref());
        }
        ChannelCommand::Settle { receiver, open_block } => {
            return super::sender::settle(node, &args.sender, dir, *receiver, *open_block);
        }
        _ => {}
    }
    let signer = node.signer()?;
    let chain = RpcChain::connect(url, std::slice::from_ref(&signer))?;
    let record = DeploymentRecord::load(&args.deployments_dir, chain.chain_id())?;
    let c = Contracts::at(record.chain_id, record.token, record.channels);

    match args.command {
        ChannelCommand::Open { .. } | ChannelCommand::Topup { .. } => unreachable!("the client deposited above"),
        ChannelCommand::Info { .. } => unreachable!("answered above without a key"),
        ChannelCommand::Pay { receiver, open_block, balance } => {
            let sig = signer.sign_digest(c.domain.balance_digest(receiver, open_block, balance));
            println!("balance {balance}");
            println!("signature {sig}");
        }
        ChannelCommand::Agree { balance_sig } => {
            let sig = signer.sign_digest(c.domain.closing_digest(&balance_sig));
            println!("closing signature {sig}");
        }
        ChannelCommand::Close { receiver, open_block, balance, balance_sig, closing_sig, .. } => {
            let (Some(balance), Some(balance_sig)) = (balance, balance_sig) else {
                unreachable!("--balance and --balance-sig go together; without them the client closed above")
            };
            let call = match closing_sig {
                Some(closing_sig) => Call::CooperativeClose { receiver, open_block, balance, balance_sig, closing_sig },
                None => Call::Close { receiver, open_block, balance, balance_sig },
            };
            close(url, &signer, &c, call)?;
        }
        ChannelCommand::Settle { .. } => unreachable!("the client settled above"),
    }
    Ok(())
}

/// Prints a channel (`getChannelInfo`).
fn info(chain: &mut RpcChain, c: &Contracts, id: ChannelId, json: bool) -> anyhow::Result<()> {
    let info = c.channel_info(chain, &id).map_err(|e| match e.revert() {
        Some(revert) => anyhow::anyhow!("{revert}"),
        None => e.into(),
    })?;
    if json {
        let value = serde_json::json!({
            "key": info.key, "deposit": info.deposit.to_string(),
            "settle_block": info.settle_block, "closing_balance": info.closing_balance.to_string(),
        });
        println!("{value}");
    } else {
        println!("channel        {id}");
        println!("key            {}", info.key);
        println!("deposit        {}", info.deposit);
        match info.settle_block {
            0 => println!("state          open"),
            block => println!("state          closing: balance {}, settle after block {block}", info.closing_balance),
        }
    }
    Ok(())
}

/// Sends a close with explicit signatures through the node's [`TxSender`] (estimated first:
/// nothing is sent if it would revert) and prints its block, gas and events.
fn close(url: &str, signer: &Signer, c: &Contracts, call: Call) -> anyhow::Result<()> {
    let what = name(&call);
    let (to, data) = call.encode(c.token, c.channels);
    let request = TransactionRequest::default().with_to(to).with_input(data);
    let mined = super::sender::runtime()?.block_on(async {
        let node = match tokio::time::timeout(NODE_TIMEOUT, Node::connect(url, Some(signer))).await {
            Ok(node) => node?.with_timeout(NODE_TIMEOUT),
            Err(_) => bail!("the node {} did not answer in {NODE_TIMEOUT:?}", uraiden::chain::RedactedUrl::new(url)),
        };
        let sender = TxSender::new(node, signer.address());
        match sender.send(request, Nonce::Pending, &Resend::never(RECEIPT_TIMEOUT)).await {
            Ok(mined) => Ok(mined),
            Err(SendError::WouldRevert(revert)) => bail!("{what} would revert: {revert} (nothing was sent)"),
            Err(error) => bail!("{what}: {error}"),
        }
    })?;
    let logs: Vec<_> = mined.receipt.inner.logs().iter().map(|log| log.inner.clone()).collect();
    let events = decode_logs(&logs, c.token, c.channels)?;
    println!("close sent in block {} (gas {})", mined.block, mined.receipt.gas_used);
    for event in &events {
        println!("  {event:?}");
    }
    Ok(())
}

fn name(call: &Call) -> &'static str {
    match call {
        Call::Approve { .. } => "approve",
        Call::Transfer { .. } => "transfer",
        Call::TransferWithData { .. } => "the ERC223 transfer",
        Call::CreateChannelErc20 { .. } => "createChannelERC20",
        Call::TopUpErc20 { .. } => "topUpERC20",
        Call::TokenFallback { .. } => "tokenFallback",
        Call::Close { .. } => "close",
        Call::CooperativeClose { .. } => "the cooperative close",
        Call::Settle { .. } => "settle",
    }
}
