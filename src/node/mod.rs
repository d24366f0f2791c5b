//! The async JSON-RPC node of the off-chain half (the receiver's manager, the sender's client,
//! the command line): alloy's provider behind typed reads, the node's failures sorted into "the
//! node refused" and "the node could not be reached", and [`TxSender`], the one way a
//! transaction is sent.
//!
//! - [`Node`]: the connection and its reads (blocks, views, logs, simulations, nonces, fees,
//!   receipts), each bounded by the node's timeout ([`Node::with_timeout`]).
//! - [`TxSender`]: estimate, fees, nonce, sign and send, re-send with higher fees while not
//!   mined, wait for the receipt; each step bounded, each failure a [`SendError`].
//!
//! [`RpcChain`](crate::chain::RpcChain) is the synchronous [`Chain`](crate::chain::Chain) over
//! the same kind of node, for the conformance suite; this one is for tokio servers and never
//! blocks.

mod connection;
mod error;
mod tx;

pub use connection::{BlockRef, Node};
pub use error::NodeError;
pub use tx::{InFlight, Mined, Nonce, Resend, SendError, TxSender};
