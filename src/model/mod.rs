//! The reference model: the channel contract and its token as a plain Rust state machine.
//!
//! This is the specification. It has no EVM inside: balance proofs and closing agreements are
//! checked with [`crate::proof`], and every action returns the events the contract emits or the
//! custom error it reverts with. The conformance suite (`tests/conformance.rs`) runs random
//! action sequences through this model and through the EVM and demands the same result at
//! every step.
//!
//! Read it in this order:
//! - [`state`]: what the contract and the token store (plain data, no logic);
//! - [`types`]: the transactions ([`Call`]) and what they return;
//! - [`token`]: the ERC20/ERC223 token;
//! - [`channels`]: the channel contract, one function per external function;
//! - [`invariants`]: what must hold after every step.
//!
//! Every transaction is atomic: each function checks everything first (in the contract's
//! order, so the same error wins) and only then changes state, so a reverted call changes
//! nothing. As on a chain with automine, every transaction, reverted or not, is mined in a block
//! of its own, unless [`Model::begin_block`] has started one that several share; and
//! [`Model::jump_to`] moves to a later block, as the embedded chain's controls do.

pub mod channels;
pub mod invariants;
pub mod state;
pub mod token;
pub mod types;

pub use invariants::{InvariantViolation, check_invariants};
pub use state::{Channel, CloseRequest, Config, Model, TokenState};
pub use types::{Call, TxResult};
