//! How a channel manager is set up.

use std::time::Duration;

use alloy_primitives::Address;

use crate::{chain::RedactedUrl, proof::Signer};

/// The longest wait for a PostgreSQL connection of the store's pool: past it, the store is busy
/// and a payment is refused as unavailable (a 503 at the paywall) rather than queued.
pub const POOL_WAIT: Duration = Duration::from_secs(3);

/// What the receiver does when a sender asks to close with a balance that is not below the
/// receiver's last proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClosePolicy {
    /// Close at once with the last proof, so the receiver is paid now rather than after the
    /// challenge period. Only when the request equals the last proof: if the sender claims
    /// more, closing with the receiver's smaller proof would lose the difference, so the
    /// manager waits for the settlement instead.
    #[default]
    AtOnce,
    /// Wait for the sender's settlement.
    AfterChallenge,
}

/// How the receiver's close transactions are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxPolicy {
    /// How long a transaction may stay unmined before it is re-sent with higher fees.
    pub stuck_after: Duration,
    /// Fee increase of each re-send, in percent (nodes want at least 10).
    pub fee_bump_percent: u64,
    /// How many times a stuck transaction is re-sent.
    pub max_resends: u32,
    /// Gas one close transaction is budgeted at, for the low-funds warning.
    pub close_gas: u64,
    /// The wait before a failed close is tried again; doubled after each failure.
    pub retry_min: Duration,
    /// The longest wait between two attempts of a failed close.
    pub retry_max: Duration,
}

impl Default for TxPolicy {
    fn default() -> Self {
        Self {
            stuck_after: Duration::from_secs(30),
            fee_bump_percent: 25,
            max_resends: 5,
            close_gas: 120_000,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// The configuration of a [`ChannelManager`](super::ChannelManager). Its `Debug` output shows
/// the node's and the store's URLs redacted (they may carry credentials).
#[derive(Clone)]
pub struct ManagerConfig {
    /// The node's JSON-RPC URL.
    pub rpc_url: String,
    /// The channel contract.
    pub contract: Address,
    /// The block the contract was deployed in: logs are read from there.
    pub deployment_block: u64,
    /// The receiver's key: it signs closing agreements and close transactions.
    pub receiver: Signer,
    /// `sqlite://PATH` or `postgres://…`.
    pub store_url: String,
    /// Blocks an event needs (its own included) before its deposit can be spent.
    pub confirmations: u64,
    /// How often the node is asked for new blocks.
    pub poll_interval: Duration,
    /// How long one request to the node may take before the node counts as unreachable (a
    /// node that accepts connections but never answers would otherwise stall the follower or a
    /// dispute). Every request of the follower and of the close transactions is bounded.
    pub node_timeout: Duration,
    /// The chain's block time (12 s on Ethereum): with the challenge period, it sets how long
    /// the node may stay unreachable before payments stop.
    pub block_time: Duration,
    /// The share of the challenge period (`challenge_period × block_time`) the node may stay
    /// unreachable (no successful poll) before payments stop with `node_unreachable`: past it,
    /// a close request could go unseen for too long to be disputed. `None` never stops.
    pub unreachable_share: Option<f64>,
    /// After a reorg deeper than the confirmations, re-read the chain from the deployment
    /// block (keeping every proof) instead of stopping for good; payments are refused until
    /// the re-read has caught up. See `docs/receiver.md`.
    pub resync_on_deep_reorg: bool,
    /// The longest block range asked of `eth_getLogs` (halved while the node refuses).
    pub max_log_range: u64,
    /// What to do with a close request that is not below the last proof.
    pub close_policy: ClosePolicy,
    /// How close transactions are sent.
    pub tx: TxPolicy,
    /// With a store several servers share (PostgreSQL): how long the chain-work lease lasts
    /// unless renewed. One server holds it and answers close requests, renewing it at every
    /// poll; once its holder is gone, another takes it over within this time plus one poll
    /// interval. More than twice the poll interval. Unused on SQLite (one process).
    pub chain_lease: Duration,
}

impl ManagerConfig {
    /// A configuration with the defaults: 5 confirmations, a poll every second (10 s at most
    /// per node request), 12 s blocks, payments stopped after half the challenge period without
    /// the node, a re-read after a deep reorg, log ranges of up to 10,000 blocks, close at once, a
    /// 10 s chain-work lease.
    pub fn new(rpc_url: impl Into<String>, contract: Address, receiver: Signer, store_url: impl Into<String>) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            contract,
            deployment_block: 0,
            receiver,
            store_url: store_url.into(),
            confirmations: 5,
            poll_interval: Duration::from_secs(1),
            node_timeout: Duration::from_secs(10),
            block_time: Duration::from_secs(12),
            unreachable_share: Some(0.5),
            resync_on_deep_reorg: true,
            max_log_range: 10_000,
            close_policy: ClosePolicy::default(),
            tx: TxPolicy::default(),
            chain_lease: Duration::from_secs(10),
        }
    }
}

impl std::fmt::Debug for ManagerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerConfig")
            .field("rpc_url", &RedactedUrl::new(&self.rpc_url))
            .field("contract", &self.contract)
            .field("deployment_block", &self.deployment_block)
            .field("receiver", &self.receiver)
            .field("store_url", &RedactedUrl::new(&self.store_url))
            .field("confirmations", &self.confirmations)
            .field("poll_interval", &self.poll_interval)
            .field("node_timeout", &self.node_timeout)
            .field("block_time", &self.block_time)
            .field("unreachable_share", &self.unreachable_share)
            .field("resync_on_deep_reorg", &self.resync_on_deep_reorg)
            .field("max_log_range", &self.max_log_range)
            .field("close_policy", &self.close_policy)
            .field("tx", &self.tx)
            .field("chain_lease", &self.chain_lease)
            .finish()
    }
}
