//! The manager's in-memory state: the durable records (a cache of the store), the events of
//! the unconfirmed blocks, and how a channel looks with them; whether a channel takes payments
//! now. Plain data and pure functions, so the property tests can hold them against a model.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use alloy_primitives::aliases::U192;

use super::{
    error::PaymentError,
    store::Cursor,
    types::{ChainEvent, ChannelRecord, ChannelStatus, ChannelView},
};
use crate::channel::{ChannelEvent, ChannelId};

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
            .filter(|e| matches!(e.change, ChannelEvent::CloseRequested { .. } | ChannelEvent::Settled { .. }))
            .map(|e| e.id)
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
                let deposit = self.pending.iter().find_map(|e| match e.change {
                    ChannelEvent::Opened { deposit } if e.id == *id => Some(deposit),
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
        for event in self.pending.iter().filter(|e| e.id == *id) {
            view.apply_pending(&event.change);
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
        ids.extend(self.pending.iter().filter_map(|e| match e.change {
            ChannelEvent::Opened { .. } if !self.records.contains_key(&e.id) => Some(e.id),
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
