//! The receiver's hot path: checking balance proofs with libsecp256k1, with exactly the
//! contract's verdict.
//!
//! A receiver's server checks a proof on every paid request. The contract accepts a proof when
//! `ecrecover` over its bytes gives the sender, so that is what is checked here, always: the
//! `v` in the bytes chooses the point, and a proof with a flipped `v` (the same `(r, s)`) is
//! refused, as the contract refuses it. [`ProofVerifier`] saves the part of the work that does
//! not decide the verdict: after a sender's first proof ([`ProofVerifier::verify_first`]:
//! recovery, then the address hash), later proofs of that sender
//! ([`ProofVerifier::verify_known`]) compare the recovered public key with the cached one, which
//! skips serialising the key and hashing it into an address. The cache is bounded: at most a
//! given number of senders' keys, the least recently used dropped first.
//!
//! One verifier serves every thread of a server: its methods take `&self`, and the cache's lock
//! is held only to look a key up or to store one, never during a recovery, so proofs (of one
//! sender or many) are checked on all cores at once.

use std::{
    num::NonZeroUsize,
    sync::{Mutex, MutexGuard, PoisonError},
};

use alloy_primitives::{Address, B256, keccak256};
use lru::LruCache;
use secp256k1::{
    Message, PublicKey, Secp256k1, VerifyOnly,
    ecdsa::{RecoverableSignature, RecoveryId},
};

use super::{Signature, SignatureError};

/// How many senders' keys a [`ProofVerifier::new`] caches: 65,536 keys take about 6 MiB.
pub const DEFAULT_CACHED_SENDERS: usize = 65_536;

/// Checks balance proofs, caching the public keys of the most recently seen senders. Shared
/// by reference between threads (see the module's documentation).
pub struct ProofVerifier {
    secp: Secp256k1<VerifyOnly>,
    keys: Mutex<LruCache<Address, PublicKey>>,
}

impl std::fmt::Debug for ProofVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.keys();
        f.debug_struct("ProofVerifier").field("cached_senders", &keys.len()).field("capacity", &keys.cap()).finish()
    }
}

impl Default for ProofVerifier {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a proof was refused: the contract's reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The signature is malformed as the contract sees it, or recovers to no address.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The contract would recover this address, not the channel's sender.
    #[error("signed by {0}, not by the channel's sender")]
    WrongSigner(Address),
}

impl ProofVerifier {
    /// A verifier caching up to [`DEFAULT_CACHED_SENDERS`] keys.
    pub fn new() -> Self {
        Self::with_capacity(NonZeroUsize::new(DEFAULT_CACHED_SENDERS).expect("not zero"))
    }

    /// A verifier caching up to `capacity` senders' keys.
    pub fn with_capacity(capacity: NonZeroUsize) -> Self {
        Self { secp: Secp256k1::verification_only(), keys: Mutex::new(LruCache::new(capacity)) }
    }

    /// The key cache. Its lock is held only for one lookup or one insertion; a panic cannot
    /// leave it half-updated, so a poisoned lock is taken as it is.
    fn keys(&self) -> MutexGuard<'_, LruCache<Address, PublicKey>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The public key the contract's `ecrecover` finds for `signature` over `digest`.
    fn recover_key(&self, digest: B256, signature: &[u8]) -> Result<PublicKey, SignatureError> {
        let parsed = Signature::parse(signature)?;
        let recovery_id = match parsed.v {
            27 => RecoveryId::Zero,
            28 => RecoveryId::One,
            _ => return Err(SignatureError::Invalid),
        };
        let compact: [u8; 64] = parsed.to_bytes()[..64].try_into().expect("64 bytes");
        let recoverable =
            RecoverableSignature::from_compact(&compact, recovery_id).map_err(|_| SignatureError::Invalid)?;
        self.secp.recover_ecdsa(Message::from_digest(digest.0), &recoverable).map_err(|_| SignatureError::Invalid)
    }

    /// The signer of `digest` as the contract's `ecrecover` finds it, and its public key.
    pub fn recover(&self, digest: B256, signature: &[u8]) -> Result<(Address, PublicKey), SignatureError> {
        let key = self.recover_key(digest, signature)?;
        Ok((address_of(&key), key))
    }

    /// Checks that the contract recovers `sender` from `signature` over `digest`, and caches
    /// the sender's key for [`ProofVerifier::verify_known`].
    pub fn verify_first(&self, sender: Address, digest: B256, signature: &[u8]) -> Result<(), VerifyError> {
        let (signer, key) = self.recover(digest, signature)?;
        if signer != sender {
            return Err(VerifyError::WrongSigner(signer));
        }
        self.keys().put(sender, key);
        Ok(())
    }

    /// The same verdict as [`ProofVerifier::verify_first`], faster for a sender whose key is
    /// cached: the recovered key is compared with the cached one instead of being hashed into
    /// an address. An unknown sender goes through [`ProofVerifier::verify_first`].
    pub fn verify_known(&self, sender: Address, digest: B256, signature: &[u8]) -> Result<(), VerifyError> {
        let cached = self.keys().get(&sender).copied();
        let Some(cached) = cached else {
            return self.verify_first(sender, digest, signature);
        };
        let key = self.recover_key(digest, signature)?;
        if key == cached { Ok(()) } else { Err(VerifyError::WrongSigner(address_of(&key))) }
    }

    /// How many senders' keys are cached.
    pub fn cached_senders(&self) -> usize {
        self.keys().len()
    }
}

/// The Ethereum address of a public key: the last 20 bytes of keccak256 of its 64 raw bytes.
pub fn address_of(key: &PublicKey) -> Address {
    let uncompressed = key.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}
