//! Signing digests with a secp256k1 key (k256).

use alloy_primitives::{Address, B256, Bytes};
use k256::ecdsa::SigningKey;

/// A private key and its address. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    address: Address,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("address", &self.address).finish_non_exhaustive()
    }
}

/// Why a private key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not 32 bytes of hex (an optional `0x` prefix and surrounding white space are allowed).
    #[error("a private key is 32 bytes of hex")]
    Format,
    /// Zero, or not below the curve order.
    #[error("the private key is out of range for secp256k1")]
    Range,
}

impl Signer {
    /// A signer from a 32-byte secret scalar.
    pub fn from_bytes(secret: &B256) -> Result<Self, KeyError> {
        let key = SigningKey::from_bytes(&secret.0.into()).map_err(|_| KeyError::Range)?;
        Ok(Self::from_key(key))
    }

    /// A signer from hex text such as the contents of a key file.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes: B256 = text.parse().map_err(|_| KeyError::Format)?;
        Self::from_bytes(&bytes)
    }

    /// A deterministic test key: keccak256 of `"uraiden test key {index}"`, so every index
    /// gives a different key. Never use these keys for real funds.
    pub fn test_key(index: u64) -> Self {
        let seed = alloy_primitives::keccak256(format!("uraiden test key {index}"));
        Self::from_bytes(&seed).expect("a keccak output is a valid key with overwhelming probability")
    }

    fn from_key(key: SigningKey) -> Self {
        let address = Address::from_public_key(key.verifying_key());
        Self { key, address }
    }

    /// The signer's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The k256 key, for callers that need it (e.g. to build an alloy wallet).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Signs a 32-byte digest: 65 bytes `r ‖ s ‖ v`, low `s`, `v` 27 or 28.
    pub fn sign_digest(&self, digest: B256) -> Bytes {
        let (signature, recovery_id) =
            self.key.sign_prehash_recoverable(digest.as_slice()).expect("signing a 32-byte prehash cannot fail");
        // k256 returns low-s signatures; normalise anyway so the invariant does not rest on it.
        let (signature, recovery_id) = match signature.normalize_s() {
            Some(normalized) => (normalized, k256::ecdsa::RecoveryId::new(!recovery_id.is_y_odd(), false)),
            None => (signature, recovery_id),
        };
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + u8::from(recovery_id.is_y_odd());
        Bytes::copy_from_slice(&out)
    }
}
