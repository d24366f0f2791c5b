//! The contract's boundaries, each at the exact value and one step past it: the low-s bound,
//! the uint32 open block and settle block, the smallest challenge period, the four bytes of an
//! ERC223 top-up's open block, the order of a cooperative close's checks, and the bytes a
//! closing agreement hashes. `scripts/mutation-check` shows that each test catches a one-edit
//! mutant of the contract that the property suite lets through.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, hex};
use common::*;
use uraiden::{
    chain::{Chain, ChainError, EvmChain, Outcome},
    channel::ChannelId,
    contract::{ChannelsError, Contracts, Revert, bindings::RaidenMicroTransferChannels as C},
    proof::{self, Signer},
};

/// Half the secp256k1 group order, `(n - 1) / 2`: the largest `s` the contract accepts.
const HALF_ORDER: U256 = U256::from_be_slice(&hex!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"));

/// The first block number that does not fit in uint32.
const PAST_UINT32: u64 = 1 << 32;

/// A fixture whose channel contract has `challenge_period` blocks (the token, keys and funds as
/// in [`Fixture::new`]).
fn fixture_with_period(challenge_period: u32) -> Fixture<EvmChain> {
    let mut chain = EvmChain::new();
    let deployer = Signer::test_key(0);
    let (c, _) = Contracts::deploy(&mut chain, deployer.address(), u256(1_000_000), challenge_period).unwrap();
    let (sender, receiver, outsider) = (Signer::test_key(1), Signer::test_key(2), Signer::test_key(3));
    for who in [sender.address(), outsider.address()] {
        c.transfer(&mut chain, deployer.address(), who, u256(FUNDS)).unwrap();
    }
    Fixture { chain, c, deployer, sender, receiver, outsider }
}

/// Mines empty blocks so that the next transaction lands in block `block`.
fn next_tx_in(f: &mut Fixture<EvmChain>, block: u64) {
    let latest = f.chain.block_number().unwrap();
    assert!(block > latest, "block {block} is not ahead of {latest}");
    f.chain.mine(block - 1 - latest).unwrap();
}

/// `r ‖ s ‖ v` with the given `s`.
fn signature(r: &[u8], s: U256, v: u8) -> Bytes {
    [r, &s.to_be_bytes::<32>()[..], &[v]].concat().into()
}

/// The revert of a failed view, or the address it returned.
fn verdict(result: Result<Address, uraiden::contract::CallError>) -> Result<Address, Revert> {
    result.map_err(|e| e.revert().cloned().expect("a revert"))
}

/// `s` exactly at half the order is a valid low-s signature: both views recover it, and a
/// receiver closes a channel with it. One above is `InvalidSignatureS` on both sides.
#[test]
fn s_at_half_the_order_is_accepted_and_one_above_is_refused() {
    let mut f = Fixture::new(EvmChain::new());
    let r = f.receiver.address();
    let digest = f.c.domain.balance_digest(r, 7, u192(4));
    // Any valid `r` works: with `s` fixed, the signature recovers to some key nobody holds.
    let x = f.sender.sign_digest(digest)[..32].to_vec();
    for v in [27u8, 28] {
        let at_half = signature(&x, HALF_ORDER, v);
        let signer = proof::recover(digest, &at_half).expect("s = (n - 1) / 2 is low");
        let onchain = f.c.verify_balance_proof(&mut f.chain, r, 7, u192(4), at_half.clone());
        assert_eq!(verdict(onchain), Ok(signer), "v = {v}");
        let agreement = f.c.domain.closing_digest(&at_half);
        let onchain = f.c.verify_closing_signature(&mut f.chain, at_half.clone(), at_half.clone());
        assert_eq!(verdict(onchain), Ok(proof::recover(agreement, &at_half).unwrap()), "closing, v = {v}");

        let above = signature(&x, HALF_ORDER + U256::from(1), v);
        let high = ChannelsError::InvalidSignatureS(C::InvalidSignatureS { s: B256::from(HALF_ORDER + U256::from(1)) });
        assert_eq!(proof::recover(digest, &above).map_err(ChannelsError::from), Err(high.clone()));
        let onchain = f.c.verify_balance_proof(&mut f.chain, r, 7, u192(4), above.clone());
        assert_eq!(verdict(onchain), Err(Revert::Channels(high.clone())), "v = {v}");
        let onchain = f.c.verify_closing_signature(&mut f.chain, at_half, above);
        assert_eq!(verdict(onchain), Err(Revert::Channels(high)), "closing, v = {v}");
    }

    // The embedded chain takes any `from`, so the key behind an s = (n - 1) / 2 proof can own
    // a channel: funded in the next block, it opens in the one after, and the receiver closes
    // with that proof and is paid.
    let open_block = (f.chain.block_number().unwrap() + 2) as u32;
    let at_half = signature(&x, HALF_ORDER, 27);
    let owner = proof::recover(f.c.domain.balance_digest(r, open_block, u192(4)), &at_half).unwrap();
    f.c.transfer(&mut f.chain, f.deployer.address(), owner, u256(10)).unwrap();
    let tx = f.c.open_erc223(&mut f.chain, owner, r, u256(10)).unwrap();
    assert_eq!(tx.block_number, u64::from(open_block));
    let tx = f.c.close(&mut f.chain, r, r, open_block, u192(4), at_half).unwrap();
    assert_eq!(transfers(&tx), vec![(f.c.channels, r, 4), (f.c.channels, owner, 6)]);
}

/// A channel opens in block 2^32 - 1, by ERC223 and by ERC20, and is topped up and closed
/// there; from block 2^32 on, opening is `BlockNumberTooLarge` and changes nothing.
#[test]
fn open_in_the_last_uint32_block_and_not_after() {
    let mut f = Fixture::new(EvmChain::new());
    let (s, r, o, cc) = (f.sender.address(), f.receiver.address(), f.outsider.address(), f.c.channels);
    next_tx_in(&mut f, u64::from(u32::MAX) - 1);
    f.c.approve(&mut f.chain, o, cc, u256(20)).unwrap();
    let tx = f.c.open_erc223(&mut f.chain, s, r, u256(10)).unwrap();
    assert_eq!(tx.block_number, u64::from(u32::MAX));
    let by_erc223 = f.channel(u32::MAX);
    assert_eq!(f.info(&by_erc223).unwrap().deposit, u192(10));

    let by_erc20 = ChannelId { sender: o, ..by_erc223 };
    // The outsider's ERC20 open was approved in block 2^32 - 2 but runs in 2^32: refused, as
    // is every later open.
    f.assert_reverts(&[by_erc223], too_large_at(PAST_UINT32), |f| f.c.open_erc20(&mut f.chain, o, r, u192(20)));
    f.assert_reverts(&[by_erc223], too_large_at(PAST_UINT32 + 1), |f| f.c.open_erc223(&mut f.chain, o, r, u256(20)));
    f.chain.mine(1_000).unwrap();
    f.assert_reverts(&[by_erc223], too_large_at(PAST_UINT32 + 1_002), |f| {
        f.c.open_erc223(&mut f.chain, o, r, u256(20))
    });
    assert_eq!(f.info(&by_erc20), Err(not_found(&by_erc20).into()));
    assert_eq!(
        f.info(&ChannelId { open_block: 0, ..by_erc20 }),
        Err(not_found(&ChannelId { open_block: 0, ..by_erc20 }).into())
    );

    // The channel of block 2^32 - 1 still works past it: top-ups and closes check no block.
    let tx = f.c.top_up_erc223(&mut f.chain, &by_erc223, u256(5)).unwrap();
    assert_eq!(channel_events(&tx), vec![topped_up(&by_erc223, 5, 15)]);
    let sig = f.pay(&by_erc223, 7);
    let tx = f.c.close(&mut f.chain, r, r, u32::MAX, u192(7), sig).unwrap();
    assert_eq!(channel_events(&tx), vec![settled(&by_erc223, 7)]);
    assert_eq!(f.balances(), [FUNDS - 7, 7, FUNDS, 0]);
}

fn too_large_at(block: u64) -> ChannelsError {
    ChannelsError::BlockNumberTooLarge(C::BlockNumberTooLarge { blockNumber: U256::from(block) })
}

/// The ERC20 open in block 2^32 - 1 works as the ERC223 one does.
#[test]
fn erc20_open_in_the_last_uint32_block() {
    let mut f = Fixture::new(EvmChain::new());
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    next_tx_in(&mut f, u64::from(u32::MAX) - 1);
    f.c.approve(&mut f.chain, s, cc, u256(10)).unwrap();
    let tx = f.c.open_erc20(&mut f.chain, s, r, u192(10)).unwrap();
    assert_eq!(tx.block_number, u64::from(u32::MAX));
    assert_eq!(f.info(&f.channel(u32::MAX)).unwrap().deposit, u192(10));
    f.c.approve(&mut f.chain, s, cc, u256(10)).unwrap();
    f.assert_reverts(&[f.channel(u32::MAX)], too_large_at(PAST_UINT32 + 1), |f| {
        f.c.open_erc20(&mut f.chain, s, r, u192(10))
    });
}

/// A close request whose settle block is exactly 2^32 - 1 is recorded; one block later it is
/// `SettleBlockTooLarge`. The recorded one settles in block 2^32, not in 2^32 - 1.
#[test]
fn settle_block_at_the_uint32_limit_and_not_after() {
    let mut f = Fixture::new(EvmChain::new());
    let (s, r) = (f.sender.address(), f.receiver.address());
    let first = f.open_erc223(10);
    let second = f.open_erc223(20);
    let last_request = u64::from(u32::MAX) - u64::from(CHALLENGE_PERIOD);
    next_tx_in(&mut f, last_request);
    let sig = f.pay(&first, 3);
    f.c.close(&mut f.chain, s, r, first.open_block, u192(3), sig).unwrap();
    let info = f.info(&first).unwrap();
    assert_eq!((info.settle_block, info.closing_balance), (u32::MAX, u192(3)));

    let sig = f.pay(&second, 4);
    let too_large =
        ChannelsError::SettleBlockTooLarge(C::SettleBlockTooLarge { settleBlockNumber: U256::from(PAST_UINT32) });
    f.assert_reverts(&[first, second], too_large, |f| f.c.close(&mut f.chain, s, r, second.open_block, u192(4), sig));
    assert_eq!(f.info(&second).unwrap().settle_block, 0);

    // Block 2^32 - 1 is the settle block itself: too early. Block 2^32 settles.
    next_tx_in(&mut f, u64::from(u32::MAX));
    let early = ChannelsError::ChallengePeriodNotOver(C::ChallengePeriodNotOver { settleBlockNumber: u32::MAX });
    f.assert_reverts(&[first, second], early, |f| f.c.settle(&mut f.chain, s, r, first.open_block));
    let tx = f.c.settle(&mut f.chain, s, r, first.open_block).unwrap();
    assert_eq!(tx.block_number, PAST_UINT32);
    assert_eq!(channel_events(&tx), vec![settled(&first, 3)]);
    assert_eq!(f.balances(), [FUNDS - 30 + 7, 3, FUNDS, 20]);
}

/// A challenge period of 0 is refused at deployment; 1 is the smallest: a close requested in
/// block n settles in block n + 2 and not before.
#[test]
fn a_challenge_period_of_one_block() {
    let mut chain = EvmChain::new();
    let deployer = Signer::test_key(0).address();
    let (c, _) = Contracts::deploy(&mut chain, deployer, u256(1), 1).unwrap();
    match Contracts::deploy_for_token(&mut chain, deployer, c.token, 0) {
        Err(ChainError::DeploymentFailed(Outcome::Revert(data))) => {
            assert_eq!(
                Revert::decode(&data),
                Revert::Channels(ChannelsError::ZeroChallengePeriod(C::ZeroChallengePeriod {}))
            )
        }
        other => panic!("a challenge period of 0 deployed: {other:?}"),
    }

    let mut f = fixture_with_period(1);
    assert_eq!(f.c.challenge_period(&mut f.chain).unwrap(), 1);
    let (s, r) = (f.sender.address(), f.receiver.address());
    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 6);
    let tx = f.c.close(&mut f.chain, s, r, ch.open_block, u192(6), sig).unwrap();
    let settle_block = tx.block_number as u32 + 1;
    assert_eq!(f.info(&ch).unwrap().settle_block, settle_block);
    let early = ChannelsError::ChallengePeriodNotOver(C::ChallengePeriodNotOver { settleBlockNumber: settle_block });
    f.assert_reverts(&[ch], early, |f| f.c.settle(&mut f.chain, s, r, ch.open_block));
    let tx = f.c.settle(&mut f.chain, s, r, ch.open_block).unwrap();
    assert_eq!(tx.block_number, u64::from(settle_block) + 1);
    assert_eq!(f.balances(), [FUNDS - 6, 6, FUNDS, 0]);
}

/// An ERC223 top-up names its channel's open block in bytes 20..24 of the data: every one of
/// the four bytes counts, at open blocks from 2^16 up to 2^32 - 2.
#[test]
fn erc223_top_up_reads_all_four_bytes_of_the_open_block() {
    let mut f = Fixture::new(EvmChain::new());
    let (s, r, cc) = (f.sender.address(), f.receiver.address(), f.c.channels);
    let mut opened = Vec::new();
    for block in [0x0000_ff00u64, 0x0001_0000, 0x00ff_ffff, 0x0100_0000, 0x7f00_00ff, 0xf1e2_d3c4, 0xffff_fffe] {
        next_tx_in(&mut f, block);
        let ch = f.open_erc223(10);
        assert_eq!(u64::from(ch.open_block), block);
        opened.push(ch);
    }
    for (i, ch) in opened.iter().enumerate() {
        let tx = f.c.top_up_erc223(&mut f.chain, ch, u256(i as u64 + 1)).unwrap();
        assert_eq!(channel_events(&tx), vec![topped_up(ch, i as u64 + 1, 10 + i as u64 + 1)], "{ch}");
        assert_eq!(f.info(ch).unwrap().deposit, u192(10 + i as u64 + 1));
    }
    // A block that shares the low three bytes with an open channel names no channel.
    let ghost = f.channel(0x0101_0000);
    let data = uraiden::contract::top_up_data(r, ghost.open_block);
    f.assert_reverts(&opened, not_found(&ghost), |f| f.c.transfer_with_data(&mut f.chain, s, cc, u256(1), data));
}

/// A cooperative close checks, in order: the balance proof, the closing signature, that the
/// receiver signed it, that the channel exists, and the balance. With two faults, the first
/// one in that order is the error.
#[test]
fn cooperative_close_reports_the_first_fault_in_order() {
    let mut f = Fixture::new(EvmChain::new());
    let (s, r, o) = (f.sender.address(), f.receiver.address(), f.outsider.address());
    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    let closing = f.agree(&sig);
    let resized = |bytes: &Bytes, len: usize| {
        let mut v = bytes.to_vec();
        v.resize(len, 0x5a);
        Bytes::from(v)
    };
    let with_v = |bytes: &Bytes, v: u8| {
        let mut b = bytes.to_vec();
        b[64] = v;
        Bytes::from(b)
    };
    let length =
        |len: usize| ChannelsError::InvalidSignatureLength(C::InvalidSignatureLength { length: U256::from(len) });
    let invalid = ChannelsError::InvalidSignature(C::InvalidSignature {});
    let high_s = U256::from_be_slice(&hex!("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"))
        - U256::from_be_slice(&sig[32..64]);
    let twin = signature(&sig[..32], high_s, if sig[64] == 27 { 28 } else { 27 });
    let twin_error = ChannelsError::InvalidSignatureS(C::InvalidSignatureS { s: B256::from(high_s) });

    // A proof by the outsider (no channel outsider -> receiver) and an agreement to it by the
    // outsider: the agreement is refused before the channel is looked up.
    let digest = f.c.domain.balance_digest(r, ch.open_block, u192(4));
    let outsiders = f.outsider.sign_digest(digest);
    let outsiders_agreement = f.outsider.sign_digest(f.c.domain.closing_digest(&outsiders));
    let receivers_agreement = f.agree(&outsiders);
    let over = f.pay(&ch, 11);
    let agreed_over = f.agree(&over);
    let wrong_signer = ChannelsError::ClosingSignerNotReceiver(C::ClosingSignerNotReceiver { signer: o, receiver: r });

    let cases: Vec<(&str, Bytes, Bytes, u64, ChannelsError)> = vec![
        ("both short", resized(&sig, 64), resized(&closing, 66), 4, length(64)),
        ("proof long, agreement short", resized(&sig, 66), resized(&closing, 63), 4, length(66)),
        ("proof high s, agreement short", twin.clone(), resized(&closing, 64), 4, twin_error.clone()),
        ("proof high s, agreement by outsider", twin, outsiders_agreement.clone(), 4, twin_error),
        ("proof bad v, agreement short", with_v(&sig, 29), resized(&closing, 0), 4, invalid.clone()),
        ("agreement short", sig.clone(), resized(&closing, 63), 4, length(63)),
        ("agreement bad v", sig.clone(), with_v(&closing, 2), 4, invalid),
        ("agreement by outsider, no channel", outsiders.clone(), outsiders_agreement, 4, wrong_signer.clone()),
        (
            "agreement by outsider, balance over deposit",
            over.clone(),
            { f.outsider.sign_digest(f.c.domain.closing_digest(&over)) },
            11,
            wrong_signer,
        ),
        (
            "agreement by receiver, no channel",
            outsiders,
            receivers_agreement,
            4,
            not_found(&ChannelId { sender: o, ..ch }),
        ),
        ("balance over deposit", over, agreed_over, 11, {
            ChannelsError::BalanceExceedsDeposit(C::BalanceExceedsDeposit { balance: u192(11), deposit: u192(10) })
        }),
    ];
    for (what, balance_sig, closing_sig, balance, expected) in cases {
        let before = f.state(&[ch]);
        let result = f.c.cooperative_close(&mut f.chain, s, r, ch.open_block, u192(balance), balance_sig, closing_sig);
        assert_eq!(result.err().and_then(|e| e.revert().cloned()), Some(Revert::Channels(expected)), "{what}");
        assert_eq!(f.state(&[ch]), before, "{what}");
    }
    let tx = f.c.cooperative_close(&mut f.chain, o, r, ch.open_block, u192(4), sig, closing).unwrap();
    assert_eq!(channel_events(&tx), vec![settled(&ch, 4)]);
}

/// `closingAgreementMessageHash` hashes every byte of the balance signature it is given,
/// whatever its length, as the EIP-712 `bytes` rule and Rust's digest do; the receiver's
/// signature over that digest verifies on chain for every length.
#[test]
fn a_closing_agreement_hashes_every_byte_of_the_balance_signature() {
    let mut f = Fixture::new(EvmChain::new());
    let r = f.receiver.address();
    for len in [0usize, 1, 31, 32, 33, 63, 64, 65, 66, 96, 130, 257] {
        let bytes: Bytes = (0..len).map(|i| (i * 7 + 1) as u8).collect::<Vec<u8>>().into();
        let onchain = f.c.closing_agreement_message_hash(&mut f.chain, bytes.clone()).unwrap();
        let digest = f.c.domain.closing_digest(&bytes);
        assert_eq!(onchain, digest, "{len} bytes");
        let agreement = f.receiver.sign_digest(digest);
        assert_eq!(verdict(f.c.verify_closing_signature(&mut f.chain, bytes, agreement)), Ok(r), "{len} bytes");
    }
    // A real proof differs from its own first 64 bytes and from itself with another v.
    let ch = f.open_erc223(10);
    let sig = f.pay(&ch, 4);
    let digest = f.c.closing_agreement_message_hash(&mut f.chain, sig.clone()).unwrap();
    assert_ne!(digest, f.c.closing_agreement_message_hash(&mut f.chain, sig.slice(..64)).unwrap());
    let mut flipped = sig.to_vec();
    flipped[64] ^= 1;
    assert_ne!(digest, f.c.closing_agreement_message_hash(&mut f.chain, flipped.into()).unwrap());
}
