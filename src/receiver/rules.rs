//! The receiver's rules: when a payment's amount is accepted, and what a close request calls
//! for. Pure functions over plain data, so the property tests can hold them against a model.

use alloy_primitives::aliases::U192;

use super::{error::PaymentError, types::ChannelRecord};

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
