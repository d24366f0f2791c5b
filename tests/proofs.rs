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

/// The receiver's verifier as a Rust result in the contract's terms: the address the contract
/// would recover, or its revert.
fn verifier_verdict(
    verifier: &uraiden::proof::ProofVerifier,
    sender: Address,
    digest: B256,
    sig: &[u8],
) -> Result<Address, Revert> {
    use uraiden::proof::VerifyError;
    match verifier.verify_known(sender, digest, sig) {
        Ok(()) => Ok(sender),
        Err(VerifyError::WrongSigner(signer)) => Ok(signer),
        Err(VerifyError::Signature(e)) => Err(Revert::Channels(e.into())),
    }
}

/// The receiver's fast path gives the contract's verdict: on the first proof of a sender
/// (recovery) and on later ones (against the cached key), for the sender's proofs, someone
/// else's, proofs of another balance, and a proof whose `v` is flipped (the sender's `(r, s)`,
/// but the contract recovers another address from it).
#[test]
fn proof_verifier_agrees_with_the_contract() {
    use uraiden::proof::{ProofVerifier, VerifyError};
    let mut f = Fixture::new(EvmChain::new());
    let ch = f.open_erc223(50);
    let (s, r) = (f.sender.address(), f.receiver.address());
    let verifier = ProofVerifier::new();
    for balance in 1..=5u64 {
        let sig = f.pay(&ch, balance);
        let digest = f.c.domain.balance_digest(r, ch.open_block, u192(balance));
        assert_eq!(
            verifier.recover(digest, &sig).unwrap().0,
            contract_verdict(&mut f, r, ch.open_block, u192(balance), &sig).unwrap()
        );
        verifier.verify_known(s, digest, &sig).unwrap();
        let forged = f.outsider.sign_digest(digest);
        assert_eq!(verifier.verify_known(s, digest, &forged), Err(VerifyError::WrongSigner(f.outsider.address())));
        assert_eq!(
            ProofVerifier::new().verify_first(s, digest, &forged),
            Err(VerifyError::WrongSigner(f.outsider.address()))
        );
        let other = f.pay(&ch, balance + 100);
        assert!(matches!(verifier.verify_known(s, digest, &other), Err(VerifyError::WrongSigner(a)) if a != s));
    }
    assert_eq!(verifier.cached_senders(), 1);

    let sig = f.pay(&ch, 9);
    let digest = f.c.domain.balance_digest(r, ch.open_block, u192(9));
    let mut flipped = sig.to_vec();
    flipped[64] = if sig[64] == 27 { 28 } else { 27 };
    let flipped = Bytes::from(flipped);
    let onchain = contract_verdict(&mut f, r, ch.open_block, u192(9), &flipped);
    assert_ne!(onchain, Ok(s), "the contract reads the flipped v");
    assert_eq!(verifier_verdict(&verifier, s, digest, &flipped), onchain);
    assert_eq!(verifier_verdict(&ProofVerifier::new(), s, digest, &flipped), onchain);
    assert_eq!(
        verifier.verify_known(s, digest, &sig[..64]),
        Err(VerifyError::Signature(proof::SignatureError::Length(64)))
    );
}

/// The key cache holds at most its capacity, dropping the least recently used sender; a
/// dropped sender's next proof is still checked (by recovery), with the same verdict.
#[test]
fn proof_verifier_cache_is_bounded_least_recently_used_out() {
    use std::num::NonZeroUsize;
    use uraiden::proof::{DEFAULT_CACHED_SENDERS, ProofVerifier};
    assert_eq!(DEFAULT_CACHED_SENDERS, 65_536);
    let verifier = ProofVerifier::with_capacity(NonZeroUsize::new(2).unwrap());
    let digest = B256::repeat_byte(7);
    let signers: Vec<Signer> = (0..3).map(Signer::test_key).collect();
    let proofs: Vec<Bytes> = signers.iter().map(|s| s.sign_digest(digest)).collect();
    verifier.verify_known(signers[0].address(), digest, &proofs[0]).unwrap();
    verifier.verify_known(signers[1].address(), digest, &proofs[1]).unwrap();
    // Sender 0 is used again, so sender 1 is the least recently used when sender 2 arrives.
    verifier.verify_known(signers[0].address(), digest, &proofs[0]).unwrap();
    verifier.verify_known(signers[2].address(), digest, &proofs[2]).unwrap();
    assert_eq!(verifier.cached_senders(), 2);
    assert!(format!("{verifier:?}").contains("capacity: 2"));
    for (signer, proof) in signers.iter().zip(&proofs) {
        verifier.verify_known(signer.address(), digest, proof).unwrap();
        assert_eq!(verifier.cached_senders(), 2);
    }
}

/// One verifier shared by threads: each thread's proofs (of one sender and of others, valid and
/// forged) get the verdict they get alone, and the cache ends with every sender in it.
#[test]
fn one_proof_verifier_is_shared_by_threads() {
    use uraiden::proof::{ProofVerifier, VerifyError};
    let verifier = ProofVerifier::new();
    let signers: Vec<Signer> = (0..4).map(Signer::test_key).collect();
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let (verifier, signers) = (&verifier, &signers);
            scope.spawn(move || {
                for i in 0..200u8 {
                    let digest = B256::repeat_byte(i ^ t);
                    let signer = &signers[usize::from(i) % signers.len()];
                    verifier.verify_known(signer.address(), digest, &signer.sign_digest(digest)).unwrap();
                    let forger = &signers[(usize::from(i) + 1) % signers.len()];
                    assert_eq!(
                        verifier.verify_known(signer.address(), digest, &forger.sign_digest(digest)),
                        Err(VerifyError::WrongSigner(forger.address()))
                    );
                }
            });
        }
    });
    assert_eq!(verifier.cached_senders(), signers.len());
}

/// Signature bytes derived from a valid proof: the proof itself, and malformed or foreign
/// variants (any `v`, flipped `v`, `s` at and above half the order, random `r`/`s`, other
/// lengths, another key's proof).
fn signature_variant(valid: &Bytes, kind: u8, noise: [u8; 32], byte: u8) -> Vec<u8> {
    const HALF: U256 = U256::from_be_slice(&hex!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"));
    let mut sig = valid.to_vec();
    match kind % 9 {
        0 => {}
        1 => sig[64] = if sig[64] == 27 { 28 } else { 27 },
        2 => sig[64] = byte,
        3 => sig[32..64].copy_from_slice(&HALF.to_be_bytes::<32>()),
        4 => sig[32..64].copy_from_slice(&(HALF + U256::from(1 + byte as u64)).to_be_bytes::<32>()),
        5 => sig[..32].copy_from_slice(&noise),
        6 => sig[32..64].copy_from_slice(&noise),
        7 => sig.resize(byte as usize % 70, byte),
        _ => sig = high_s_twin(valid).to_vec(),
    }
    sig
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// For random channels and random or malformed signatures, the verifier (first proof and
    /// cached key alike) answers exactly what `verifyBalanceProof` answers on the embedded chain.
    #[test]
    fn proof_verifier_verdict_equals_verify_balance_proof(
        receiver in any::<[u8; 20]>(),
        open_block in any::<u32>(),
        balance in any::<[u8; 24]>(),
        key in 0u64..50,
        kind in any::<u8>(),
        noise in any::<[u8; 32]>(),
        byte in any::<u8>(),
    ) {
        use uraiden::proof::ProofVerifier;
        let mut f = Fixture::new(EvmChain::new());
        let (receiver, balance) = (Address::from(receiver), U192::from_be_bytes(balance));
        let signer = Signer::test_key(key);
        let digest = f.c.domain.balance_digest(receiver, open_block, balance);
        let valid = signer.sign_digest(digest);
        let sig = Bytes::from(signature_variant(&valid, kind, noise, byte));
        let onchain = contract_verdict(&mut f, receiver, open_block, balance, &sig);
        let fresh = ProofVerifier::new();
        prop_assert_eq!(verifier_verdict(&fresh, signer.address(), digest, &sig), onchain.clone());
        let warm = ProofVerifier::new();
        warm.verify_first(signer.address(), digest, &valid).unwrap();
        prop_assert_eq!(verifier_verdict(&warm, signer.address(), digest, &sig), onchain);
    }
}
