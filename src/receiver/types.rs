//! What the receiver knows about a channel: the durable record, the chain's pending events, and
//! the view that combines them.

use alloy_primitives::{Address, B256, Bytes, aliases::U192};
use serde::Serialize;

use crate::channel::ChannelId;
pub(crate) use crate::channel::ChannelStatus;

/// What the receiver keeps durably about a channel whose opening is confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelRecord {
    /// The channel.
    pub id: ChannelId,
    /// The confirmed deposit: what payments may add up to.
    pub deposit: U192,
    /// The last registered balance: what the sender has paid so far.
    pub balance: U192,
    /// The sender's balance proof for `balance` (`None` while nothing was paid).
    pub balance_sig: Option<Bytes>,
    /// Open, closing or settled.
    pub status: ChannelStatus,
    /// The balance the sender asked to close with, once a close request is confirmed.
    pub closing_balance: Option<U192>,
    /// The block after which the sender may settle, once a close request is confirmed.
    pub settle_block: Option<u64>,
    /// What the settlement paid the receiver.
    pub settled_balance: Option<U192>,
    /// Whether the receiver signed a cooperative close for `balance`.
    pub close_signed: bool,
    /// When the record was created (unix seconds).
    pub created_at: i64,
    /// When it last changed (unix seconds).
    pub updated_at: i64,
}

impl ChannelRecord {
    /// A channel whose opening was just confirmed: `deposit` escrowed, nothing paid.
    pub fn opened(id: ChannelId, deposit: U192, now: i64) -> Self {
        Self {
            id,
            deposit,
            balance: U192::ZERO,
            balance_sig: None,
            status: ChannelStatus::Open,
            closing_balance: None,
            settle_block: None,
            settled_balance: None,
            close_signed: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// Applies a confirmed change of the chain. Never touches the paid balance: that is the
    /// payments' alone.
    pub fn apply(&mut self, update: &ChainUpdate, now: i64) {
        match *update {
            ChainUpdate::Opened { .. } => return,
            ChainUpdate::ToppedUp { deposit, .. } => self.deposit = deposit,
            ChainUpdate::CloseRequested { balance, settle_block, .. } => {
                if self.status != ChannelStatus::Settled {
                    self.status = ChannelStatus::Closing;
                }
                self.closing_balance = Some(balance);
                self.settle_block = Some(settle_block);
            }
            ChainUpdate::Settled { balance, .. } => {
                self.status = ChannelStatus::Settled;
                self.settled_balance = Some(balance);
            }
        }
        self.updated_at = now;
    }
}

/// One of the contract's four events for this receiver, as a change to a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainUpdate {
    /// `ChannelCreated`: the channel exists with `deposit`.
    Opened {
        /// The new channel (its open block is the log's block).
        id: ChannelId,
        /// Its deposit.
        deposit: U192,
    },
    /// `ChannelToppedUp`: the deposit is now `deposit` (`added` more).
    ToppedUp {
        /// The channel.
        id: ChannelId,
        /// The amount added.
        added: U192,
        /// The deposit after it.
        deposit: U192,
    },
    /// `ChannelCloseRequested`: the sender asked to close with `balance`.
    CloseRequested {
        /// The channel.
        id: ChannelId,
        /// The balance the sender claims.
        balance: U192,
        /// The block after which the sender may settle (request block + challenge period).
        settle_block: u64,
    },
    /// `ChannelSettled`: the receiver was paid `balance` and the channel deleted.
    Settled {
        /// The channel.
        id: ChannelId,
        /// What the receiver got.
        balance: U192,
    },
}

impl ChainUpdate {
    /// The channel it concerns.
    pub fn channel(&self) -> ChannelId {
        match *self {
            ChainUpdate::Opened { id, .. }
            | ChainUpdate::ToppedUp { id, .. }
            | ChainUpdate::CloseRequested { id, .. }
            | ChainUpdate::Settled { id, .. } => id,
        }
    }
}

/// A contract event with where it was logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainEvent {
    /// The block it is in.
    pub block: u64,
    /// That block's hash.
    pub block_hash: B256,
    /// Its index among the block's logs.
    pub log_index: u64,
    /// What it changes.
    pub update: ChainUpdate,
}

/// A channel as the receiver sees it now: the confirmed record, with what the chain's
/// unconfirmed blocks add.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChannelView {
    /// The sender.
    pub sender: Address,
    /// The block the channel was opened in.
    pub open_block: u32,
    /// Open, closing or settled (an unconfirmed close request or settlement counts).
    pub status: ChannelStatus,
    /// Whether the opening is confirmed (payments need it).
    pub confirmed: bool,
    /// Confirmations of the opening so far.
    pub confirmations: u64,
    /// The confirmed deposit: what payments may add up to.
    #[serde(serialize_with = "decimal")]
    pub deposit: U192,
    /// The deposit including unconfirmed top-ups.
    #[serde(serialize_with = "decimal")]
    pub unconfirmed_deposit: U192,
    /// The last registered balance.
    #[serde(serialize_with = "decimal")]
    pub balance: U192,
    /// The balance the sender asked to close with, if it did.
    #[serde(serialize_with = "decimal_opt")]
    pub closing_balance: Option<U192>,
    /// The block after which the sender may settle, if a close was requested.
    pub settle_block: Option<u64>,
    /// What the settlement paid the receiver, once settled.
    #[serde(serialize_with = "decimal_opt")]
    pub settled_balance: Option<U192>,
}

impl ChannelView {
    /// The channel's identity for `receiver`.
    pub fn id(&self, receiver: Address) -> ChannelId {
        ChannelId { sender: self.sender, receiver, open_block: self.open_block }
    }
}

fn decimal<S: serde::Serializer>(value: &U192, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

fn decimal_opt<S: serde::Serializer>(value: &Option<U192>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// A payment the receiver accepted and stored durably.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payment {
    /// The channel paid through.
    pub id: ChannelId,
    /// What this payment added.
    pub amount: U192,
    /// The balance registered now.
    pub balance: U192,
}
