//! `uraiden channel …`: open, top up, inspect, pay, agree, close and settle channels on a node,
//! with the contract found in `deployments/<chain_id>.json`.
//!
//! Every transaction is first run as a call: if the contract would revert, the decoded custom
//! error is reported and nothing is sent.

use std::path::PathBuf;

use alloy_primitives::{Address, Bytes, aliases::U192};
use anyhow::{Context, bail};

use super::{deploy::DeploymentRecord, key::KeyArgs};
use crate::{
    chain::{Chain, Outcome, RpcChain},
    channel::ChannelId,
    contract::{Call, Contracts, Revert, Tx, open_data, top_up_data},
};

/// Arguments shared by every channel command.
#[derive(Debug, clap::Args)]
pub(crate) struct ChannelArgs {
    /// JSON-RPC endpoint of the node.
    #[arg(long, env = "ETH_RPC_URL", global = true)]
    rpc_url: Option<String>,
    #[command(flatten)]
    key: KeyArgs,
    /// Where `uraiden deploy` recorded the contracts.
    #[arg(long, default_value = "deployments", global = true)]
    deployments_dir: PathBuf,
    #[command(subcommand)]
    command: ChannelCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ChannelCommand {
    /// Open a channel to RECEIVER with DEPOSIT tokens (approve + createChannelERC20, or ERC223).
    Open {
        #[arg(long)]
        receiver: Address,
        #[arg(long)]
        deposit: U192,
        /// Open with one ERC223 transfer instead of approve + createChannelERC20.
        #[arg(long)]
        erc223: bool,
    },
    /// Add AMOUNT tokens to your channel (approve + topUpERC20, or ERC223).
    Topup {
        #[arg(long)]
        receiver: Address,
        #[arg(long)]
        open_block: u32,
        #[arg(long)]
        amount: U192,
        #[arg(long)]
        erc223: bool,
    },
    /// Show a channel (getChannelInfo).
    Info {
        #[arg(long)]
        sender: Address,
        #[arg(long)]
        receiver: Address,
        #[arg(long)]
        open_block: u32,
        #[arg(long)]
        json: bool,
    },
    /// Sign a balance proof (as the sender): prints the signature and the balance. Sends nothing.
    Pay {
        #[arg(long)]
        receiver: Address,
        #[arg(long)]
        open_block: u32,
        #[arg(long)]
        balance: U192,
    },
    /// Sign a closing agreement over a balance proof (as the receiver). Sends nothing.
    Agree {
        #[arg(long)]
        balance_sig: Bytes,
    },
    /// Close: with the balance proof alone (receiver: settles now; sender: starts the challenge
    /// period), or with the receiver's closing signature too (cooperative, anyone may send).
    Close {
        #[arg(long)]
        receiver: Address,
        #[arg(long)]
        open_block: u32,
        #[arg(long)]
        balance: U192,
        #[arg(long)]
        balance_sig: Bytes,
        #[arg(long)]
        closing_sig: Option<Bytes>,
    },
    /// Settle after the challenge period (as the sender).
    Settle {
        #[arg(long)]
        receiver: Address,
        #[arg(long)]
        open_block: u32,
    },
}

pub(crate) fn run(args: ChannelArgs) -> anyhow::Result<()> {
    let signer = args.key.signer()?;
    let me = signer.address();
    let url = args.rpc_url.as_deref().context("no node: pass --rpc-url URL or set ETH_RPC_URL")?;
    let mut chain = RpcChain::connect(url, std::slice::from_ref(&signer))?;
    let record = DeploymentRecord::load(&args.deployments_dir, chain.chain_id())?;
    let c = Contracts::at(record.chain_id, record.token, record.channels);
    let chain = &mut chain;

    match args.command {
        ChannelCommand::Open { receiver, deposit, erc223 } => {
            let tx = if erc223 {
                send(
                    chain,
                    &c,
                    me,
                    Call::TransferWithData { to: c.channels, amount: deposit.to(), data: open_data(receiver) },
                )?
            } else {
                send(chain, &c, me, Call::Approve { spender: c.channels, amount: deposit.to() })?;
                send(chain, &c, me, Call::CreateChannelErc20 { receiver, deposit })?
            };
            println!("opened channel {me} -> {receiver} at block {} with deposit {deposit}", tx.block_number);
            println!("open block: {}", tx.block_number);
        }
        ChannelCommand::Topup { receiver, open_block, amount, erc223 } => {
            let tx = if erc223 {
                let data = top_up_data(receiver, open_block);
                send(chain, &c, me, Call::TransferWithData { to: c.channels, amount: amount.to(), data })?
            } else {
                send(chain, &c, me, Call::Approve { spender: c.channels, amount: amount.to() })?;
                send(chain, &c, me, Call::TopUpErc20 { receiver, open_block, added: amount })?
            };
            let info = c.channel_info(chain, &ChannelId { sender: me, receiver, open_block })?;
            println!("topped up by {amount} in block {}: deposit {}", tx.block_number, info.deposit);
        }
        ChannelCommand::Info { sender, receiver, open_block, json } => {
            let id = ChannelId { sender, receiver, open_block };
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
                    block => {
                        println!("state          closing: balance {}, settle after block {block}", info.closing_balance)
                    }
                }
            }
        }
        ChannelCommand::Pay { receiver, open_block, balance } => {
            let sig = signer.sign_digest(c.domain.balance_digest(receiver, open_block, balance));
            println!("balance {balance}");
            println!("signature {sig}");
        }
        ChannelCommand::Agree { balance_sig } => {
            let sig = signer.sign_digest(c.domain.closing_digest(&balance_sig));
            println!("closing signature {sig}");
        }
        ChannelCommand::Close { receiver, open_block, balance, balance_sig, closing_sig } => {
            let call = match closing_sig {
                Some(closing_sig) => Call::CooperativeClose { receiver, open_block, balance, balance_sig, closing_sig },
                None => Call::Close { receiver, open_block, balance, balance_sig },
            };
            let tx = send(chain, &c, me, call)?;
            println!("close sent in block {} (gas {})", tx.block_number, tx.gas_used);
            for event in &tx.events {
                println!("  {event:?}");
            }
        }
        ChannelCommand::Settle { receiver, open_block } => {
            let tx = send(chain, &c, me, Call::Settle { receiver, open_block })?;
            println!("settled in block {} (gas {})", tx.block_number, tx.gas_used);
        }
    }
    Ok(())
}

/// Runs `call` as an `eth_call` first; sends it only if it would succeed.
fn send(chain: &mut RpcChain, c: &Contracts, from: Address, call: Call) -> anyhow::Result<Tx> {
    let (to, data) = call.encode(c.token, c.channels);
    match chain.call(from, to, data)? {
        Outcome::Success(_) => {}
        outcome => {
            let revert = Revert::from_outcome(&outcome).expect("not a success");
            bail!("{} would revert: {revert} (nothing was sent)", name(&call));
        }
    }
    c.execute(chain, from, call).map_err(|e| anyhow::anyhow!("{e}"))
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
