//! The receiver's channel manager: follows the channel contract for one receiver, keeps every
//! payment durably, and defends the receiver's money.
//!
//! - [`ChannelManager`] is the entry point (`manager`): [`ChannelManager::start`] connects to
//!   the node, opens the store and starts following the chain;
//!   [`ChannelManager::register_payment`] checks and stores a balance proof;
//!   [`ChannelManager::sign_close`] answers a cooperative close; [`ChannelManager::close_channel`]
//!   cashes out.
//! - `context`: what the parts share (configuration, node, store, in-memory state, status).
//! - `payments`: the payment writer (check, reserve, persist).
//! - `state`: the in-memory state and how a channel looks with the unconfirmed blocks.
//! - `rules`: when a payment's amount is accepted, what a close request calls for.
//! - `sessions`: prepaid sessions (one payment buys `n` requests; credentials spend them).
//! - `follower`: the chain, confirmed and unconfirmed, and reorgs.
//! - `disputes`: answering close requests, the receiver's close transactions, its funds.
//! - `store`: SQLite or PostgreSQL, the crate's alone; [`StoreView`] reads it.
//! - [`ChannelLocks`]: one lock per channel for the requests that pay on it.
//! - `types`, `status` and [`error`]: what the manager knows, reports, and why it refuses.

mod config;
mod context;
mod disputes;
pub mod error;
mod follower;
mod locks;
mod manager;
mod payments;
mod rules;
mod sessions;
mod state;
mod status;
pub(crate) mod store;
pub(crate) mod types;

pub use config::{ClosePolicy, ManagerConfig, POOL_WAIT, TxPolicy};
pub use disputes::CloseOutcome;
pub use error::{CloseError, ManagerError, PaymentError, SessionError, StoreError};
pub use locks::ChannelLocks;
pub use manager::{ChannelManager, Stats};
pub use payments::CheckedPayment;
pub use sessions::{FLUSH_EVERY, SHARED_BLOCK, SessionTerms, SessionUse};
pub use status::{LowFunds, SyncStatus};
pub use store::{CloseTx, CloseTxState, StoreIdentity, StoreView};
pub use types::{AcceptedPayment, ChannelRecord, ChannelView};
