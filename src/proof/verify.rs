//! The receiver's hot path: checking balance proofs with libsecp256k1.
//!
//! A receiver's server checks a proof on every paid request. Recovering the signer is an
//! elliptic-curve recovery; [`ProofVerifier`] recovers each sender's public key once and then
//! checks later proofs of that sender by ECDSA verification against the cached key, which
//! skips the point decompression and the address hash.
//!
//! Verification checks that `(r, s)` is the sender's signature of the digest; it cannot see
//! whether `v` names the right one of the two candidate points. A proof whose `v` is flipped is
//! still the sender's authorisation (the same `(r, s)`), but the contract would recover another
//! address from those bytes. So a proof accepted by [`ProofVerifier::verify_known`] is passed
//! through [`ProofVerifier::canonical`] once before it is used on chain, which sets the `v`
//! that recovers the sender. [`ProofVerifier::recover`] gives exactly the contract's verdict.

use std::collections::HashMap;

use alloy_primitives::{Address, B256, Bytes, keccak256};
use secp256k1::{
    Message, PublicKey, Secp256k1, VerifyOnly,
    ecdsa::{RecoverableSignature, RecoveryId, Signature as EcdsaSignature},
};

use super::{Signature, SignatureError};

/// Checks balance proofs, caching each sender's public key.
pub struct ProofVerifier {
    secp: Secp256k1<VerifyOnly>,
    keys: HashMap<Address, PublicKey>,
}

impl std::fmt::Debug for ProofVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofVerifier").field("cached_senders", &self.keys.len()).finish()
    }
}

impl Default for ProofVerifier {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a proof was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signature is malformed as the contract sees it.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// It is a signature, but not the expected sender's.
    #[error("signed by {0}, not by the channel's sender")]
    WrongSigner(Address),
    /// It does not verify against the sender's key.
    #[error("not a signature of the sender over this digest")]
    NotSender,
}

impl ProofVerifier {
    /// A verifier with no cached keys.
    pub fn new() -> Self {
        Self { secp: Secp256k1::verification_only(), keys: HashMap::new() }
    }

    /// The signer of `digest` as the contract's `ecrecover` finds it, and its public key.
    pub fn recover(&self, digest: B256, signature: &[u8]) -> Result<(Address, PublicKey), SignatureError> {
        let parsed = Signature::parse(signature)?;
        let recovery_id = match parsed.v {
            27 => RecoveryId::Zero,
            28 => RecoveryId::One,
            _ => return Err(SignatureError::Invalid),
        };
        let compact: [u8; 64] = parsed.to_bytes()[..64].try_into().expect("64 bytes");
        let recoverable =
            RecoverableSignature::from_compact(&compact, recovery_id).map_err(|_| SignatureError::Invalid)?;
        let key = self
            .secp
            .recover_ecdsa(Message::from_digest(digest.0), &recoverable)
            .map_err(|_| SignatureError::Invalid)?;
        Ok((address_of(&key), key))
    }

    /// Checks that `signature` is `sender`'s over `digest`, exactly as the contract would
    /// (recovery), and caches the sender's key for [`ProofVerifier::verify_known`].
    pub fn verify_first(&mut self, sender: Address, digest: B256, signature: &[u8]) -> Result<(), VerifyError> {
        let (signer, key) = self.recover(digest, signature)?;
        if signer != sender {
            return Err(VerifyError::WrongSigner(signer));
        }
        self.keys.insert(sender, key);
        Ok(())
    }

    /// Checks that `(r, s)` of `signature` is `sender`'s signature over `digest`, against the
    /// cached key (falling back to [`ProofVerifier::verify_first`] for an unknown sender). The
    /// signature must also be well-formed for the contract (length, low s, v of 27/28 or 0/1);
    /// pass it through [`ProofVerifier::canonical`] before using it on chain.
    pub fn verify_known(&mut self, sender: Address, digest: B256, signature: &[u8]) -> Result<(), VerifyError> {
        let Some(key) = self.keys.get(&sender) else {
            return self.verify_first(sender, digest, signature);
        };
        let parsed = Signature::parse(signature)?;
        if !matches!(parsed.v, 27 | 28) {
            return Err(SignatureError::Invalid.into());
        }
        let compact: [u8; 64] = parsed.to_bytes()[..64].try_into().expect("64 bytes");
        let ecdsa = EcdsaSignature::from_compact(&compact).map_err(|_| SignatureError::Invalid)?;
        self.secp.verify_ecdsa(Message::from_digest(digest.0), &ecdsa, key).map_err(|_| VerifyError::NotSender)
    }

    /// The signature with the `v` that makes the contract recover `sender` (one recovery).
    pub fn canonical(&self, sender: Address, digest: B256, signature: &[u8]) -> Result<Bytes, VerifyError> {
        let mut bytes = Signature::parse(signature)?.to_bytes();
        for v in [27, 28] {
            bytes[64] = v;
            if self.recover(digest, &bytes).is_ok_and(|(signer, _)| signer == sender) {
                return Ok(Bytes::copy_from_slice(&bytes));
            }
        }
        Err(VerifyError::NotSender)
    }

    /// How many senders' keys are cached.
    pub fn cached_senders(&self) -> usize {
        self.keys.len()
    }
}

/// The Ethereum address of a public key: the last 20 bytes of keccak256 of its 64 raw bytes.
pub fn address_of(key: &PublicKey) -> Address {
    let uncompressed = key.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}
