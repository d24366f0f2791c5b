//! Every bad call reverts with the custom error that names its cause, and leaves every token
//! balance, the total supply and every channel exactly as they were.

mod common;

use alloy_primitives::{Address, Bytes, U256};
use common::*;
use uraiden::{
    chain::{Chain, EvmChain},
    contract::{
        ChannelsError, TokenError,
        bindings::{ERC223Token as T, RaidenMicroTransferChannels as C},
    },
};

fn fixture() -> Fixture<EvmChain> {
    Fixture::new(EvmChain::new())
}

#[test]
fn open_with_zero_receiver_or_zero_deposit() {
    let mut f = fixture();
    let s = f.sender.address();
    let cc = f.c.channels;
    f.c.approve(&mut f.chain, s, cc, u256(10)).unwrap();
    let invalid = ChannelsError::InvalidReceiver(C::InvalidReceiver {});
    f.assert_reverts(&[], invalid.clone(), |f| f.c.open_erc20(&mut f.chain, s, Address::ZERO, u192(10)));
    f.assert_reverts(&[], invalid, |f| f.c.open_erc223(&mut f.chain, s, Address::ZERO, u256(10)));
    let r = f.receiver.address();
    let zero = ChannelsError::ZeroDeposit(C::ZeroDeposit {});
    f.assert_reverts(&[], zero.clone(), |f| f.c.open_erc20(&mut f.chain, s, r, u192(0)));
    f.assert_reverts(&[], zero, |f| f.c.open_erc223(&mut f.chain, s, r, u256(0)));
}

#[test]
fn open_erc20_without_enough_allowance_or_balance() {
    let mut f = fixture();
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    f.c.approve(&mut f.chain, s, cc, u256(9)).unwrap();
    let expected = TokenError::ERC20InsufficientAllowance(T::ERC20InsufficientAllowance {
        spender: cc,
        allowance: u256(9),
        needed: u256(10),
    });
    f.assert_reverts(&[], expected, |f| f.c.open_erc20(&mut f.chain, s, r, u192(10)));
    f.c.approve(&mut f.chain, s, cc, u256(FUNDS + 1)).unwrap();
    let expected = TokenError::ERC20InsufficientBalance(T::ERC20InsufficientBalance {
        sender: s,
        balance: u256(FUNDS),
        needed: u256(FUNDS + 1),
    });
    f.assert_reverts(&[], expected, |f| f.c.open_erc20(&mut f.chain, s, r, u192(FUNDS + 1)));
}

#[test]
fn open_erc223_beyond_balance() {
    let mut f = fixture();
    let (s, r) = (f.sender.address(), f.receiver.address());
    let expected = TokenError::ERC20InsufficientBalance(T::ERC20InsufficientBalance {
        sender: s,
        balance: u256(FUNDS),
        needed: u256(FUNDS + 1),
    });
    f.assert_reverts(&[], expected, |f| f.c.open_erc223(&mut f.chain, s, r, u256(FUNDS + 1)));
}

#[test]
fn erc223_data_of_a_wrong_length() {
    let mut f = fixture();
    let s = f.sender.address();
    let cc = f.c.channels;
    let ch = f.open_erc223(10);
    for len in [0usize, 1, 19, 21, 23, 25, 32, 64] {
        let data = Bytes::from(vec![0x11; len]);
        let expected = ChannelsError::InvalidTokenFallbackData(C::InvalidTokenFallbackData { length: U256::from(len) });
        f.assert_reverts(&[ch], expected, |f| f.c.transfer_with_data(&mut f.chain, s, cc, u256(5), data));
    }
}

#[test]
fn top_up_of_a_missing_channel_or_by_zero() {
    let mut f = fixture();
    let s = f.sender.address();
    let cc = f.c.channels;
    let ch = f.open_erc223(10);
    let ghost = f.channel(ch.open_block + 1);
    f.c.approve(&mut f.chain, s, cc, u256(5)).unwrap();
    f.assert_reverts(&[ch], not_found(&ghost), |f| f.c.top_up_erc20(&mut f.chain, &ghost, u192(5)));
    f.assert_reverts(&[ch], not_found(&ghost), |f| f.c.top_up_erc223(&mut f.chain, &ghost, u256(5)));
    let zero = ChannelsError::ZeroDeposit(C::ZeroDeposit {});
    f.assert_reverts(&[ch], zero.clone(), |f| f.c.top_up_erc20(&mut f.chain, &ch, u192(0)));
    f.assert_reverts(&[ch], zero, |f| f.c.top_up_erc223(&mut f.chain, &ch, u256(0)));
    // Someone else's channel: the key is built from the caller, so it is not found.
    let o = f.outsider.address();
    let theirs = uraiden::channel::ChannelId { sender: o, ..ch };
    f.assert_reverts(&[ch], not_found(&theirs), |f| f.c.top_up_erc223(&mut f.chain, &theirs, u256(5)));
}

#[test]
fn top_up_after_a_close_request() {
    let mut f = fixture();
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 3);
    f.c.close(&mut f.chain, s, r, ch.open_block, u192(3), sig).unwrap();
    let expected = ChannelsError::CloseAlreadyRequested(C::CloseAlreadyRequested { key: ch.key() });
    f.c.approve(&mut f.chain, s, cc, u256(5)).unwrap();
    f.assert_reverts(&[ch], expected.clone(), |f| f.c.top_up_erc20(&mut f.chain, &ch, u192(5)));
    f.assert_reverts(&[ch], expected, |f| f.c.top_up_erc223(&mut f.chain, &ch, u256(5)));
}

#[test]
fn close_with_balance_above_deposit() {
    let mut f = fixture();
    let (s, r) = (f.sender.address(), f.receiver.address());
    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 11);
    let closing = f.agree(&sig);
    let expected =
        ChannelsError::BalanceExceedsDeposit(C::BalanceExceedsDeposit { balance: u192(11), deposit: u192(10) });
    f.assert_reverts(&[ch], expected.clone(), |f| f.c.close(&mut f.chain, r, r, ch.open_block, u192(11), sig.clone()));
    f.assert_reverts(&[ch], expected.clone(), |f| f.c.close(&mut f.chain, s, r, ch.open_block, u192(11), sig.clone()));
    f.assert_reverts(&[ch], expected, |f| {
        f.c.cooperative_close(&mut f.chain, s, r, ch.open_block, u192(11), sig, closing)
    });
}

#[test]
fn close_by_an_outsider() {
    let mut f = fixture();
    let (r, o) = (f.receiver.address(), f.outsider.address());
    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    let expected = ChannelsError::CallerNotSenderOrReceiver(C::CallerNotSenderOrReceiver { caller: o });
    f.assert_reverts(&[ch], expected, |f| f.c.close(&mut f.chain, o, r, ch.open_block, u192(4), sig));
}

#[test]
fn second_close_request() {
    let mut f = fixture();
    let (s, r) = (f.sender.address(), f.receiver.address());
    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    f.c.close(&mut f.chain, s, r, ch.open_block, u192(4), sig).unwrap();
    let lower = f.pay(&ch, 1);
    let expected = ChannelsError::CloseAlreadyRequested(C::CloseAlreadyRequested { key: ch.key() });
    f.assert_reverts(&[ch], expected, |f| f.c.close(&mut f.chain, s, r, ch.open_block, u192(1), lower));
}

#[test]
fn close_with_a_proof_for_another_channel_or_signer() {
    let mut f = fixture();
    let r = f.receiver.address();
    let ch = f.open_erc223(10);
    // Signed for another open block: recovers to a stranger, so no channel matches.
    let other = f.channel(ch.open_block + 1);
    let sig = f.pay(&other, 4);
    let digest = f.c.domain.balance_digest(r, ch.open_block, u192(4));
    let stranger = uraiden::proof::recover(digest, &sig).unwrap();
    let as_seen = uraiden::channel::ChannelId { sender: stranger, ..ch };
    f.assert_reverts(&[ch], not_found(&as_seen), |f| f.c.close(&mut f.chain, r, r, ch.open_block, u192(4), sig));
    // Signed by the receiver instead of the sender.
    let sig = f.receiver.sign_digest(digest);
    let as_seen = uraiden::channel::ChannelId { sender: r, ..ch };
    f.assert_reverts(&[ch], not_found(&as_seen), |f| f.c.close(&mut f.chain, r, r, ch.open_block, u192(4), sig));
}

#[test]
fn cooperative_close_signed_by_someone_else() {
    let mut f = fixture();
    let (s, r, o) = (f.sender.address(), f.receiver.address(), f.outsider.address());
    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    let forged = f.outsider.sign_digest(f.c.domain.closing_digest(&sig));
    let expected = ChannelsError::ClosingSignerNotReceiver(C::ClosingSignerNotReceiver { signer: o, receiver: r });
    f.assert_reverts(&[ch], expected, |f| {
        f.c.cooperative_close(&mut f.chain, s, r, ch.open_block, u192(4), sig.clone(), forged)
    });
    // The receiver's agreement to a different balance proof does not transfer either.
    let other_sig = f.pay(&ch, 9);
    let closing_for_other = f.agree(&other_sig);
    let digest = f.c.domain.closing_digest(&sig);
    let signer = uraiden::proof::recover(digest, &closing_for_other).unwrap();
    let expected = ChannelsError::ClosingSignerNotReceiver(C::ClosingSignerNotReceiver { signer, receiver: r });
    f.assert_reverts(&[ch], expected, |f| {
        f.c.cooperative_close(&mut f.chain, s, r, ch.open_block, u192(4), sig, closing_for_other)
    });
}

#[test]
fn settle_without_request_by_receiver_or_twice() {
    let mut f = fixture();
    let (s, r) = (f.sender.address(), f.receiver.address());
    let ch = f.open_erc223(10);
    let expected = ChannelsError::CloseNotRequested(C::CloseNotRequested { key: ch.key() });
    f.assert_reverts(&[ch], expected, |f| f.c.settle(&mut f.chain, s, r, ch.open_block));
    let sig = f.pay(&ch, 4);
    f.c.close(&mut f.chain, s, r, ch.open_block, u192(4), sig).unwrap();
    f.chain.mine(u64::from(CHALLENGE_PERIOD)).unwrap();
    // The receiver cannot settle: the key is built from the caller.
    let as_receiver = uraiden::channel::ChannelId { sender: r, ..ch };
    f.assert_reverts(&[ch], not_found(&as_receiver), |f| f.c.settle(&mut f.chain, r, r, ch.open_block));
    f.c.settle(&mut f.chain, s, r, ch.open_block).unwrap();
    f.assert_reverts(&[ch], not_found(&ch), |f| f.c.settle(&mut f.chain, s, r, ch.open_block));
}

#[test]
fn operations_on_a_settled_channel() {
    let mut f = fixture();
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    f.c.close(&mut f.chain, r, r, ch.open_block, u192(4), sig.clone()).unwrap();
    f.assert_reverts(&[ch], not_found(&ch), |f| f.c.close(&mut f.chain, r, r, ch.open_block, u192(4), sig.clone()));
    f.assert_reverts(&[ch], not_found(&ch), |f| f.c.close(&mut f.chain, s, r, ch.open_block, u192(4), sig.clone()));
    let closing = f.agree(&sig);
    f.assert_reverts(&[ch], not_found(&ch), |f| {
        f.c.cooperative_close(&mut f.chain, s, r, ch.open_block, u192(4), sig, closing)
    });
    f.assert_reverts(&[ch], not_found(&ch), |f| f.c.top_up_erc223(&mut f.chain, &ch, u256(1)));
    f.c.approve(&mut f.chain, s, cc, u256(1)).unwrap();
    f.assert_reverts(&[ch], not_found(&ch), |f| f.c.top_up_erc20(&mut f.chain, &ch, u192(1)));
    assert_eq!(f.info(&ch), Err(not_found(&ch).into()));
}
