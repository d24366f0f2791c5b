//! What must hold after every step, in the model (and, through the conformance suite, in the
//! EVM).

use alloy_primitives::U256;

use super::Model;

/// A broken invariant, named.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvariantViolation {
    /// The contract's token balance differs from the sum of its open channels' deposits.
    #[error("the contract holds {held} tokens but its open channels' deposits sum to {deposits}")]
    EscrowMismatch {
        /// The contract's balance.
        held: U256,
        /// The sum of deposits.
        deposits: U256,
    },
    /// The balances do not add up to the total supply.
    #[error("balances sum to {sum}, total supply is {supply}")]
    SupplyMismatch {
        /// Sum of all balances.
        sum: U256,
        /// The total supply.
        supply: U256,
    },
    /// A channel has a zero deposit, a closing balance above its deposit, or a key that is not
    /// its id's.
    #[error("channel {0} is malformed: {1}")]
    MalformedChannel(crate::channel::ChannelId, &'static str),
}

/// Checks the model's invariants:
/// - the contract's token balance equals the sum of the deposits of its open channels;
/// - the balances add up to the total supply;
/// - every open channel has a positive deposit, is stored under its own key, and a closing
///   balance of at most its deposit.
pub fn check_invariants(model: &Model) -> Result<(), InvariantViolation> {
    let mut deposits = U256::ZERO;
    for (key, channel) in &model.channels {
        let id = channel.id;
        if *key != id.key() {
            return Err(InvariantViolation::MalformedChannel(id, "stored under another key"));
        }
        if channel.deposit.is_zero() {
            return Err(InvariantViolation::MalformedChannel(id, "zero deposit"));
        }
        if channel.close_request.is_some_and(|request| request.balance > channel.deposit) {
            return Err(InvariantViolation::MalformedChannel(id, "closing balance above deposit"));
        }
        deposits += U256::from(channel.deposit);
    }
    let held = model.balance_of(model.config.channels);
    if held != deposits {
        return Err(InvariantViolation::EscrowMismatch { held, deposits });
    }
    let sum = model.token.balances.values().fold(U256::ZERO, |sum, balance| sum + balance);
    if sum != model.token.total_supply {
        return Err(InvariantViolation::SupplyMismatch { sum, supply: model.token.total_supply });
    }
    Ok(())
}
