//! Revert data decoded into the contract's and the token's custom errors.

use alloy_primitives::{Bytes, U256};
use alloy_sol_types::{SolError, SolInterface};

use super::bindings::{ERC223Token::ERC223TokenErrors, RaidenMicroTransferChannels::RaidenMicroTransferChannelsErrors};
use crate::chain::Outcome;

/// The channel contract's custom errors.
pub type ChannelsError = RaidenMicroTransferChannelsErrors;
/// The token's custom errors (OpenZeppelin's ERC-6093 errors).
pub type TokenError = ERC223TokenErrors;

/// Why a transaction or call reverted, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revert {
    /// A custom error of the channel contract.
    Channels(ChannelsError),
    /// A custom error of the token, passed through by the channel contract.
    Token(TokenError),
    /// `Panic(uint256)`: an assertion, arithmetic overflow, ...
    Panic(U256),
    /// `Error(string)`.
    Message(String),
    /// Revert data that matches none of the above (empty for a bare `revert()`).
    Unknown(Bytes),
    /// The EVM halted (out of gas, invalid opcode, ...).
    Halt(String),
}

impl Revert {
    /// Decodes revert data: the channel contract's errors first, then the token's.
    pub fn decode(data: &[u8]) -> Self {
        if let Ok(error) = ChannelsError::abi_decode(data) {
            return Revert::Channels(error);
        }
        if let Ok(error) = TokenError::abi_decode(data) {
            return Revert::Token(error);
        }
        if let Ok(panic) = alloy_sol_types::Panic::abi_decode(data) {
            return Revert::Panic(panic.code);
        }
        if let Ok(revert) = alloy_sol_types::Revert::abi_decode(data) {
            return Revert::Message(revert.reason);
        }
        Revert::Unknown(Bytes::copy_from_slice(data))
    }

    /// The revert of a failed outcome; `None` for a success.
    pub fn from_outcome(outcome: &Outcome) -> Option<Self> {
        match outcome {
            Outcome::Success(_) => None,
            Outcome::Revert(data) => Some(Self::decode(data)),
            Outcome::Halt(reason) => Some(Revert::Halt(reason.clone())),
        }
    }
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Revert::Channels(error) => write!(f, "{error:?}"),
            Revert::Token(error) => write!(f, "token: {error:?}"),
            Revert::Panic(code) => write!(f, "panic 0x{code:x}"),
            Revert::Message(message) => write!(f, "{message}"),
            Revert::Unknown(data) if data.is_empty() => write!(f, "reverted without data"),
            Revert::Unknown(data) => write!(f, "unknown revert data {data}"),
            Revert::Halt(reason) => write!(f, "halted: {reason}"),
        }
    }
}

impl std::error::Error for Revert {}

impl From<ChannelsError> for Revert {
    fn from(error: ChannelsError) -> Self {
        Revert::Channels(error)
    }
}

impl From<TokenError> for Revert {
    fn from(error: TokenError) -> Self {
        Revert::Token(error)
    }
}

impl From<crate::proof::SignatureError> for ChannelsError {
    /// The custom error the contract reverts with for a rejected signature.
    fn from(error: crate::proof::SignatureError) -> Self {
        use super::bindings::RaidenMicroTransferChannels as C;
        use crate::proof::SignatureError;
        match error {
            SignatureError::Length(length) => {
                ChannelsError::InvalidSignatureLength(C::InvalidSignatureLength { length: U256::from(length) })
            }
            SignatureError::HighS(s) => ChannelsError::InvalidSignatureS(C::InvalidSignatureS { s }),
            SignatureError::Invalid => ChannelsError::InvalidSignature(C::InvalidSignature {}),
        }
    }
}
