//! What the manager reports about itself: how far it has followed the chain, and whether it can
//! take payments and pay for its close transactions.

use alloy_primitives::U256;
use serde::Serialize;

/// How far the manager has followed the chain, and whether it can take payments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// The latest block seen.
    pub head: u64,
    /// The last confirmed block applied.
    pub synced_block: Option<u64>,
    /// Whether the last poll reached the node.
    pub node_reachable: bool,
    /// The last node error, while it lasts.
    pub last_error: Option<String>,
    /// Why payments are stopped, if they are (a reorg deeper than the confirmations).
    pub halted: Option<String>,
    /// The receiver's ether, when it is below what one close transaction costs at current fees.
    pub low_funds: Option<LowFunds>,
    /// Reorgs of unconfirmed blocks seen so far.
    pub reorgs: u64,
    /// Reorgs deeper than the confirmations after which the chain was re-read.
    pub resyncs: u64,
    /// Close attempts (disputes and cash-outs) that failed so far; each is tried again.
    pub failed_closes: u64,
    /// The last close attempt's failure (the channel and why).
    pub last_close_error: Option<String>,
    /// Why payments are refused now, as [`PaymentError::reason`](super::PaymentError::reason)
    /// names it (`node_unreachable` once the node has been unreachable for the configured share
    /// of the challenge period, `unavailable` while halted); filled in by
    /// [`ChannelManager::status`](super::ChannelManager::status).
    pub refusing_payments: Option<&'static str>,
    /// Whether this server answers close requests: always with a store of its own (SQLite);
    /// with a shared one (PostgreSQL), while it holds the chain-work lease (one server does).
    pub chain_work: bool,
    /// Why a shared store (PostgreSQL) did not answer this server's last claim of the
    /// chain-work lease (made at every poll), while it does not: every payment needs the store.
    pub store_error: Option<String>,
}

impl SyncStatus {
    /// Whether the manager has caught up with the node and can take payments on new channels.
    pub fn ready(&self) -> bool {
        self.node_reachable
            && self.halted.is_none()
            && self.synced_block.is_some()
            && self.refusing_payments.is_none()
            && self.store_error.is_none()
    }
}

/// The receiver cannot afford a close transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LowFunds {
    /// Its ether, in wei.
    pub balance: U256,
    /// What one close transaction costs at current fees, in wei.
    pub needed: U256,
}
