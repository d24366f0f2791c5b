//! Balance proofs and closing agreements off chain: EIP-712 digests, signing and recovery,
//! byte for byte what the contract computes.
//!
//! A sender pays by signing a [`BalanceProof`]; the receiver agrees to a cooperative close by
//! signing a [`ClosingAgreement`] over the sender's signature, and only when the sender asked
//! for it with a [`CloseRequest`] (off chain: the receiver's server checks it). All three are
//! typed data under the contract's [`ChannelDomain`] (name, version, chain id, contract
//! address), so a proof is only valid for one channel of one contract on one chain.

mod domain;
mod signature;
mod signer;
mod verify;

pub use domain::{BalanceProof, ChannelDomain, CloseRequest, ClosingAgreement};
pub use signature::{Signature, SignatureError, recover};
pub use signer::{KeyError, Signer};
pub use verify::{DEFAULT_CACHED_SENDERS, ProofVerifier, VerifyError, address_of};
