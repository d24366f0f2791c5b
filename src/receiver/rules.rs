//! The receiver's rules: what it holds in memory, how a channel looks with the chain's pending
//! blocks, and when a payment is accepted. Pure functions over plain data, so the property tests
//! can hold them against a model.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use alloy_primitives::aliases::U192;

use super::{
    error::PaymentError,
    store::Cursor,
    types::{ChainEvent, ChainUpdate, ChannelRecord, ChannelStatus, ChannelView},
};
use crate::channel::ChannelId;

/// The manager's in-memory state: the durable records (a cache of the store) and the events of
/// the blocks that are not confirmed yet.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Channels whose opening is confirmed.
    pub records: HashMap<ChannelId, ChannelRecord>,
    /// Events of the unconfirmed blocks, in chain order (rebuilt from the node at every poll).
    pub pending: Vec<ChainEvent>,
    /// Channels with a pending close request or settlement: closed to payments.
    pub pending_closed: HashSet<ChannelId>,
    /// The latest block seen.
    pub head: u64,
    /// The last confirmed block applied.
    pub cursor: Option<Cursor>,
    /// Why payments are stopped, if they are.
    pub halted: Option<String>,
    /// When a poll of the node last succeeded (or the manager connected).
    pub last_contact: Option<Instant>,
    /// How long the node may stay unreachable before payments stop.
    pub unreachable_limit: Option<Duration>,
}

impl State {
    /// Replaces the pending events.
    pub(crate) fn set_pending(&mut self, pending: Vec<ChainEvent>) {
        self.pending_closed = pending
            .iter()
            .filter(|e| matches!(e.update, ChainUpdate::CloseRequested { .. } | ChainUpdate::Settled { .. }))
            .map(|e| e.update.channel())
            .collect();
        self.pending = pending;
    }

    /// Confirmations of an event in block `block`: the block itself counts.
    pub(crate) fn confirmations(&self, block: u64) -> u64 {
        (self.head + 1).saturating_sub(block)
    }

    /// The channel as the receiver sees it now, or `None` if neither a confirmed nor a pending
    /// opening is known.
    pub(crate) fn view(&self, id: &ChannelId) -> Option<ChannelView> {
        let mut view = match self.records.get(id) {
            Some(record) => self.view_of_record(record),
            None => {
                let deposit = self.pending.iter().find_map(|e| match e.update {
                    ChainUpdate::Opened { id: opened, deposit } if opened == *id => Some(deposit),
                    _ => None,
                })?;
                ChannelView {
                    sender: id.sender,
                    open_block: id.open_block,
                    status: ChannelStatus::Open,
                    confirmed: false,
                    confirmations: self.confirmations(u64::from(id.open_block)),
                    deposit: U192::ZERO,
                    unconfirmed_deposit: deposit,
                    balance: U192::ZERO,
                    closing_balance: None,
                    settle_block: None,
                    settled_balance: None,
                }
            }
        };
        for event in self.pending.iter().filter(|e| e.update.channel() == *id) {
            apply_pending(&mut view, &event.update);
        }
        Some(view)
    }

    fn view_of_record(&self, record: &ChannelRecord) -> ChannelView {
        ChannelView {
            sender: record.id.sender,
            open_block: record.id.open_block,
            status: record.status,
            confirmed: true,
            confirmations: self.confirmations(u64::from(record.id.open_block)),
            deposit: record.deposit,
            unconfirmed_deposit: record.deposit,
            balance: record.balance,
            closing_balance: record.closing_balance,
            settle_block: record.settle_block,
            settled_balance: record.settled_balance,
        }
    }

    /// Every channel known, confirmed or pending.
    pub(crate) fn views(&self) -> Vec<ChannelView> {
        let mut ids: Vec<ChannelId> = self.records.keys().copied().collect();
        ids.extend(self.pending.iter().filter_map(|e| match e.update {
            ChainUpdate::Opened { id, .. } if !self.records.contains_key(&id) => Some(id),
            _ => None,
        }));
        ids.sort();
        ids.dedup();
        ids.iter().filter_map(|id| self.view(id)).collect()
    }

    /// Whether the receiver takes payments at all now: not while halted, nor once the node has
    /// been unreachable for longer than the limit (a close request could go unseen).
    pub(crate) fn gate(&self) -> Result<(), PaymentError> {
        if let Some(reason) = &self.halted {
            return Err(PaymentError::Unavailable(reason.clone()));
        }
        if let (Some(limit), Some(last)) = (self.unreachable_limit, self.last_contact) {
            let since = last.elapsed();
            if since > limit {
                return Err(PaymentError::NodeUnreachable { for_secs: since.as_secs(), limit_secs: limit.as_secs() });
            }
        }
        Ok(())
    }

    /// Whether `id` may take a payment now, and its record if so.
    pub(crate) fn payable(&self, id: &ChannelId, confirmations: u64) -> Result<&ChannelRecord, PaymentError> {
        self.gate()?;
        let Some(record) = self.records.get(id) else {
            return Err(match self.view(id) {
                Some(view) if view.status == ChannelStatus::Open => {
                    PaymentError::Unconfirmed { missing: confirmations.saturating_sub(view.confirmations).max(1) }
                }
                Some(view) if view.status == ChannelStatus::Closing => PaymentError::Closing,
                Some(_) => PaymentError::Settled,
                None => PaymentError::UnknownChannel { sender: id.sender, open_block: id.open_block },
            });
        };
        match record.status {
            ChannelStatus::Settled => Err(PaymentError::Settled),
            ChannelStatus::Closing => Err(PaymentError::Closing),
            ChannelStatus::Open if self.pending_closed.contains(id) => Err(PaymentError::Closing),
            ChannelStatus::Open => Ok(record),
        }
    }
}

/// What a pending event changes in a view.
fn apply_pending(view: &mut ChannelView, update: &ChainUpdate) {
    match *update {
        ChainUpdate::Opened { .. } => {}
        ChainUpdate::ToppedUp { deposit, .. } => view.unconfirmed_deposit = deposit,
        ChainUpdate::CloseRequested { balance, settle_block, .. } => {
            if view.status != ChannelStatus::Settled {
                view.status = ChannelStatus::Closing;
            }
            view.closing_balance = Some(balance);
            view.settle_block = Some(settle_block);
        }
        ChainUpdate::Settled { balance, .. } => {
            view.status = ChannelStatus::Settled;
            view.settled_balance = Some(balance);
        }
    }
}

/// Checks a payment of `price` that brings the channel from `previous` to `balance`, against
/// the confirmed `deposit`: the balance must be exactly `previous + price`, and within the
/// deposit. `last_signature` is the proof of `previous`, returned on a mismatch.
pub(crate) fn check_amount(
    record: &ChannelRecord,
    previous: U192,
    last_signature: Option<&alloy_primitives::Bytes>,
    balance: U192,
    price: U192,
) -> Result<(), PaymentError> {
    let mismatch = |expected| PaymentError::AmountMismatch {
        expected,
        last_balance: previous,
        last_signature: last_signature.cloned(),
    };
    let Some(expected) = previous.checked_add(price) else {
        return Err(PaymentError::InsufficientFunds { balance, deposit: record.deposit });
    };
    if balance != expected {
        return Err(mismatch(expected));
    }
    if balance > record.deposit {
        return Err(PaymentError::InsufficientFunds { balance, deposit: record.deposit });
    }
    Ok(())
}

/// What the receiver should do about a sender's close request, given its last proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseAction {
    /// Close now with the last proof: the request is below it (a dispute), or equal to it and
    /// the policy is to be paid at once.
    CloseNow,
    /// Let the sender settle after the challenge period.
    Wait,
}

/// The answer to a close request of `requested` when the receiver holds a proof of `ours`.
pub(crate) fn on_close_request(requested: U192, ours: U192, at_once: bool) -> CloseAction {
    if ours.is_zero() {
        return CloseAction::Wait;
    }
    if requested < ours || (requested == ours && at_once) { CloseAction::CloseNow } else { CloseAction::Wait }
}
