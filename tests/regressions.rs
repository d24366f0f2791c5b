//! One test for each hole of µRaiden 0.2 that this contract closes.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, aliases::U192};
use common::{
    test_contracts::{CallbackToken, ReentrantReceiver},
    *,
};
use uraiden::{
    chain::{Chain, ChainError, EvmChain, Outcome},
    channel::ChannelId,
    contract::{ChannelsError, Contracts, Revert, bindings::RaidenMicroTransferChannels as C, init_code},
    proof::{self, Signer},
};

fn u192_max() -> U192 {
    U192::MAX
}

/// Hole: anyone could call `tokenFallback` and open a channel backed by no tokens.
#[test]
fn only_the_token_may_call_token_fallback() {
    let mut f = Fixture::new(EvmChain::new());
    let (o, r) = (f.outsider.address(), f.receiver.address());
    let expected = ChannelsError::CallerNotToken(C::CallerNotToken { caller: o });
    f.assert_reverts(&[], expected.clone(), |f| {
        f.c.token_fallback(&mut f.chain, o, o, u256(100), uraiden::contract::open_data(r))
    });
    // Nor can it top up someone's channel for free.
    let ch = f.open_erc223(10);
    f.assert_reverts(&[ch], expected, |f| {
        f.c.token_fallback(&mut f.chain, o, ch.sender, u256(100), uraiden::contract::top_up_data(r, ch.open_block))
    });
}

/// Hole: tokens were paid out before the channel was deleted, so a receiver contract that the
/// token calls back could close the same channel again and be paid twice.
#[test]
fn a_reentrant_receiver_is_paid_once() {
    let mut chain = EvmChain::new();
    let deployer = Signer::test_key(0);
    let sender = Signer::test_key(1);
    let outsider = Signer::test_key(3);
    let init = init_code(&CallbackToken::BYTECODE, &CallbackToken::constructorCall { initialSupply: u256(1_000_000) });
    let token = chain.deploy(deployer.address(), init).unwrap().address;
    let (c, _) = Contracts::deploy_for_token(&mut chain, deployer.address(), token, CHALLENGE_PERIOD).unwrap();
    let init = init_code(&ReentrantReceiver::BYTECODE, &ReentrantReceiver::constructorCall { _channels: c.channels });
    let attacker = chain.deploy(deployer.address(), init).unwrap().address;

    // Two channels to the attacker hold 2 × 30 tokens in the contract: enough to pay twice.
    c.transfer(&mut chain, deployer.address(), sender.address(), u256(100)).unwrap();
    let open = c.open_erc223(&mut chain, sender.address(), attacker, u256(30)).unwrap();
    c.open_erc223(&mut chain, sender.address(), attacker, u256(30)).unwrap();
    let ch = ChannelId { sender: sender.address(), receiver: attacker, open_block: open.block_number as u32 };
    let sig = sender.sign_digest(c.domain.balance_digest(attacker, ch.open_block, u192(20)));

    let call =
        ReentrantReceiver::closeAsReceiverCall { openBlockNumber: ch.open_block, balance: u192(20), signature: sig };
    let tx = c.send(&mut chain, outsider.address(), attacker, &call).unwrap();
    assert_eq!(transfers(&tx), vec![(c.channels, attacker, 20), (c.channels, sender.address(), 10)]);
    assert_eq!(c.balance_of(&mut chain, attacker).unwrap(), u256(20));
    assert_eq!(c.balance_of(&mut chain, c.channels).unwrap(), u256(30));

    let attempts = c.view(&mut chain, attacker, &ReentrantReceiver::reentryAttemptsCall {}).unwrap();
    let successes = c.view(&mut chain, attacker, &ReentrantReceiver::reentrySuccessesCall {}).unwrap();
    let error = c.view(&mut chain, attacker, &ReentrantReceiver::lastReentryErrorCall {}).unwrap();
    assert_eq!((attempts, successes), (u256(1), u256(0)), "the callback ran and its re-entry failed");
    assert_eq!(Revert::decode(&error), Revert::Channels(not_found(&ch)));
}

/// Hole: an ERC223 `_deposit` above uint192 was silently truncated.
#[test]
fn erc223_deposit_beyond_uint192_is_refused() {
    let mut chain = EvmChain::new();
    let deployer = Signer::test_key(0);
    let receiver = Signer::test_key(2).address();
    let supply = U256::from(1) << 200;
    let (c, _) = Contracts::deploy(&mut chain, deployer.address(), supply, CHALLENGE_PERIOD).unwrap();
    let too_big = U256::from(1) << 192;
    let err = c.open_erc223(&mut chain, deployer.address(), receiver, too_big).unwrap_err();
    assert_eq!(
        err.revert(),
        Some(&Revert::Channels(ChannelsError::DepositTooLarge(C::DepositTooLarge { deposit: too_big })))
    );
    assert_eq!(c.balance_of(&mut chain, deployer.address()).unwrap(), supply);
    assert_eq!(c.balance_of(&mut chain, c.channels).unwrap(), U256::ZERO);
    // The largest deposit that fits is taken whole.
    let max = U256::from(u192_max());
    let tx = c.open_erc223(&mut chain, deployer.address(), receiver, max).unwrap();
    let ch = ChannelId { sender: deployer.address(), receiver, open_block: tx.block_number as u32 };
    assert_eq!(c.channel_info(&mut chain, &ch).unwrap().deposit, u192_max());
}

/// Hole: top-ups could overflow the deposit.
#[test]
fn top_up_beyond_uint192_is_refused() {
    let mut chain = EvmChain::new();
    let deployer = Signer::test_key(0);
    let (d, receiver) = (deployer.address(), Signer::test_key(2).address());
    let (c, _) = Contracts::deploy(&mut chain, d, U256::from(1) << 200, CHALLENGE_PERIOD).unwrap();
    let almost = u192_max() - U192::from(5);
    let tx = c.open_erc223(&mut chain, d, receiver, U256::from(almost)).unwrap();
    let ch = ChannelId { sender: d, receiver, open_block: tx.block_number as u32 };
    let overflow = |added: u64| {
        Revert::Channels(ChannelsError::DepositOverflow(C::DepositOverflow {
            deposit: almost,
            addedDeposit: U192::from(added),
        }))
    };
    let err = c.top_up_erc223(&mut chain, &ch, u256(6)).unwrap_err();
    assert_eq!(err.revert(), Some(&overflow(6)));
    c.approve(&mut chain, d, c.channels, u256(6)).unwrap();
    let err = c.top_up_erc20(&mut chain, &ch, u192(6)).unwrap_err();
    assert_eq!(err.revert(), Some(&overflow(6)));
    assert_eq!(c.channel_info(&mut chain, &ch).unwrap().deposit, almost);
    // Up to the limit is fine.
    c.top_up_erc20(&mut chain, &ch, u192(5)).unwrap();
    assert_eq!(c.channel_info(&mut chain, &ch).unwrap().deposit, u192_max());
    assert_eq!(c.balance_of(&mut chain, c.channels).unwrap(), U256::from(u192_max()));
}

/// Hole: a sender could request closing a channel that does not exist.
#[test]
fn close_request_needs_an_open_channel() {
    let mut f = Fixture::new(EvmChain::new());
    let (s, r) = (f.sender.address(), f.receiver.address());
    let ghost = f.channel(5);
    let sig = f.pay(&ghost, 0);
    f.assert_reverts(&[], not_found(&ghost), |f| f.c.close(&mut f.chain, s, r, 5, u192(0), sig));
}

/// Hole: `settle_block_number` could overflow uint32.
#[test]
fn settle_block_beyond_uint32_is_refused() {
    let mut chain = EvmChain::new();
    let deployer = Signer::test_key(0);
    let sender = Signer::test_key(1);
    let receiver = Signer::test_key(2).address();
    let (c, _) = Contracts::deploy(&mut chain, deployer.address(), u256(1_000), u32::MAX - 10).unwrap();
    c.transfer(&mut chain, deployer.address(), sender.address(), u256(100)).unwrap();
    let tx = c.open_erc223(&mut chain, sender.address(), receiver, u256(50)).unwrap();
    let ch = ChannelId { sender: sender.address(), receiver, open_block: tx.block_number as u32 };
    let sig = sender.sign_digest(c.domain.balance_digest(receiver, ch.open_block, u192(5)));
    // The request runs in block n = open + 1, so the settle block is n + 2^32 - 11 > 2^32 - 1 once n > 10.
    chain.mine(20).unwrap();
    let settle_block = U256::from(chain.block_number().unwrap() + 1) + U256::from(u32::MAX - 10);
    let err = c.close(&mut chain, sender.address(), receiver, ch.open_block, u192(5), sig).unwrap_err();
    let expected = ChannelsError::SettleBlockTooLarge(C::SettleBlockTooLarge { settleBlockNumber: settle_block });
    assert_eq!(err.revert(), Some(&Revert::Channels(expected)));
    assert_eq!(c.channel_info(&mut chain, &ch).unwrap().settle_block, 0);
}

/// The open block must fit in uint32 (it names the channel): past block 2^32 - 1 opening reverts.
#[test]
fn open_past_uint32_blocks_is_refused() {
    let mut f = Fixture::new(EvmChain::new());
    let (s, r) = (f.sender.address(), f.receiver.address());
    f.chain.mine(u64::from(u32::MAX) - f.chain.block_number().unwrap()).unwrap();
    let expected =
        ChannelsError::BlockNumberTooLarge(C::BlockNumberTooLarge { blockNumber: U256::from(u64::from(u32::MAX) + 1) });
    f.assert_reverts(&[], expected, |f| f.c.open_erc223(&mut f.chain, s, r, u256(10)));
}

/// Hole: balance proofs carried no chain id or contract, so they replayed on another chain or
/// another deployment.
#[test]
fn proofs_do_not_replay_across_chains_or_contracts() {
    // The same deployer and nonces give the same addresses on two chains.
    let mut a = Fixture::new(EvmChain::with_chain_id(1));
    let mut b = Fixture::new(EvmChain::with_chain_id(5));
    assert_eq!(a.c.channels, b.c.channels);
    let ch_a = a.open_erc223(30);
    let ch_b = b.open_erc223(30);
    assert_eq!(ch_a, ch_b, "the same channel id on both chains");
    let sig_a = a.pay(&ch_a, 30);
    assert_ne!(
        a.c.domain.balance_digest(ch_a.receiver, ch_a.open_block, u192(30)),
        b.c.domain.balance_digest(ch_b.receiver, ch_b.open_block, u192(30))
    );
    let r = b.receiver.address();
    // On chain b the proof recovers to someone else, so no channel matches.
    let recovered = b.c.verify_balance_proof(&mut b.chain, r, ch_b.open_block, u192(30), sig_a.clone()).unwrap();
    assert_ne!(recovered, b.sender.address());
    let wrong = ChannelId { sender: recovered, ..ch_b };
    b.assert_reverts(&[ch_b], not_found(&wrong), |f| f.c.close(&mut f.chain, r, r, ch_b.open_block, u192(30), sig_a));

    // A second contract on the same chain: proofs for the first do not work there either.
    let (other, _) =
        Contracts::deploy_for_token(&mut a.chain, a.deployer.address(), a.c.token, CHALLENGE_PERIOD).unwrap();
    let sig = a.pay(&ch_a, 30);
    let recovered = other.verify_balance_proof(&mut a.chain, r, ch_a.open_block, u192(30), sig).unwrap();
    assert_ne!(recovered, a.sender.address());
}

/// Hole: the high-s twin of a valid signature was accepted too.
#[test]
fn high_s_twins_are_refused() {
    let mut f = Fixture::new(EvmChain::new());
    let r = f.receiver.address();
    let ch = f.open_erc223(30);
    let sig = f.pay(&ch, 10);
    let n = U256::from_be_slice(&alloy_primitives::hex!(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
    ));
    let mut twin = sig.to_vec();
    let high_s = n - U256::from_be_slice(&sig[32..64]);
    twin[32..64].copy_from_slice(&high_s.to_be_bytes::<32>());
    twin[64] = if sig[64] == 27 { 28 } else { 27 };
    let twin = Bytes::from(twin);
    // The twin is a valid ECDSA signature of the same key...
    let plain = alloy_primitives::Signature::new(U256::from_be_slice(&twin[..32]), high_s, twin[64] == 28);
    let digest = f.c.domain.balance_digest(r, ch.open_block, u192(10));
    assert_eq!(plain.recover_address_from_prehash(&digest).unwrap(), f.sender.address());
    // ...and both sides refuse it.
    let expected = ChannelsError::InvalidSignatureS(C::InvalidSignatureS { s: B256::from(high_s) });
    assert_eq!(proof::recover(digest, &twin).map_err(ChannelsError::from), Err(expected.clone()));
    f.assert_reverts(&[ch], expected, |f| f.c.close(&mut f.chain, r, r, ch.open_block, u192(10), twin));
}

/// Constructor checks: the token must have code and the challenge period must be positive.
#[test]
fn constructor_checks() {
    let mut chain = EvmChain::new();
    let deployer = Signer::test_key(0).address();
    let not_a_contract = Address::repeat_byte(0x42);
    let revert_of = |e: ChainError| match e {
        ChainError::DeploymentFailed(Outcome::Revert(data)) => Revert::decode(&data),
        other => panic!("expected a reverted deployment, got {other}"),
    };
    let err = Contracts::deploy_for_token(&mut chain, deployer, not_a_contract, 10).unwrap_err();
    assert_eq!(
        revert_of(err),
        Revert::Channels(ChannelsError::TokenHasNoCode(C::TokenHasNoCode { token: not_a_contract }))
    );
    let (c, _) = Contracts::deploy(&mut chain, deployer, u256(1), 10).unwrap();
    let err = Contracts::deploy_for_token(&mut chain, deployer, c.token, 0).unwrap_err();
    assert_eq!(revert_of(err), Revert::Channels(ChannelsError::ZeroChallengePeriod(C::ZeroChallengePeriod {})));
    // The getters of a good deployment.
    assert_eq!(c.challenge_period(&mut chain).unwrap(), 10);
    assert_eq!(c.view(&mut chain, c.channels, &C::ownerCall {}).unwrap(), deployer);
    assert_eq!(c.view(&mut chain, c.channels, &C::token_addressCall {}).unwrap(), c.token);
}
