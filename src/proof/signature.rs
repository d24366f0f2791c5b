//! 65-byte `r ‖ s ‖ v` signatures, parsed and recovered under the contract's rules.

use alloy_primitives::{Address, B256, U256};

/// Half the secp256k1 group order: a valid `s` is at most this (EIP-2).
const HALF_ORDER: U256 =
    U256::from_be_slice(&alloy_primitives::hex!("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"));

/// Why a signature is rejected. Each variant is one of the contract's custom errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 65 bytes long (`InvalidSignatureLength`).
    #[error("signature is {0} bytes long, expected 65")]
    Length(usize),
    /// `s` is in the upper half of the curve order (`InvalidSignatureS`).
    #[error("signature has a high s ({0}), a malleable twin")]
    HighS(B256),
    /// A bad `v`, or no address recovers (`InvalidSignature`).
    #[error("signature is invalid (bad v, or it recovers to no address)")]
    Invalid,
}

/// A parsed signature: `r`, `s` and `v` normalised to 27 or 28 (or left as given if invalid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The `r` value.
    pub r: B256,
    /// The `s` value, at most half the curve order.
    pub s: B256,
    /// The `v` value: 27 or 28 for a valid signature.
    pub v: u8,
}

impl Signature {
    /// Parses `r ‖ s ‖ v` as the contract does: 65 bytes, low `s`, `v` of 0 or 1 read as 27 or 28.
    pub fn parse(bytes: &[u8]) -> Result<Self, SignatureError> {
        let bytes: &[u8; 65] = bytes.try_into().map_err(|_| SignatureError::Length(bytes.len()))?;
        let r = B256::from_slice(&bytes[0..32]);
        let s = B256::from_slice(&bytes[32..64]);
        if U256::from_be_bytes(s.0) > HALF_ORDER {
            return Err(SignatureError::HighS(s));
        }
        let v = if bytes[64] < 27 { bytes[64] + 27 } else { bytes[64] };
        Ok(Self { r, s, v })
    }

    /// The 65 bytes `r ‖ s ‖ v`.
    pub fn to_bytes(&self) -> [u8; 65] {
        let mut out = [0u8; 65];
        out[..32].copy_from_slice(self.r.as_slice());
        out[32..64].copy_from_slice(self.s.as_slice());
        out[64] = self.v;
        out
    }

    /// The alloy signature, if `v` is 27 or 28.
    pub fn to_alloy(&self) -> Result<alloy_primitives::Signature, SignatureError> {
        let y_parity = match self.v {
            27 => false,
            28 => true,
            _ => return Err(SignatureError::Invalid),
        };
        Ok(alloy_primitives::Signature::new(U256::from_be_bytes(self.r.0), U256::from_be_bytes(self.s.0), y_parity))
    }

    /// The signer of `digest`, as `ecrecover` finds it.
    pub fn recover(&self, digest: B256) -> Result<Address, SignatureError> {
        self.to_alloy()?.recover_address_from_prehash(&digest).map_err(|_| SignatureError::Invalid)
    }
}

/// Parses `signature` and recovers the signer of `digest`, exactly as the contract's
/// `verifyBalanceProof` and `verifyClosingSignature` do.
pub fn recover(digest: B256, signature: &[u8]) -> Result<Address, SignatureError> {
    Signature::parse(signature)?.recover(digest)
}
