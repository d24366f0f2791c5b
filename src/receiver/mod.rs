//! The receiver's channel manager: follows the channel contract for one receiver, keeps every
//! payment durably, and defends the receiver's money.
//!
//! - [`ChannelManager`] is the entry point: [`ChannelManager::start`] connects to the node,
//!   opens the store and starts following the chain; [`ChannelManager::register_payment`]
//!   checks and stores a balance proof; [`ChannelManager::sign_close`] answers a cooperative
//!   close; [`ChannelManager::close_channel`] cashes out.
//! - `follower`: the chain, confirmed and unconfirmed, and reorgs.
//! - [`store`]: SQLite or PostgreSQL.
//! - `rules`: when a payment is accepted, what a close request calls for.
//! - `disputes`: the receiver's close transactions.
//! - [`ChannelLocks`]: one lock per channel for the requests that pay on it.
//! - [`types`] and [`error`]: what the manager knows and why it refuses.

mod config;
mod disputes;
pub mod error;
mod follower;
mod locks;
mod manager;
mod rules;
pub mod store;
pub mod types;

pub use config::{ClosePolicy, ManagerConfig, TxPolicy};
pub use disputes::CloseOutcome;
pub use error::{CloseError, ManagerError, PaymentError, StoreError};
pub use locks::ChannelLocks;
pub use manager::{ChannelManager, CheckedPayment, LowFunds, Stats, SyncStatus};
pub use types::{ChannelRecord, ChannelView, Payment};
