//! Off-chain crypto against the contract: the same digests byte for byte, and the same
//! verdict on every well-formed and malformed signature.

mod common;

use alloy_primitives::{Address, B256, Bytes, U256, aliases::U192, hex};
use common::*;
use proptest::prelude::*;
use uraiden::{
    chain::EvmChain,
    contract::{ChannelsError, Revert},
    proof::{self, ChannelDomain, Signer},
};

/// secp256k1 group order.
const N: U256 = U256::from_be_slice(&hex!("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"));

/// What the contract's `verifyBalanceProof` says, as a Rust result.
fn contract_verdict(
    f: &mut Fixture<EvmChain>,
    receiver: Address,
    open_block: u32,
    balance: U192,
    sig: &Bytes,
) -> Result<Address, Revert> {
    f.c.verify_balance_proof(&mut f.chain, receiver, open_block, balance, sig.clone())
        .map_err(|e| e.revert().cloned().expect("a revert"))
}

/// What Rust says for the same proof.
fn rust_verdict(
    f: &Fixture<EvmChain>,
    receiver: Address,
    open_block: u32,
    balance: U192,
    sig: &Bytes,
) -> Result<Address, Revert> {
    let digest = f.c.domain.balance_digest(receiver, open_block, balance);
    proof::recover(digest, sig).map_err(|e| Revert::Channels(e.into()))
}

/// The high-s twin of a valid signature: (r, n - s, v flipped) recovers the same key.
fn high_s_twin(sig: &Bytes) -> Bytes {
    let s = U256::from_be_slice(&sig[32..64]);
    let mut twin = sig.to_vec();
    twin[32..64].copy_from_slice(&(N - s).to_be_bytes::<32>());
    twin[64] = if sig[64] == 27 { 28 } else { 27 };
    twin.into()
}

#[test]
fn domain_separator_matches_the_contract() {
    let mut f = Fixture::new(EvmChain::new());
    let call = uraiden::contract::bindings::RaidenMicroTransferChannels::eip712DomainCall {};
    let onchain = f.c.view(&mut f.chain, f.c.channels, &call).unwrap();
    assert_eq!(onchain.name, ChannelDomain::NAME);
    assert_eq!(onchain.version, ChannelDomain::VERSION);
    assert_eq!(onchain.chainId, U256::from(EvmChain::DEFAULT_CHAIN_ID));
    assert_eq!(onchain.verifyingContract, f.c.channels);
}

#[test]
fn v_of_0_or_1_is_read_as_27_or_28() {
    let mut f = Fixture::new(EvmChain::new());
    let r = f.receiver.address();
    let sig = f.pay(&f.channel(7), 3);
    let mut low_v = sig.to_vec();
    low_v[64] -= 27;
    let low_v = Bytes::from(low_v);
    assert_eq!(contract_verdict(&mut f, r, 7, u192(3), &low_v), Ok(f.sender.address()));
    assert_eq!(rust_verdict(&f, r, 7, u192(3), &low_v), Ok(f.sender.address()));
}

#[test]
fn malformed_signatures_get_the_same_error_on_both_sides() {
    let mut f = Fixture::new(EvmChain::new());
    let r = f.receiver.address();
    let sig = f.pay(&f.channel(7), 3);
    let mut cases: Vec<(Bytes, ChannelsError)> = Vec::new();
    for len in [0usize, 64, 66, 130] {
        let mut bytes = sig.to_vec();
        bytes.resize(len, 1);
        cases.push((bytes.into(), proof::SignatureError::Length(len).into()));
    }
    let twin = high_s_twin(&sig);
    cases.push((twin.clone(), proof::SignatureError::HighS(B256::from_slice(&twin[32..64])).into()));
    for v in [2u8, 26, 29, 255] {
        let mut bytes = sig.to_vec();
        bytes[64] = v;
        cases.push((bytes.into(), proof::SignatureError::Invalid.into()));
    }
    let mut zero_r = sig.to_vec();
    zero_r[..32].fill(0);
    cases.push((zero_r.into(), proof::SignatureError::Invalid.into()));
    let mut zero_s = sig.to_vec();
    zero_s[32..64].fill(0);
    cases.push((zero_s.into(), proof::SignatureError::Invalid.into()));
    let mut big_r = sig.to_vec();
    big_r[..32].fill(0xff);
    cases.push((big_r.into(), proof::SignatureError::Invalid.into()));

    for (bad, expected) in cases {
        let expected = Err(Revert::Channels(expected));
        assert_eq!(contract_verdict(&mut f, r, 7, u192(3), &bad), expected, "contract on {bad}");
        assert_eq!(rust_verdict(&f, r, 7, u192(3), &bad), expected, "rust on {bad}");
    }
}

#[test]
fn signer_produces_low_s_and_recovers() {
    for index in 0..64 {
        let signer = Signer::test_key(index);
        let digest = alloy_primitives::keccak256(index.to_be_bytes());
        let sig = signer.sign_digest(digest);
        assert_eq!(sig.len(), 65);
        assert!(U256::from_be_slice(&sig[32..64]) <= N >> 1);
        assert!(sig[64] == 27 || sig[64] == 28);
        assert_eq!(proof::recover(digest, &sig), Ok(signer.address()));
    }
}

#[test]
fn debug_output_hides_the_key() {
    let signer = Signer::from_hex("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d").unwrap();
    let shown = format!("{signer:?}");
    assert!(!shown.contains("59c6995e"), "{shown}");
    assert!(shown.contains(&format!("{:?}", signer.address())));
    assert!(Signer::from_hex("0x1234").is_err());
    assert!(Signer::from_hex(&format!("{:x}", B256::ZERO)).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The contract's digests and Rust's are the same for any channel and balance, and a proof
    /// signed in Rust recovers to its signer on both sides.
    #[test]
    fn digests_and_recovery_match_the_contract(
        receiver in any::<[u8; 20]>(),
        open_block in any::<u32>(),
        balance in any::<[u8; 24]>(),
        key in 0u64..1_000,
    ) {
        let mut f = Fixture::new(EvmChain::new());
        let receiver = Address::from(receiver);
        let balance = U192::from_be_bytes(balance);
        let onchain = f.c.balance_message_hash(&mut f.chain, receiver, open_block, balance).unwrap();
        prop_assert_eq!(onchain, f.c.domain.balance_digest(receiver, open_block, balance));
        let signer = Signer::test_key(key);
        let sig = signer.sign_digest(onchain);
        prop_assert_eq!(contract_verdict(&mut f, receiver, open_block, balance, &sig), Ok(signer.address()));
        let closing = f.c.closing_agreement_message_hash(&mut f.chain, sig.clone()).unwrap();
        prop_assert_eq!(closing, f.c.domain.closing_digest(&sig));
    }
}

/// The receiver's fast path agrees with the contract: recovery gives the contract's verdict,
/// verification against a cached key accepts the sender's proofs and refuses everyone else's,
/// and a proof with a flipped `v` (still the sender's `(r, s)`) is made contract-ready by
/// `canonical`.
#[test]
fn proof_verifier_agrees_with_the_contract() {
    use uraiden::proof::{ProofVerifier, VerifyError};
    let mut f = Fixture::new(EvmChain::new());
    let ch = f.open_erc223(50);
    let (s, r) = (f.sender.address(), f.receiver.address());
    let mut verifier = ProofVerifier::new();
    for balance in 1..=5u64 {
        let sig = f.pay(&ch, balance);
        let digest = f.c.domain.balance_digest(r, ch.open_block, u192(balance));
        assert_eq!(
            verifier.recover(digest, &sig).unwrap().0,
            contract_verdict(&mut f, r, ch.open_block, u192(balance), &sig).unwrap()
        );
        verifier.verify_known(s, digest, &sig).unwrap();
        // Someone else's signature is refused, on the first proof and on later ones.
        let forged = f.outsider.sign_digest(digest);
        assert_eq!(verifier.verify_known(s, digest, &forged), Err(VerifyError::NotSender));
        assert_eq!(
            ProofVerifier::new().verify_first(s, digest, &forged),
            Err(VerifyError::WrongSigner(f.outsider.address()))
        );
        // A proof for another balance does not verify for this one.
        let other = f.pay(&ch, balance + 100);
        assert_eq!(verifier.verify_known(s, digest, &other), Err(VerifyError::NotSender));
    }
    assert_eq!(verifier.cached_senders(), 1);

    let sig = f.pay(&ch, 9);
    let digest = f.c.domain.balance_digest(r, ch.open_block, u192(9));
    let mut flipped = sig.to_vec();
    flipped[64] = if sig[64] == 27 { 28 } else { 27 };
    let flipped = Bytes::from(flipped);
    verifier.verify_known(s, digest, &flipped).unwrap();
    assert_ne!(
        contract_verdict(&mut f, r, ch.open_block, u192(9), &flipped),
        Ok(s),
        "the contract reads the flipped v"
    );
    let canonical = verifier.canonical(s, digest, &flipped).unwrap();
    assert_eq!(canonical, sig);
    assert_eq!(contract_verdict(&mut f, r, ch.open_block, u192(9), &canonical), Ok(s));
    // Malformed signatures are refused as the contract refuses them.
    assert_eq!(
        verifier.verify_known(s, digest, &sig[..64]),
        Err(VerifyError::Signature(proof::SignatureError::Length(64)))
    );
}
