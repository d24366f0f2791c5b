//! The transactions of the token and the channel contract, as one enum: what the model
//! executes and what the client encodes and sends.

use alloy_primitives::{Address, Bytes, U256, aliases::U192};

/// A transaction: a call of one of the token's or the channel contract's external functions.
/// The caller (`msg.sender`) is given separately.
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

impl Call {
    /// The contract this call goes to (the token or the channel contract) and its ABI-encoded
    /// calldata.
    pub fn encode(&self, token: Address, channels: Address) -> (Address, Bytes) {
        use alloy_sol_types::SolCall;

        use super::bindings::{ERC223Token as T, RaidenMicroTransferChannels as C};
        match self.clone() {
            Call::Approve { spender, amount } => (token, T::approveCall { spender, value: amount }.abi_encode().into()),
            Call::Transfer { to, amount } => (token, T::transfer_0Call { to, value: amount }.abi_encode().into()),
            Call::TransferWithData { to, amount, data } => {
                (token, T::transfer_1Call { to, value: amount, data }.abi_encode().into())
            }
            Call::CreateChannelErc20 { receiver, deposit } => {
                (channels, C::createChannelERC20Call { _receiver: receiver, _deposit: deposit }.abi_encode().into())
            }
            Call::TopUpErc20 { receiver, open_block, added } => {
                let call =
                    C::topUpERC20Call { _receiver: receiver, _open_block_number: open_block, _added_deposit: added };
                (channels, call.abi_encode().into())
            }
            Call::TokenFallback { sender, deposit, data } => {
                (channels, C::tokenFallbackCall { _sender: sender, _deposit: deposit, _data: data }.abi_encode().into())
            }
            Call::Close { receiver, open_block, balance, balance_sig } => {
                let call = C::close_1Call {
                    _receiver: receiver,
                    _open_block_number: open_block,
                    _balance: balance,
                    _balance_msg_sig: balance_sig,
                };
                (channels, call.abi_encode().into())
            }
            Call::CooperativeClose { receiver, open_block, balance, balance_sig, closing_sig } => {
                let call = C::close_0Call {
                    _receiver: receiver,
                    _open_block_number: open_block,
                    _balance: balance,
                    _balance_msg_sig: balance_sig,
                    _closing_sig: closing_sig,
                };
                (channels, call.abi_encode().into())
            }
            Call::Settle { receiver, open_block } => {
                (channels, C::settleCall { _receiver: receiver, _open_block_number: open_block }.abi_encode().into())
            }
        }
    }
}
