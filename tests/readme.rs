//! Claims of the README checked against the code: the demo's output block is what
//! `uraiden demo` prints, and the gas a settle gets back is the figure the README gives.

mod common;

use std::process::Command;

use common::*;
use uraiden::{
    chain::{Chain, EvmChain},
    contract::Call,
};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The first fenced block after `heading`.
fn block_after(text: &str, heading: &str) -> String {
    let rest = &text[text.find(heading).unwrap_or_else(|| panic!("no {heading:?} in the README"))..];
    let start = rest.find("```\n").expect("a fenced block") + 4;
    let end = start + rest[start..].find("```\n").expect("the block's end");
    rest[start..end].to_owned()
}

#[test]
fn the_demo_block_is_what_the_demo_prints() {
    let output = Command::new(env!("CARGO_BIN_EXE_uraiden")).arg("demo").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(block_after(&readme(), "### The on-chain lifecycle demo"), printed);
}

/// EIP-3529: clearing a slot that was non-zero when the transaction began refunds 4,800. A
/// settle clears two (the channel and its closing balance), so it gets back 9,600 of the 22,100
/// the close request paid to write the closing balance; a receiver's close clears one.
#[test]
fn settle_gets_back_4800_per_cleared_slot() {
    let mut f = Fixture::new(EvmChain::new());
    let (s, r) = (f.sender.address(), f.receiver.address());
    // Warm, as in the gas report: the contract (another channel's deposit) and the receiver
    // already hold tokens, so no payout below clears a token balance.
    f.open_erc223(50);
    f.c.transfer(&mut f.chain, f.deployer.address(), r, u256(5)).unwrap();

    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    f.c.close(&mut f.chain, s, r, ch.open_block, u192(4), sig).unwrap();
    f.chain.mine(u64::from(CHALLENGE_PERIOD) + 1).unwrap();
    let (_, data) = Call::Settle { receiver: r, open_block: ch.open_block }.encode(f.c.token, f.c.channels);
    let (outcome, before_refund) = f.chain.call_with_gas(s, f.c.channels, data).unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let tx = f.c.settle(&mut f.chain, s, r, ch.open_block).unwrap();
    assert_eq!(before_refund - tx.gas_used, 2 * 4_800);

    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    let close = Call::Close { receiver: r, open_block: ch.open_block, balance: u192(4), balance_sig: sig.clone() };
    let (_, data) = close.encode(f.c.token, f.c.channels);
    let (outcome, before_refund) = f.chain.call_with_gas(r, f.c.channels, data).unwrap();
    assert!(outcome.is_success(), "{outcome:?}");
    let tx = f.c.close(&mut f.chain, r, r, ch.open_block, u192(4), sig).unwrap();
    assert_eq!(before_refund - tx.gas_used, 4_800);
}
