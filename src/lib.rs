//! # uraiden
//!
//! µRaiden-style unidirectional token payment channels: the Solidity contract and its test
//! token, an embedded revm chain to run them on, EIP-712 balance proofs, and a plain-Rust
//! reference model of the contract that the conformance suite checks the EVM against.
//!
//! - [`chain`]: the synchronous [`Chain`](chain::Chain) interface, the embedded revm chain and a
//!   JSON-RPC node behind it.
//! - [`contract`]: bindings, decoded events and custom errors, a typed client.
//! - [`proof`]: EIP-712 digests, signing and recovery of balance proofs.
//! - [`node`]: the async JSON-RPC node and [`TxSender`](node::TxSender), the one way to send a
//!   transaction.
//! - [`model`]: the reference model of the contract and its token: the specification.
//! - [`channel`]: channel identity and on-chain info.
//! - [`gas`]: gas per channel operation, warm and cold, against the goals.
//! - [`protocol`]: the wire vocabulary of the paywall and the sender (µRaiden headers, x402 v2,
//!   the payment a request carries, refusal reasons, the management API's paths and JSON).
//! - [`receiver`]: the receiver's channel manager (chain following, store, payments, disputes).
//! - [`paywall`]: HTTP 402 payments (µRaiden headers and x402 v2) as a tower layer, and the management API.
//! - [`sender`]: the sender's channel client and paying HTTP client.

pub mod chain;
pub mod channel;
pub mod contract;
pub mod gas;
pub mod model;
pub mod node;
pub mod paywall;
pub mod proof;
pub mod protocol;
pub mod receiver;
pub mod sender;
