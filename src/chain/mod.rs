//! The chain interface: deploy, transact, call and mine, independent of which chain runs them.
//!
//! [`EvmChain`] is the embedded revm chain; [`RpcChain`] is a JSON-RPC node (anvil, a
//! testnet). Everything above this module (the contract
//! bindings, the scenarios, the property tests) is written against the [`Chain`] trait, so a
//! JSON-RPC node can stand behind the same interface. The async node for servers is
//! [`crate::node`], a layer above.

mod evm;
mod redact;
mod rpc;
pub(crate) mod simulate;

pub use evm::{EvmChain, Snapshot};
pub use redact::RedactedUrl;
pub use rpc::RpcChain;

use alloy_primitives::{Address, Bytes, Log};

/// Gas a transaction spends before executing: the 21,000 base cost.
pub const TX_BASE_GAS: u64 = 21_000;

/// A chain the channel operations can run on.
///
/// Every transaction is mined in a block of its own (like a node with automine on): the block
/// number that a transaction sees is `block_number() + 1`, and afterwards it is the latest
/// block. A reverted transaction is mined too. ([`EvmChain`] can also put several transactions
/// in one block: [`EvmChain::begin_block`].)
pub trait Chain {
    /// The chain id (EIP-155), as the contract sees it in `block.chainid`.
    fn chain_id(&self) -> u64;

    /// The number of the latest mined block.
    fn block_number(&self) -> Result<u64, ChainError>;

    /// Deploys `init_code` (creation bytecode followed by ABI-encoded constructor arguments)
    /// from `from`.
    fn deploy(&mut self, from: Address, init_code: Bytes) -> Result<Deployment, ChainError>;

    /// Sends a transaction from `from` to `to` with calldata `data`, and mines it.
    fn transact(&mut self, from: Address, to: Address, data: Bytes) -> Result<Receipt, ChainError>;

    /// Executes a read-only call against the latest state; nothing is mined or kept.
    fn call(&mut self, from: Address, to: Address, data: Bytes) -> Result<Outcome, ChainError>;

    /// Mines `blocks` empty blocks.
    fn mine(&mut self, blocks: u64) -> Result<(), ChainError>;
}

/// How a transaction or call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded and returned these bytes.
    Success(Bytes),
    /// It reverted with this revert data (a custom error, `Error(string)`, `Panic(uint256)` or
    /// nothing).
    Revert(Bytes),
    /// It halted without revert data (out of gas, invalid opcode, ...).
    Halt(String),
}

impl Outcome {
    /// Whether the transaction or call succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success(_))
    }
}

/// A mined transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The block the transaction was mined in.
    pub block_number: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Gas used as a receipt reports it: all gas spent, refunds deducted.
    pub gas_used: u64,
    /// Logs emitted (empty unless it succeeded).
    pub logs: Vec<Log>,
}

/// A contract deployed by [`Chain::deploy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    /// The new contract's address.
    pub address: Address,
    /// The receipt of the creating transaction.
    pub receipt: Receipt,
}

/// A failure of the chain itself, as opposed to a transaction that reverted.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The EVM rejected the transaction before executing it (bad nonce, funds for gas, ...).
    #[error("transaction rejected by the EVM: {0}")]
    InvalidTransaction(String),
    /// The creating transaction did not produce a contract.
    #[error("deployment failed: {0:?}")]
    DeploymentFailed(Outcome),
    /// A block number does not fit the chain's types.
    #[error("block number overflow")]
    BlockNumberOverflow,
    /// The chain was asked to go back to an earlier block.
    #[error("cannot go back from block {latest} to block {requested}")]
    BlockNumberBackwards {
        /// The latest block.
        latest: u64,
        /// The block asked for.
        requested: u64,
    },
    /// A block is being built ([`EvmChain::begin_block`]): it must end before another begins or
    /// blocks are mined.
    #[error("a block is being built")]
    BlockInProgress,
    /// [`EvmChain::end_block`] without [`EvmChain::begin_block`].
    #[error("no block is being built")]
    NoBlockInProgress,
    /// The node or its transport failed.
    #[error("node error: {0}")]
    Node(String),
}
