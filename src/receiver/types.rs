//! What the receiver knows about a channel: the durable record, the chain's pending events, and
//! the view that combines them.

use alloy_primitives::{Address, B256, Bytes, aliases::U192};
use serde::Serialize;

pub(crate) use crate::channel::ChannelStatus;
use crate::channel::{ChannelEvent, ChannelId, ChannelState};

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
    pub(crate) fn opened(id: ChannelId, deposit: U192, now: i64) -> Self {
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

    /// What the chain says about the channel, as recorded.
    pub(crate) fn chain_state(&self) -> ChannelState {
        ChannelState {
            deposit: self.deposit,
            status: self.status,
            closing_balance: self.closing_balance,
            settle_block: self.settle_block,
            settled_balance: self.settled_balance,
        }
    }

    /// Records what the chain says about the channel.
    pub(crate) fn set_chain_state(&mut self, state: ChannelState) {
        self.deposit = state.deposit;
        self.status = state.status;
        self.closing_balance = state.closing_balance;
        self.settle_block = state.settle_block;
        self.settled_balance = state.settled_balance;
    }

    /// Applies a confirmed change of the chain. Never touches the paid balance: that is the
    /// payments' alone.
    pub(crate) fn apply(&mut self, event: &ChannelEvent, now: i64) {
        self.set_chain_state(self.chain_state().after(event));
        self.updated_at = now;
    }
}

/// A contract event with where it was logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChainEvent {
    /// The block it is in.
    pub block: u64,
    /// That block's hash.
    pub block_hash: B256,
    /// Its index among the block's logs.
    pub log_index: u64,
    /// The channel it concerns.
    pub id: ChannelId,
    /// What it changes.
    pub change: ChannelEvent,
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

    /// Applies an unconfirmed change of the chain: a top-up counts in the unconfirmed deposit
    /// only.
    pub(crate) fn apply_pending(&mut self, event: &ChannelEvent) {
        let before = ChannelState {
            deposit: self.unconfirmed_deposit,
            status: self.status,
            closing_balance: self.closing_balance,
            settle_block: self.settle_block,
            settled_balance: self.settled_balance,
        };
        let after = match event {
            // A pending opening of a confirmed channel changes nothing in its view.
            ChannelEvent::Opened { .. } => before,
            // A top-up carries the deposit it made, which never lowers the one recorded: with a
            // shared store the record may already hold later top-ups another server applied
            // while this one still holds the earlier event as unconfirmed.
            ChannelEvent::ToppedUp { deposit, .. } if *deposit < before.deposit => before,
            event => before.after(event),
        };
        self.unconfirmed_deposit = after.deposit;
        self.status = after.status;
        self.closing_balance = after.closing_balance;
        self.settle_block = after.settle_block;
        self.settled_balance = after.settled_balance;
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
pub struct AcceptedPayment {
    /// The channel paid through.
    pub id: ChannelId,
    /// What this payment added.
    pub amount: U192,
    /// The balance registered now.
    pub balance: U192,
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Address;

    use super::*;

    fn amount(n: u64) -> U192 {
        U192::from(n)
    }

    /// A pending top-up behind the record (another server applied a later one from the shared
    /// store) leaves the view's deposit alone; a newer one raises it.
    #[test]
    fn a_stale_pending_top_up_never_lowers_the_deposit_shown() {
        let mut view = ChannelView {
            sender: Address::repeat_byte(1),
            open_block: 7,
            status: ChannelStatus::Open,
            confirmed: true,
            confirmations: 9,
            deposit: amount(30),
            unconfirmed_deposit: amount(30),
            balance: amount(4),
            closing_balance: None,
            settle_block: None,
            settled_balance: None,
        };
        view.apply_pending(&ChannelEvent::ToppedUp { added: amount(10), deposit: amount(20) });
        assert_eq!((view.deposit, view.unconfirmed_deposit), (amount(30), amount(30)));
        view.apply_pending(&ChannelEvent::ToppedUp { added: amount(5), deposit: amount(35) });
        assert_eq!((view.deposit, view.unconfirmed_deposit), (amount(30), amount(35)));
    }
}
