//! The channel lifecycle as the µRaiden diagrams draw it, one test per path, with events,
//! balances and channel state asserted at each step.
//!
//! Each scenario is a generic function over the chain; `scenario_tests!` instantiates all of
//! them for a chain: the embedded revm chain, and a real anvil node through JSON-RPC.

mod common;

use common::*;
use uraiden::{
    chain::Chain,
    contract::{ChannelsEvent, bindings::RaidenMicroTransferChannels as C},
    proof,
};

/// Open by ERC223 with 10, top up twice by 10 to 30, as in the diagrams.
pub fn open_and_top_up_erc223<Ch: Chain>(mut f: Fixture<Ch>) {
    let (s, r) = (f.sender.address(), f.receiver.address());
    let tx = f.c.open_erc223(&mut f.chain, s, r, u256(10)).unwrap();
    let ch = f.channel(tx.block_number as u32);
    assert_eq!(channel_events(&tx), vec![created(&ch, 10)]);
    assert_eq!(transfers(&tx), vec![(s, f.c.channels, 10)]);
    for (added, total) in [(10, 20), (10, 30)] {
        let tx = f.c.top_up_erc223(&mut f.chain, &ch, u256(added)).unwrap();
        assert_eq!(channel_events(&tx), vec![topped_up(&ch, added, total)]);
    }
    let info = f.info(&ch).unwrap();
    assert_eq!((info.key, info.deposit, info.settle_block, info.closing_balance), (ch.key(), u192(30), 0, u192(0)));
    assert_eq!(f.balances(), [FUNDS - 30, 0, FUNDS, 30]);
}

/// Open by ERC20 (approve + create) with 10, top up twice by 10 to 30.
pub fn open_and_top_up_erc20<Ch: Chain>(mut f: Fixture<Ch>) {
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    f.c.approve(&mut f.chain, s, cc, u256(10)).unwrap();
    let tx = f.c.open_erc20(&mut f.chain, s, r, u192(10)).unwrap();
    let ch = f.channel(tx.block_number as u32);
    assert_eq!(channel_events(&tx), vec![created(&ch, 10)]);
    assert_eq!(transfers(&tx), vec![(s, cc, 10)]);
    assert_eq!(f.c.allowance(&mut f.chain, s, cc).unwrap(), u256(0));
    for (added, total) in [(10, 20), (10, 30)] {
        f.c.approve(&mut f.chain, s, cc, u256(added)).unwrap();
        let tx = f.c.top_up_erc20(&mut f.chain, &ch, u192(added)).unwrap();
        assert_eq!(channel_events(&tx), vec![topped_up(&ch, added, total)]);
        assert_eq!(transfers(&tx), vec![(s, cc, added)]);
    }
    assert_eq!(f.info(&ch).unwrap().deposit, u192(30));
    assert_eq!(f.balances(), [FUNDS - 30, 0, FUNDS, 30]);
}

/// Off-chain payments with increasing balances: the contract and Rust agree on every digest
/// and recover the sender from every proof.
pub fn off_chain_payments<Ch: Chain>(mut f: Fixture<Ch>) {
    let ch = f.open_erc223(30);
    for balance in [1u64, 2, 5, 13, 30] {
        let sig = f.pay(&ch, balance);
        let onchain = f.c.balance_message_hash(&mut f.chain, ch.receiver, ch.open_block, u192(balance)).unwrap();
        assert_eq!(onchain, f.c.domain.balance_digest(ch.receiver, ch.open_block, u192(balance)));
        let signer =
            f.c.verify_balance_proof(&mut f.chain, ch.receiver, ch.open_block, u192(balance), sig.clone()).unwrap();
        assert_eq!(signer, f.sender.address());
        assert_eq!(proof::recover(onchain, &sig).unwrap(), f.sender.address());
    }
    // Paying changes nothing on chain.
    assert_eq!(f.balances(), [FUNDS - 30, 0, FUNDS, 30]);
}

/// The receiver closes with the sender's latest proof: settled at once.
pub fn receiver_close<Ch: Chain>(mut f: Fixture<Ch>) {
    let ch = f.open_erc223(30);
    let sig = f.pay(&ch, 12);
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    let tx = f.c.close(&mut f.chain, r, r, ch.open_block, u192(12), sig).unwrap();
    assert_eq!(channel_events(&tx), vec![settled(&ch, 12)]);
    assert_eq!(transfers(&tx), vec![(cc, r, 12), (cc, s, 18)]);
    assert_eq!(f.balances(), [FUNDS - 12, 12, FUNDS, 0]);
    assert_eq!(f.info(&ch), Err(not_found(&ch).into()));
}

/// Cooperative close submitted by the sender, then by a third party.
pub fn cooperative_close<Ch: Chain>(mut f: Fixture<Ch>) {
    let (s, r, o, cc) = (f.sender.address(), f.receiver.address(), f.outsider.address(), f.c.channels);
    let ch = f.open_erc223(30);
    let sig = f.pay(&ch, 7);
    let closing = f.agree(&sig);
    assert_eq!(f.c.verify_closing_signature(&mut f.chain, sig.clone(), closing.clone()).unwrap(), r);
    let onchain = f.c.closing_agreement_message_hash(&mut f.chain, sig.clone()).unwrap();
    assert_eq!(onchain, f.c.domain.closing_digest(&sig));
    let tx = f.c.cooperative_close(&mut f.chain, s, r, ch.open_block, u192(7), sig, closing).unwrap();
    assert_eq!(channel_events(&tx), vec![settled(&ch, 7)]);
    assert_eq!(transfers(&tx), vec![(cc, r, 7), (cc, s, 23)]);
    assert_eq!(f.balances(), [FUNDS - 7, 7, FUNDS, 0]);

    // A second channel, closed by someone who is neither party.
    f.chain.mine(1).unwrap();
    let ch2 = f.open_erc223(20);
    let sig = f.pay(&ch2, 20);
    let closing = f.agree(&sig);
    let tx = f.c.cooperative_close(&mut f.chain, o, r, ch2.open_block, u192(20), sig, closing).unwrap();
    assert_eq!(channel_events(&tx), vec![settled(&ch2, 20)]);
    assert_eq!(transfers(&tx), vec![(cc, r, 20)], "a zero refund is skipped");
    assert_eq!(f.balances(), [FUNDS - 27, 27, FUNDS, 0]);
    assert_eq!(f.info(&ch2), Err(not_found(&ch2).into()));
}

/// The sender requests a close with a stale balance; the receiver answers within the challenge
/// period with a higher proof.
pub fn uncooperative_close_then_receiver_closes<Ch: Chain>(mut f: Fixture<Ch>) {
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    let ch = f.open_erc223(30);
    let stale = f.pay(&ch, 5);
    let latest = f.pay(&ch, 25);
    let tx = f.c.close(&mut f.chain, s, r, ch.open_block, u192(5), stale).unwrap();
    let settle_block = tx.block_number as u32 + CHALLENGE_PERIOD;
    assert_eq!(
        channel_events(&tx),
        vec![ChannelsEvent::ChannelCloseRequested(C::ChannelCloseRequested {
            _sender: s,
            _receiver: r,
            _open_block_number: ch.open_block,
            _balance: u192(5),
        })]
    );
    assert!(transfers(&tx).is_empty());
    let info = f.info(&ch).unwrap();
    assert_eq!((info.deposit, info.settle_block, info.closing_balance), (u192(30), settle_block, u192(5)));

    f.chain.mine(3).unwrap();
    let tx = f.c.close(&mut f.chain, r, r, ch.open_block, u192(25), latest).unwrap();
    assert_eq!(channel_events(&tx), vec![settled(&ch, 25)]);
    assert_eq!(transfers(&tx), vec![(cc, r, 25), (cc, s, 5)]);
    assert_eq!(f.balances(), [FUNDS - 25, 25, FUNDS, 0]);
    assert_eq!(f.info(&ch), Err(not_found(&ch).into()));
}

/// The sender requests a close; settling one block too early reverts; after the period it
/// settles with the requested balance.
pub fn uncooperative_close_then_settle<Ch: Chain>(mut f: Fixture<Ch>) {
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    let ch = f.open_erc20(30);
    let sig = f.pay(&ch, 8);
    let tx = f.c.close(&mut f.chain, s, r, ch.open_block, u192(8), sig).unwrap();
    let settle_block = tx.block_number + u64::from(CHALLENGE_PERIOD);
    // The next transaction runs in block_number + 1: mine so that it runs in settle_block itself.
    let gap = settle_block - 1 - f.chain.block_number().unwrap();
    f.chain.mine(gap).unwrap();
    let too_early = uraiden::contract::ChannelsError::ChallengePeriodNotOver(C::ChallengePeriodNotOver {
        settleBlockNumber: settle_block as u32,
    });
    f.assert_reverts(&[ch], too_early, |f| f.c.settle(&mut f.chain, s, r, ch.open_block));
    // That reverted transaction was mined in settle_block; the next one runs after it.
    let tx = f.c.settle(&mut f.chain, s, r, ch.open_block).unwrap();
    assert_eq!(tx.block_number, settle_block + 1);
    assert_eq!(channel_events(&tx), vec![settled(&ch, 8)]);
    assert_eq!(transfers(&tx), vec![(cc, r, 8), (cc, s, 22)]);
    assert_eq!(f.balances(), [FUNDS - 8, 8, FUNDS, 0]);
    assert_eq!(f.info(&ch), Err(not_found(&ch).into()));
}

/// After the challenge period but before the sender settles, the receiver can still close.
pub fn receiver_closes_after_period<Ch: Chain>(mut f: Fixture<Ch>) {
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    let ch = f.open_erc223(30);
    let stale = f.pay(&ch, 1);
    let latest = f.pay(&ch, 29);
    f.c.close(&mut f.chain, s, r, ch.open_block, u192(1), stale).unwrap();
    f.chain.mine(u64::from(CHALLENGE_PERIOD) * 2).unwrap();
    let tx = f.c.close(&mut f.chain, r, r, ch.open_block, u192(29), latest).unwrap();
    assert_eq!(channel_events(&tx), vec![settled(&ch, 29)]);
    assert_eq!(transfers(&tx), vec![(cc, r, 29), (cc, s, 1)]);
    assert_eq!(f.balances(), [FUNDS - 29, 29, FUNDS, 0]);
    // Nothing is left for the sender to settle.
    f.assert_reverts(&[], not_found(&ch), |f| f.c.settle(&mut f.chain, s, r, ch.open_block));
}

/// Instantiates every scenario as a test on one chain.
macro_rules! scenario_tests {
    ($module:ident, $fixture:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn open_and_top_up_erc223() {
                super::open_and_top_up_erc223($fixture);
            }
            #[test]
            fn open_and_top_up_erc20() {
                super::open_and_top_up_erc20($fixture);
            }
            #[test]
            fn off_chain_payments() {
                super::off_chain_payments($fixture);
            }
            #[test]
            fn receiver_close() {
                super::receiver_close($fixture);
            }
            #[test]
            fn cooperative_close() {
                super::cooperative_close($fixture);
            }
            #[test]
            fn uncooperative_close_then_receiver_closes() {
                super::uncooperative_close_then_receiver_closes($fixture);
            }
            #[test]
            fn uncooperative_close_then_settle() {
                super::uncooperative_close_then_settle($fixture);
            }
            #[test]
            fn receiver_closes_after_period() {
                super::receiver_closes_after_period($fixture);
            }
        }
    };
}

scenario_tests!(evm, Fixture::new(uraiden::chain::EvmChain::new()));
scenario_tests!(anvil, Fixture::new(anvil_chain()));

/// The embedded chain's block controls: several transactions in one block (the second open of
/// one channel is `ChannelExists`; settled in between, the channel opens again under the same
/// key), a jump of the block number, and the misuses each refuses.
mod evm_blocks {
    use super::*;
    use uraiden::{
        chain::{ChainError, EvmChain},
        contract::ChannelsError,
    };

    #[test]
    fn transactions_share_a_block_until_it_ends() {
        let mut f = Fixture::new(EvmChain::new());
        let (s, r) = (f.sender.address(), f.receiver.address());
        let block = f.chain.begin_block().unwrap();
        assert_eq!(f.chain.block_number().unwrap(), block, "the block being built counts as the latest");
        let first = f.c.open_erc223(&mut f.chain, s, r, u256(10)).unwrap();
        assert_eq!(first.block_number, block);
        let ch = f.channel(block as u32);
        let exists = ChannelsError::ChannelExists(C::ChannelExists { key: ch.key() });
        f.assert_reverts(&[ch], exists, |f| f.c.open_erc223(&mut f.chain, s, r, u256(5)));
        let balance_sig = f.pay(&ch, 4);
        f.c.close(&mut f.chain, r, r, ch.open_block, u192(4), balance_sig).unwrap();
        let again = f.c.open_erc223(&mut f.chain, s, r, u256(7)).unwrap();
        assert_eq!(again.block_number, block);
        assert_eq!(f.info(&ch).unwrap().deposit, u192(7), "reopened under the settled channel's key");
        assert!(matches!(f.chain.mine(1), Err(ChainError::BlockInProgress)));
        assert!(matches!(f.chain.begin_block(), Err(ChainError::BlockInProgress)));
        f.chain.end_block().unwrap();
        assert!(matches!(f.chain.end_block(), Err(ChainError::NoBlockInProgress)));
        let next = f.c.transfer(&mut f.chain, s, r, u256(1)).unwrap();
        assert_eq!(next.block_number, block + 1, "a block of its own again");
    }

    #[test]
    fn jumps_forward_only() {
        let mut f = Fixture::new(EvmChain::new());
        let (s, r) = (f.sender.address(), f.receiver.address());
        let last = u64::from(u32::MAX);
        f.chain.jump_to(last - 1).unwrap();
        assert_eq!(f.chain.block_number().unwrap(), last - 1);
        let tx = f.c.open_erc223(&mut f.chain, s, r, u256(10)).unwrap();
        assert_eq!(tx.block_number, last, "the last block a channel can open in");
        assert!(matches!(
            f.chain.jump_to(5),
            Err(ChainError::BlockNumberBackwards { latest, requested: 5 }) if latest == last
        ));
        f.chain.jump_to(last).unwrap();
        let too_late = ChannelsError::BlockNumberTooLarge(C::BlockNumberTooLarge { blockNumber: u256(last + 1) });
        f.assert_reverts(&[], too_late, |f| f.c.open_erc20(&mut f.chain, s, r, u192(1)));
    }
}
