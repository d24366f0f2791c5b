//! The transactions the model executes and what they return.

use alloy_primitives::{Address, Bytes, U256, aliases::U192};

use crate::contract::{Event, Revert};

/// A transaction: a call of one of the token's or the channel contract's external functions.
/// The caller (`msg.sender`) is given separately, to [`Model::execute`](super::Model::execute).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// Token: `approve(spender, amount)`.
    Approve {
        /// Who may spend.
        spender: Address,
        /// How much.
        amount: U256,
    },
    /// Token: ERC20 `transfer(to, amount)`.
    Transfer {
        /// Recipient.
        to: Address,
        /// Amount.
        amount: U256,
    },
    /// Token: ERC223 `transfer(to, amount, data)`; calls `tokenFallback` on the channel contract.
    TransferWithData {
        /// Recipient.
        to: Address,
        /// Amount.
        amount: U256,
        /// Payload for the recipient's `tokenFallback`.
        data: Bytes,
    },
    /// Channels: `createChannelERC20(receiver, deposit)`.
    CreateChannelErc20 {
        /// The channel's receiver.
        receiver: Address,
        /// Tokens to escrow (approved beforehand).
        deposit: U192,
    },
    /// Channels: `topUpERC20(receiver, open_block, added)`.
    TopUpErc20 {
        /// The channel's receiver.
        receiver: Address,
        /// The channel's open block.
        open_block: u32,
        /// Tokens to add (approved beforehand).
        added: U192,
    },
    /// Channels: `tokenFallback(sender, deposit, data)` called directly (only the token may).
    TokenFallback {
        /// Claimed origin of the tokens.
        sender: Address,
        /// Claimed amount.
        deposit: U256,
        /// Open or top-up data.
        data: Bytes,
    },
    /// Channels: `close(receiver, open_block, balance, balance_sig)`.
    Close {
        /// The channel's receiver.
        receiver: Address,
        /// The channel's open block.
        open_block: u32,
        /// The balance to close with.
        balance: U192,
        /// The sender's balance proof.
        balance_sig: Bytes,
    },
    /// Channels: `close(receiver, open_block, balance, balance_sig, closing_sig)`.
    CooperativeClose {
        /// The channel's receiver.
        receiver: Address,
        /// The channel's open block.
        open_block: u32,
        /// The balance to close with.
        balance: U192,
        /// The sender's balance proof.
        balance_sig: Bytes,
        /// The receiver's closing agreement over `balance_sig`.
        closing_sig: Bytes,
    },
    /// Channels: `settle(receiver, open_block)`.
    Settle {
        /// The channel's receiver.
        receiver: Address,
        /// The channel's open block.
        open_block: u32,
    },
}

/// The result of a transaction: the events emitted, in order, or the revert.
pub type TxResult = Result<Vec<Event>, Revert>;
