//! `uraiden demo`: the channel lifecycle of the µRaiden diagrams on the embedded chain.

use alloy_primitives::{Address, U256, aliases::U192};
use anyhow::Context;

use uraiden::{
    chain::{Chain, EvmChain},
    channel::ChannelId,
    contract::{Contracts, Tx},
    proof::Signer,
};

/// Prints one step: what happened and the gas its transaction used.
fn step(what: &str, tx: &Tx) {
    println!("  block {:>3}  {:<62} gas {:>7}", tx.block_number, what, tx.gas_used);
}

fn u192(v: u64) -> U192 {
    U192::from(v)
}

pub(crate) fn run() -> anyhow::Result<()> {
    let mut chain = EvmChain::new();
    let deployer = Signer::test_key(0);
    let sender = Signer::test_key(1);
    let receiver = Signer::test_key(2);
    let (s, r) = (sender.address(), receiver.address());
    println!("uraiden demo on the embedded revm chain ({:?}, chain id {})", EvmChain::SPEC, chain.chain_id());
    println!("  sender   {s}\n  receiver {r}\n");

    let (c, gas) = Contracts::deploy(&mut chain, deployer.address(), U256::from(1_000_000), 10)?;
    println!(
        "deployed token {} (gas {}) and channels {} (gas {})",
        c.token,
        gas.token.unwrap_or(0),
        c.channels,
        gas.channels
    );
    step("deployer sends the sender 100 tokens", &c.transfer(&mut chain, deployer.address(), s, U256::from(100))?);

    println!("\nchannel 1: ERC223 open, top-ups, payments, cooperative close");
    let tx = c.open_erc223(&mut chain, s, r, U256::from(10))?;
    step("open by ERC223 with deposit 10", &tx);
    let ch = ChannelId { sender: s, receiver: r, open_block: u32::try_from(tx.block_number)? };
    step("top up by ERC223 with 10 (deposit 20)", &c.top_up_erc223(&mut chain, &ch, U256::from(10))?);
    step("approve 10", &c.approve(&mut chain, s, c.channels, U256::from(10))?);
    step("top up by ERC20 with 10 (deposit 30)", &c.top_up_erc20(&mut chain, &ch, u192(10))?);
    let mut last = None;
    for balance in [3u64, 8, 15] {
        let sig = sender.sign_digest(c.domain.balance_digest(r, ch.open_block, u192(balance)));
        let signer = c.verify_balance_proof(&mut chain, r, ch.open_block, u192(balance), sig.clone())?;
        anyhow::ensure!(signer == s, "the contract recovered {signer}, not the sender");
        println!(
            "  off chain  sender pays: balance {balance:>2}, proof {}…, verified by the contract",
            &sig.to_string()[..18]
        );
        last = Some((balance, sig));
    }
    let (balance, sig) = last.context("no payment made")?;
    let closing = receiver.sign_digest(c.domain.closing_digest(&sig));
    step(
        &format!("cooperative close at balance {balance}, sent by the sender"),
        &c.cooperative_close(&mut chain, s, r, ch.open_block, u192(balance), sig, closing)?,
    );

    println!("\nchannel 2: ERC20 open, uncooperative close, settle after the challenge period");
    step("approve 20", &c.approve(&mut chain, s, c.channels, U256::from(20))?);
    let tx = c.open_erc20(&mut chain, s, r, u192(20))?;
    step("open by ERC20 with deposit 20", &tx);
    let ch = ChannelId { sender: s, receiver: r, open_block: u32::try_from(tx.block_number)? };
    let sig = sender.sign_digest(c.domain.balance_digest(r, ch.open_block, u192(6)));
    println!("  off chain  sender pays: balance  6");
    let tx = c.close(&mut chain, s, r, ch.open_block, u192(6), sig)?;
    step("sender requests close at balance 6 (challenge period starts)", &tx);
    let info = c.channel_info(&mut chain, &ch)?;
    chain.mine(u64::from(info.settle_block) - chain.block_number()?)?;
    println!("  mined to block {}, the end of the challenge period", chain.block_number()?);
    step("sender settles", &c.settle(&mut chain, s, r, ch.open_block)?);

    println!("\nbalances at the end");
    for (name, who) in [("sender", s), ("receiver", r), ("channel contract", c.channels)] {
        print_balance(&c, &mut chain, name, who)?;
    }
    Ok(())
}

fn print_balance(c: &Contracts, chain: &mut EvmChain, name: &str, who: Address) -> anyhow::Result<()> {
    println!("  {name:<17} {:>4}", c.balance_of(chain, who)?);
    Ok(())
}
