//! What the contract's events make of a channel: the one event-to-state transition the
//! receiver's store, its pending views and the sender's client all use.

use alloy_primitives::aliases::U192;

use super::ChannelStatus;

/// One of the contract's four channel events, as a change to the channel it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelEvent {
    /// `ChannelCreated`: the channel exists with `deposit`.
    Opened {
        /// Its deposit.
        deposit: U192,
    },
    /// `ChannelToppedUp`: the deposit is now `deposit` (`added` more).
    ToppedUp {
        /// The amount added.
        added: U192,
        /// The deposit after it.
        deposit: U192,
    },
    /// `ChannelCloseRequested`: the sender asked to close with `balance`.
    CloseRequested {
        /// The balance the sender claims.
        balance: U192,
        /// The block after which the sender may settle (request block + challenge period).
        settle_block: u64,
    },
    /// `ChannelSettled`: the receiver was paid `balance` and the channel deleted.
    Settled {
        /// What the receiver got.
        balance: U192,
    },
}

/// What the chain says about a channel: the part of its state that only events change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelState {
    /// The deposit.
    pub deposit: U192,
    /// Open, closing or settled.
    pub status: ChannelStatus,
    /// The balance the sender asked to close with, once it asked.
    pub closing_balance: Option<U192>,
    /// The block after which the sender may settle, once a close was requested.
    pub settle_block: Option<u64>,
    /// What the settlement paid the receiver, once settled.
    pub settled_balance: Option<U192>,
}

impl ChannelState {
    /// A channel just opened with `deposit`.
    pub fn opened(deposit: U192) -> Self {
        Self { deposit, status: ChannelStatus::Open, closing_balance: None, settle_block: None, settled_balance: None }
    }

    /// The state after `event`. Every event fits every state: the contract emits them in an
    /// order that makes sense, and an opening seen again (the chain re-read after a deep reorg)
    /// gives a kept channel its deposit back. A close request never reopens a settled channel.
    pub fn after(self, event: &ChannelEvent) -> ChannelState {
        match *event {
            ChannelEvent::Opened { deposit } | ChannelEvent::ToppedUp { deposit, .. } => {
                ChannelState { deposit, ..self }
            }
            ChannelEvent::CloseRequested { balance, settle_block } => ChannelState {
                status: match self.status {
                    ChannelStatus::Settled => ChannelStatus::Settled,
                    _ => ChannelStatus::Closing,
                },
                closing_balance: Some(balance),
                settle_block: Some(settle_block),
                ..self
            },
            ChannelEvent::Settled { balance } => {
                ChannelState { status: ChannelStatus::Settled, settled_balance: Some(balance), ..self }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amount(n: u64) -> U192 {
        U192::from(n)
    }

    #[test]
    fn a_channel_goes_from_open_to_closing_to_settled() {
        let open = ChannelState::opened(amount(10));
        let topped = open.after(&ChannelEvent::ToppedUp { added: amount(5), deposit: amount(15) });
        assert_eq!(topped, ChannelState { deposit: amount(15), ..open });
        let closing = topped.after(&ChannelEvent::CloseRequested { balance: amount(3), settle_block: 99 });
        assert_eq!(closing.status, ChannelStatus::Closing);
        assert_eq!((closing.closing_balance, closing.settle_block), (Some(amount(3)), Some(99)));
        let settled = closing.after(&ChannelEvent::Settled { balance: amount(3) });
        assert_eq!((settled.status, settled.settled_balance), (ChannelStatus::Settled, Some(amount(3))));
        assert_eq!(settled.deposit, amount(15));
    }

    #[test]
    fn a_close_request_never_reopens_a_settled_channel() {
        let settled = ChannelState::opened(amount(1)).after(&ChannelEvent::Settled { balance: amount(1) });
        let after = settled.after(&ChannelEvent::CloseRequested { balance: amount(1), settle_block: 7 });
        assert_eq!(after.status, ChannelStatus::Settled);
    }

    #[test]
    fn an_opening_seen_again_sets_only_the_deposit() {
        let closing = ChannelState::opened(amount(0))
            .after(&ChannelEvent::CloseRequested { balance: amount(2), settle_block: 5 });
        let reopened = closing.after(&ChannelEvent::Opened { deposit: amount(9) });
        assert_eq!(reopened, ChannelState { deposit: amount(9), ..closing });
    }
}
