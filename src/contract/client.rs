//! Typed access to a deployed channel contract and its token, on any [`Chain`].

use alloy_primitives::{Address, Bytes, U256, aliases::U192};
use alloy_sol_types::{SolCall, SolConstructor};

use super::{
    Call,
    bindings::{ERC223Token, RaidenMicroTransferChannels as Channels},
    events::{Event, UndecodedLog, decode_logs},
    revert::Revert,
};
use crate::{
    chain::{Chain, ChainError, Outcome, Receipt},
    channel::{ChannelId, ChannelInfo},
    proof::ChannelDomain,
};

/// A mined, successful transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tx {
    /// The block it was mined in.
    pub block_number: u64,
    /// Gas used, as in the receipt.
    pub gas_used: u64,
    /// The token's and the channel contract's events, in order.
    pub events: Vec<Event>,
}

/// Why a transaction did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// It was mined and reverted.
    #[error("reverted: {revert}")]
    Reverted {
        /// The decoded reason.
        revert: Revert,
        /// Gas used by the reverted transaction.
        gas_used: u64,
    },
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A log did not decode.
    #[error(transparent)]
    Log(#[from] UndecodedLog),
}

impl TxError {
    /// The revert reason, if the transaction reverted.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            TxError::Reverted { revert, .. } => Some(revert),
            _ => None,
        }
    }
}

/// Why a read-only call did not return a value.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// It reverted.
    #[error("reverted: {0}")]
    Reverted(Revert),
    /// The chain failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The return data did not decode.
    #[error("return data does not decode: {0}")]
    Decode(#[from] alloy_sol_types::Error),
}

impl CallError {
    /// The revert reason, if the call reverted.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            CallError::Reverted(revert) => Some(revert),
            _ => None,
        }
    }
}

/// The channel contract and its token, as deployed on one chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contracts {
    /// The token.
    pub token: Address,
    /// The channel contract.
    pub channels: Address,
    /// The channel contract's EIP-712 domain.
    pub domain: ChannelDomain,
}

/// Gas used by the deployment transactions, and their blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeployGas {
    /// Deploying the token; `None` when an existing token was used.
    pub token: Option<u64>,
    /// Deploying the channel contract.
    pub channels: u64,
    /// The block the token was deployed in; `None` when an existing token was used.
    pub token_block: Option<u64>,
    /// The block the channel contract was deployed in.
    pub channels_block: u64,
}

impl Contracts {
    /// Deploys the bundled test token, crediting `initial_supply` to `deployer`, and a channel
    /// contract for it with `challenge_period` blocks.
    pub fn deploy(
        chain: &mut impl Chain,
        deployer: Address,
        initial_supply: U256,
        challenge_period: u32,
    ) -> Result<(Self, DeployGas), ChainError> {
        let init = init_code(&ERC223Token::BYTECODE, &ERC223Token::constructorCall { initialSupply: initial_supply });
        let token = chain.deploy(deployer, init)?;
        let (contracts, channels) = Self::deploy_for_token(chain, deployer, token.address, challenge_period)?;
        let gas = DeployGas {
            token: Some(token.receipt.gas_used),
            token_block: Some(token.receipt.block_number),
            ..channels
        };
        Ok((contracts, gas))
    }

    /// Deploys a channel contract for an existing `token`.
    pub fn deploy_for_token(
        chain: &mut impl Chain,
        deployer: Address,
        token: Address,
        challenge_period: u32,
    ) -> Result<(Self, DeployGas), ChainError> {
        let init = init_code(
            &Channels::BYTECODE,
            &Channels::constructorCall { _token: token, _challenge_period: challenge_period },
        );
        let deployment = chain.deploy(deployer, init)?;
        let domain = ChannelDomain::new(chain.chain_id(), deployment.address);
        let gas = DeployGas {
            token: None,
            channels: deployment.receipt.gas_used,
            token_block: None,
            channels_block: deployment.receipt.block_number,
        };
        Ok((Self { token, channels: deployment.address, domain }, gas))
    }

    /// Contracts already deployed at these addresses on `chain_id`.
    pub fn at(chain_id: u64, token: Address, channels: Address) -> Self {
        Self { token, channels, domain: ChannelDomain::new(chain_id, channels) }
    }

    /// Sends `call` to `to` from `from` and decodes the outcome.
    pub fn send<T: SolCall>(
        &self,
        chain: &mut impl Chain,
        from: Address,
        to: Address,
        call: &T,
    ) -> Result<Tx, TxError> {
        let receipt = chain.transact(from, to, call.abi_encode().into())?;
        self.decode_receipt(receipt)
    }

    fn decode_receipt(&self, receipt: Receipt) -> Result<Tx, TxError> {
        if let Some(revert) = Revert::from_outcome(&receipt.outcome) {
            return Err(TxError::Reverted { revert, gas_used: receipt.gas_used });
        }
        let events = decode_logs(&receipt.logs, self.token, self.channels)?;
        Ok(Tx { block_number: receipt.block_number, gas_used: receipt.gas_used, events })
    }

    /// Calls `call` on `to` read-only and decodes the return value.
    pub fn view<T: SolCall>(&self, chain: &mut impl Chain, to: Address, call: &T) -> Result<T::Return, CallError> {
        match chain.call(Address::ZERO, to, call.abi_encode().into())? {
            Outcome::Success(data) => Ok(T::abi_decode_returns(&data)?),
            outcome => Err(CallError::Reverted(Revert::from_outcome(&outcome).expect("not a success"))),
        }
    }

    /// Sends one of the token's or the channel contract's transactions from `from`.
    pub fn execute(&self, chain: &mut impl Chain, from: Address, call: Call) -> Result<Tx, TxError> {
        let (to, data) = call.encode(self.token, self.channels);
        let receipt = chain.transact(from, to, data)?;
        self.decode_receipt(receipt)
    }

    // ----- token -----

    /// ERC20 `approve(spender, amount)` by `owner`.
    pub fn approve(
        &self,
        chain: &mut impl Chain,
        owner: Address,
        spender: Address,
        amount: U256,
    ) -> Result<Tx, TxError> {
        self.execute(chain, owner, Call::Approve { spender, amount })
    }

    /// ERC20 `transfer(to, amount)` by `from`.
    pub fn transfer(&self, chain: &mut impl Chain, from: Address, to: Address, amount: U256) -> Result<Tx, TxError> {
        self.execute(chain, from, Call::Transfer { to, amount })
    }

    /// ERC223 `transfer(to, amount, data)` by `from`.
    pub fn transfer_with_data(
        &self,
        chain: &mut impl Chain,
        from: Address,
        to: Address,
        amount: U256,
        data: Bytes,
    ) -> Result<Tx, TxError> {
        self.execute(chain, from, Call::TransferWithData { to, amount, data })
    }

    /// The token balance of `owner`.
    pub fn balance_of(&self, chain: &mut impl Chain, owner: Address) -> Result<U256, CallError> {
        self.view(chain, self.token, &ERC223Token::balanceOfCall { account: owner })
    }

    /// The token's total supply.
    pub fn total_supply(&self, chain: &mut impl Chain) -> Result<U256, CallError> {
        self.view(chain, self.token, &ERC223Token::totalSupplyCall {})
    }

    /// What `spender` may still take from `owner`.
    pub fn allowance(&self, chain: &mut impl Chain, owner: Address, spender: Address) -> Result<U256, CallError> {
        self.view(chain, self.token, &ERC223Token::allowanceCall { owner, spender })
    }

    // ----- opening and topping up -----

    /// `createChannelERC20(receiver, deposit)` by `sender` (approve first). The channel opens
    /// in the transaction's block: `Tx::block_number`.
    pub fn open_erc20(
        &self,
        chain: &mut impl Chain,
        sender: Address,
        receiver: Address,
        deposit: U192,
    ) -> Result<Tx, TxError> {
        self.execute(chain, sender, Call::CreateChannelErc20 { receiver, deposit })
    }

    /// Opens a channel by ERC223: `transfer(channels, deposit, receiver)` on the token.
    pub fn open_erc223(
        &self,
        chain: &mut impl Chain,
        sender: Address,
        receiver: Address,
        deposit: U256,
    ) -> Result<Tx, TxError> {
        self.transfer_with_data(chain, sender, self.channels, deposit, open_data(receiver))
    }

    /// `topUpERC20(receiver, open_block, added)` by the channel's sender (approve first).
    pub fn top_up_erc20(&self, chain: &mut impl Chain, channel: &ChannelId, added: U192) -> Result<Tx, TxError> {
        let call = Call::TopUpErc20 { receiver: channel.receiver, open_block: channel.open_block, added };
        self.execute(chain, channel.sender, call)
    }

    /// Tops up by ERC223: `transfer(channels, added, receiver ‖ open_block)` on the token.
    pub fn top_up_erc223(&self, chain: &mut impl Chain, channel: &ChannelId, added: U256) -> Result<Tx, TxError> {
        self.transfer_with_data(
            chain,
            channel.sender,
            self.channels,
            added,
            top_up_data(channel.receiver, channel.open_block),
        )
    }

    /// Calls `tokenFallback` directly (only the token may; anyone else is refused).
    pub fn token_fallback(
        &self,
        chain: &mut impl Chain,
        caller: Address,
        sender: Address,
        deposit: U256,
        data: Bytes,
    ) -> Result<Tx, TxError> {
        self.execute(chain, caller, Call::TokenFallback { sender, deposit, data })
    }

    // ----- closing and settling -----

    /// `close(receiver, open_block, balance, balance_sig)` by `caller`: the receiver settles at
    /// once, the sender starts the challenge period.
    pub fn close(
        &self,
        chain: &mut impl Chain,
        caller: Address,
        receiver: Address,
        open_block: u32,
        balance: U192,
        balance_sig: Bytes,
    ) -> Result<Tx, TxError> {
        self.execute(chain, caller, Call::Close { receiver, open_block, balance, balance_sig })
    }

    /// Cooperative `close(receiver, open_block, balance, balance_sig, closing_sig)` by anyone.
    #[allow(clippy::too_many_arguments)]
    pub fn cooperative_close(
        &self,
        chain: &mut impl Chain,
        caller: Address,
        receiver: Address,
        open_block: u32,
        balance: U192,
        balance_sig: Bytes,
        closing_sig: Bytes,
    ) -> Result<Tx, TxError> {
        self.execute(chain, caller, Call::CooperativeClose { receiver, open_block, balance, balance_sig, closing_sig })
    }

    /// `settle(receiver, open_block)` by `caller` (the sender, after the challenge period).
    pub fn settle(
        &self,
        chain: &mut impl Chain,
        caller: Address,
        receiver: Address,
        open_block: u32,
    ) -> Result<Tx, TxError> {
        self.execute(chain, caller, Call::Settle { receiver, open_block })
    }

    // ----- views -----

    /// `getChannelInfo(sender, receiver, open_block)`.
    pub fn channel_info(&self, chain: &mut impl Chain, channel: &ChannelId) -> Result<ChannelInfo, CallError> {
        let call = Channels::getChannelInfoCall {
            _sender: channel.sender,
            _receiver: channel.receiver,
            _open_block_number: channel.open_block,
        };
        let info = self.view(chain, self.channels, &call)?;
        Ok(ChannelInfo { key: info._0, deposit: info._1, settle_block: info._2, closing_balance: info._3 })
    }

    /// `verifyBalanceProof(receiver, open_block, balance, sig)`: the sender who signed it.
    pub fn verify_balance_proof(
        &self,
        chain: &mut impl Chain,
        receiver: Address,
        open_block: u32,
        balance: U192,
        sig: Bytes,
    ) -> Result<Address, CallError> {
        let call = Channels::verifyBalanceProofCall {
            _receiver: receiver,
            _open_block_number: open_block,
            _balance: balance,
            _balance_msg_sig: sig,
        };
        self.view(chain, self.channels, &call)
    }

    /// `verifyClosingSignature(balance_sig, closing_sig)`: the receiver who signed it.
    pub fn verify_closing_signature(
        &self,
        chain: &mut impl Chain,
        balance_sig: Bytes,
        closing_sig: Bytes,
    ) -> Result<Address, CallError> {
        let call = Channels::verifyClosingSignatureCall { _balance_msg_sig: balance_sig, _closing_sig: closing_sig };
        self.view(chain, self.channels, &call)
    }

    /// `balanceMessageHash(receiver, open_block, balance)`.
    pub fn balance_message_hash(
        &self,
        chain: &mut impl Chain,
        receiver: Address,
        open_block: u32,
        balance: U192,
    ) -> Result<alloy_primitives::B256, CallError> {
        let call =
            Channels::balanceMessageHashCall { _receiver: receiver, _open_block_number: open_block, _balance: balance };
        self.view(chain, self.channels, &call)
    }

    /// `closingAgreementMessageHash(balance_sig)`.
    pub fn closing_agreement_message_hash(
        &self,
        chain: &mut impl Chain,
        balance_sig: Bytes,
    ) -> Result<alloy_primitives::B256, CallError> {
        self.view(chain, self.channels, &Channels::closingAgreementMessageHashCall { _balance_msg_sig: balance_sig })
    }

    /// `getKey(sender, receiver, open_block)`.
    pub fn key(&self, chain: &mut impl Chain, channel: &ChannelId) -> Result<alloy_primitives::B256, CallError> {
        let call = Channels::getKeyCall {
            _sender: channel.sender,
            _receiver: channel.receiver,
            _open_block_number: channel.open_block,
        };
        self.view(chain, self.channels, &call)
    }

    /// `challenge_period()`.
    pub fn challenge_period(&self, chain: &mut impl Chain) -> Result<u32, CallError> {
        self.view(chain, self.channels, &Channels::challenge_periodCall {})
    }
}

/// Creation code followed by the ABI-encoded constructor arguments: what `Chain::deploy` takes.
pub fn init_code<T: SolConstructor>(bytecode: &[u8], constructor: &T) -> Bytes {
    [bytecode, &constructor.abi_encode()].concat().into()
}

/// ERC223 data that opens a channel to `receiver`: its 20 bytes.
pub fn open_data(receiver: Address) -> Bytes {
    Bytes::copy_from_slice(receiver.as_slice())
}

/// ERC223 data that tops up the channel (sender, `receiver`, `open_block`): 24 bytes.
pub fn top_up_data(receiver: Address, open_block: u32) -> Bytes {
    [receiver.as_slice(), &open_block.to_be_bytes()].concat().into()
}
