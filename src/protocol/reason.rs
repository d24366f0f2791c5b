//! Why a payment was refused, as one enum with its names on the wire: x402's `error` (and the
//! JSON body's `error`), and the µRaiden flag header of the 402. The receiver's
//! `PaymentError::reason`, the paywall's answers and the paying client's reading of a refusal
//! all go through [`Reason`].

use super::{rdn, session};

/// Why a payment was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No open channel from this sender opened in this block is known.
    ChannelNotFound,
    /// The channel's opening is not confirmed yet.
    InsufficientConfirmations,
    /// The channel is closing or settled.
    ChannelClosing,
    /// The balance proof is not the sender's.
    InvalidSignature,
    /// The balance is not the last registered one plus the price.
    AmountMismatch,
    /// The balance is above the confirmed deposit.
    BalanceExceedsDeposit,
    /// The payment names another channel contract, chain, token or receiver.
    ContractMismatch,
    /// The receiver's node has been unreachable too long (answered 503, not 402).
    NodeUnreachable,
    /// The receiver cannot take payments now (answered 503, not 402).
    Unavailable,
    /// A session credential this receiver never issued (unreadable, or no such session).
    SessionUnknown,
    /// A session credential whose MAC is not the receiver's.
    SessionForged,
    /// A session credential past its expiry.
    SessionExpired,
    /// A session whose requests are all spent.
    SessionExhausted,
    /// A session credential for another receiver, contract, chain, channel, route or price.
    SessionMismatch,
}

/// The `error` of the 400 answering a payment header that cannot be read (also a metrics
/// label).
pub const MALFORMED_PAYMENT: &str = "malformed_payment";
/// The `error` of the JSON body of a 402 to a request that carried no payment.
pub const PAYMENT_REQUIRED: &str = "payment_required";

impl Reason {
    /// Every reason.
    pub const ALL: [Reason; 14] = [
        Reason::ChannelNotFound,
        Reason::InsufficientConfirmations,
        Reason::ChannelClosing,
        Reason::InvalidSignature,
        Reason::AmountMismatch,
        Reason::BalanceExceedsDeposit,
        Reason::ContractMismatch,
        Reason::NodeUnreachable,
        Reason::Unavailable,
        Reason::SessionUnknown,
        Reason::SessionForged,
        Reason::SessionExpired,
        Reason::SessionExhausted,
        Reason::SessionMismatch,
    ];

    /// The name on the wire: x402's `error`, the JSON body's `error`, metrics' `reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ChannelNotFound => "channel_not_found",
            Reason::InsufficientConfirmations => "insufficient_confirmations",
            Reason::ChannelClosing => "channel_closing",
            Reason::InvalidSignature => "invalid_signature",
            Reason::AmountMismatch => "amount_mismatch",
            Reason::BalanceExceedsDeposit => "balance_exceeds_deposit",
            Reason::ContractMismatch => "contract_mismatch",
            Reason::NodeUnreachable => "node_unreachable",
            Reason::Unavailable => "unavailable",
            Reason::SessionUnknown => "session_unknown",
            Reason::SessionForged => "session_forged",
            Reason::SessionExpired => "session_expired",
            Reason::SessionExhausted => "session_exhausted",
            Reason::SessionMismatch => "session_mismatch",
        }
    }

    /// The reason named `name`, as [`Reason::as_str`] writes it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The µRaiden flag header a 402 carries for it (none for the 503s). Several reasons share
    /// `RDN-Nonexisting-Channel`; the session reasons share `RDN-Invalid-Session`, whose value
    /// names the reason.
    pub fn rdn_flag(self) -> Option<&'static str> {
        match self {
            Reason::ChannelNotFound | Reason::ChannelClosing | Reason::ContractMismatch => {
                Some(rdn::NONEXISTING_CHANNEL)
            }
            Reason::InsufficientConfirmations => Some(rdn::INSUFFICIENT_CONFIRMATIONS),
            Reason::InvalidSignature => Some(rdn::INVALID_BALANCE_PROOF),
            Reason::AmountMismatch => Some(rdn::INVALID_AMOUNT),
            Reason::BalanceExceedsDeposit => Some(rdn::INSUFFICIENT_FUNDS),
            Reason::NodeUnreachable | Reason::Unavailable => None,
            Reason::SessionUnknown
            | Reason::SessionForged
            | Reason::SessionExpired
            | Reason::SessionExhausted
            | Reason::SessionMismatch => Some(session::INVALID_SESSION),
        }
    }

    /// The reason a µRaiden flag header names, as a client reads it
    /// (`RDN-Nonexisting-Channel`: [`Reason::ChannelNotFound`]; `RDN-Invalid-Session`: read its
    /// value with [`Reason::parse`], this says [`Reason::SessionUnknown`]).
    pub fn from_rdn_flag(flag: &str) -> Option<Self> {
        match flag {
            rdn::NONEXISTING_CHANNEL => Some(Reason::ChannelNotFound),
            rdn::INSUFFICIENT_CONFIRMATIONS => Some(Reason::InsufficientConfirmations),
            rdn::INVALID_BALANCE_PROOF => Some(Reason::InvalidSignature),
            rdn::INVALID_AMOUNT => Some(Reason::AmountMismatch),
            rdn::INSUFFICIENT_FUNDS => Some(Reason::BalanceExceedsDeposit),
            session::INVALID_SESSION => Some(Reason::SessionUnknown),
            _ => None,
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_flags_round_trip() {
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
            if let Some(flag) = reason.rdn_flag() {
                let read = Reason::from_rdn_flag(flag).unwrap();
                assert_eq!(read.rdn_flag(), Some(flag), "{reason}");
            }
        }
        let flags: Vec<_> = Reason::ALL.iter().filter_map(|r| r.rdn_flag()).collect();
        assert!(rdn::REFUSAL_FLAGS.iter().all(|f| flags.contains(f)), "every flag names a reason");
        assert!(flags.contains(&session::INVALID_SESSION));
    }
}
