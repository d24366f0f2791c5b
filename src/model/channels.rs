//! The channel contract, one function per external function, each in the contract's order of
//! checks. Storage is [`Model::channels`]: one entry per open channel, removed at settlement.

use alloy_primitives::{Address, B256, Bytes, U256, aliases::U192};

use super::{
    Channel, CloseRequest, Model,
    types::{Call, TxResult},
};
use crate::{
    channel::{ChannelId, ChannelInfo},
    contract::{ChannelsError, ChannelsEvent, Event, Revert, bindings::RaidenMicroTransferChannels as C},
    proof,
};

/// A checked `tokenFallback`: what it will do once applied.
#[derive(Clone, Copy, Debug)]
pub(super) enum Fallback {
    Open { id: ChannelId, deposit: U192 },
    TopUp { key: B256, added: U192 },
}

impl Model {
    /// Executes one transaction from `caller` in a new block (`block_number + 1`), or in the
    /// block being built ([`Model::begin_block`]). A reverted transaction is mined too, and
    /// changes nothing else.
    pub fn execute(&mut self, caller: Address, call: Call) -> TxResult {
        if !self.building_block {
            self.block_number += 1;
        }
        match call {
            Call::Approve { spender, amount } => self.approve(caller, spender, amount),
            Call::Transfer { to, amount } => self.transfer(caller, to, amount),
            Call::TransferWithData { to, amount, data } => self.transfer_with_data(caller, to, amount, &data),
            Call::CreateChannelErc20 { receiver, deposit } => self.create_channel_erc20(caller, receiver, deposit),
            Call::TopUpErc20 { receiver, open_block, added } => self.top_up_erc20(caller, receiver, open_block, added),
            Call::TokenFallback { sender, deposit, data } => {
                let fallback = self.check_token_fallback(caller, sender, deposit, &data)?;
                Ok(vec![self.apply_token_fallback(fallback)])
            }
            Call::Close { receiver, open_block, balance, balance_sig } => {
                self.close(caller, receiver, open_block, balance, &balance_sig)
            }
            Call::CooperativeClose { receiver, open_block, balance, balance_sig, closing_sig } => {
                self.cooperative_close(receiver, open_block, balance, &balance_sig, &closing_sig)
            }
            Call::Settle { receiver, open_block } => self.settle(caller, receiver, open_block),
        }
    }

    /// Mines `blocks` empty blocks.
    ///
    /// # Panics
    /// While a block is being built.
    pub fn mine(&mut self, blocks: u64) {
        assert!(!self.building_block, "mine while a block is being built");
        self.block_number += blocks;
    }

    /// Makes `number` the latest block, as if the blocks in between had been mined empty.
    ///
    /// # Panics
    /// If `number` is below the latest block, or while a block is being built.
    pub fn jump_to(&mut self, number: u64) {
        assert!(number >= self.block_number, "jump from block {} back to {number}", self.block_number);
        self.mine(number - self.block_number);
    }

    /// Starts a new block (`block_number + 1`) that every transaction goes into until
    /// [`Model::end_block`]: several transactions in one block, as a miner packs them. Returns
    /// its number.
    ///
    /// # Panics
    /// If a block is already being built.
    pub fn begin_block(&mut self) -> u64 {
        assert!(!self.building_block, "a block is already being built");
        self.block_number += 1;
        self.building_block = true;
        self.block_number
    }

    /// Ends the block started by [`Model::begin_block`].
    ///
    /// # Panics
    /// If no block is being built.
    pub fn end_block(&mut self) {
        assert!(self.building_block, "no block is being built");
        self.building_block = false;
    }

    // ----- views -----

    /// `getChannelInfo(sender, receiver, open_block)`.
    pub fn channel_info(&self, id: &ChannelId) -> Result<ChannelInfo, Revert> {
        let key = id.key();
        let channel = self.existing_channel(key)?;
        let (settle_block, closing_balance) =
            channel.close_request.map_or((0, U192::ZERO), |request| (request.settle_block, request.balance));
        Ok(ChannelInfo { key, deposit: channel.deposit, settle_block, closing_balance })
    }

    /// `verifyBalanceProof(receiver, open_block, balance, sig)`: the sender who signed it.
    pub fn verify_balance_proof(
        &self,
        receiver: Address,
        open_block: u32,
        balance: U192,
        balance_sig: &[u8],
    ) -> Result<Address, Revert> {
        let digest = self.domain.balance_digest(receiver, open_block, balance);
        proof::recover(digest, balance_sig).map_err(|e| Revert::Channels(e.into()))
    }

    /// `verifyClosingSignature(balance_sig, closing_sig)`: the receiver who signed it.
    pub fn verify_closing_signature(&self, balance_sig: &[u8], closing_sig: &[u8]) -> Result<Address, Revert> {
        let digest = self.domain.closing_digest(balance_sig);
        proof::recover(digest, closing_sig).map_err(|e| Revert::Channels(e.into()))
    }

    // ----- opening and topping up -----

    /// `createChannelERC20(receiver, deposit)`: records the channel, then pulls the deposit.
    fn create_channel_erc20(&mut self, sender: Address, receiver: Address, deposit: U192) -> TxResult {
        let id = self.check_create(sender, receiver, deposit)?;
        let (channels, amount) = (self.config.channels, U256::from(deposit));
        self.check_spend_allowance(sender, channels, amount)?;
        self.check_transfer(sender, channels, amount)?;
        let created = self.apply_create(id, deposit);
        self.apply_spend_allowance(sender, channels, amount);
        Ok(vec![created, self.apply_transfer(sender, channels, amount)])
    }

    /// `topUpERC20(receiver, open_block, added)`: records the top-up, then pulls the tokens.
    fn top_up_erc20(&mut self, sender: Address, receiver: Address, open_block: u32, added: U192) -> TxResult {
        let key = self.check_top_up(ChannelId { sender, receiver, open_block }, added)?;
        let (channels, amount) = (self.config.channels, U256::from(added));
        self.check_spend_allowance(sender, channels, amount)?;
        self.check_transfer(sender, channels, amount)?;
        let topped_up = self.apply_top_up(key, added);
        self.apply_spend_allowance(sender, channels, amount);
        Ok(vec![topped_up, self.apply_transfer(sender, channels, amount)])
    }

    /// `tokenFallback(sender, deposit, data)` called by `caller`: only the token may call it; 20
    /// bytes of data open a channel, 24 bytes (receiver, open block) top one up.
    pub(super) fn check_token_fallback(
        &self,
        caller: Address,
        sender: Address,
        deposit: U256,
        data: &Bytes,
    ) -> Result<Fallback, Revert> {
        if caller != self.config.token {
            return Err(ChannelsError::CallerNotToken(C::CallerNotToken { caller }).into());
        }
        if deposit > U256::from(U192::MAX) {
            return Err(ChannelsError::DepositTooLarge(C::DepositTooLarge { deposit }).into());
        }
        let deposit: U192 = deposit.to();
        match data.len() {
            20 => {
                let receiver = Address::from_slice(data);
                Ok(Fallback::Open { id: self.check_create(sender, receiver, deposit)?, deposit })
            }
            24 => {
                let receiver = Address::from_slice(&data[..20]);
                let open_block = u32::from_be_bytes(data[20..].try_into().expect("4 bytes"));
                let key = self.check_top_up(ChannelId { sender, receiver, open_block }, deposit)?;
                Ok(Fallback::TopUp { key, added: deposit })
            }
            length => {
                Err(ChannelsError::InvalidTokenFallbackData(C::InvalidTokenFallbackData { length: U256::from(length) })
                    .into())
            }
        }
    }

    pub(super) fn apply_token_fallback(&mut self, fallback: Fallback) -> Event {
        match fallback {
            Fallback::Open { id, deposit } => self.apply_create(id, deposit),
            Fallback::TopUp { key, added } => self.apply_top_up(key, added),
        }
    }

    /// `_createChannel` checks: a receiver, a deposit, an open block that fits uint32, a free key.
    fn check_create(&self, sender: Address, receiver: Address, deposit: U192) -> Result<ChannelId, Revert> {
        if receiver.is_zero() {
            return Err(ChannelsError::InvalidReceiver(C::InvalidReceiver {}).into());
        }
        if deposit.is_zero() {
            return Err(ChannelsError::ZeroDeposit(C::ZeroDeposit {}).into());
        }
        let Ok(open_block) = u32::try_from(self.block_number) else {
            let block_number = U256::from(self.block_number);
            return Err(ChannelsError::BlockNumberTooLarge(C::BlockNumberTooLarge { blockNumber: block_number }).into());
        };
        let id = ChannelId { sender, receiver, open_block };
        let key = id.key();
        if self.channels.contains_key(&key) {
            return Err(ChannelsError::ChannelExists(C::ChannelExists { key }).into());
        }
        Ok(id)
    }

    fn apply_create(&mut self, id: ChannelId, deposit: U192) -> Event {
        self.channels.insert(id.key(), Channel { id, deposit, close_request: None });
        channels_event(ChannelsEvent::ChannelCreated(C::ChannelCreated {
            _sender: id.sender,
            _receiver: id.receiver,
            _deposit: deposit,
        }))
    }

    /// `_topUp` checks: a positive amount, an open channel without a close request, no overflow.
    fn check_top_up(&self, id: ChannelId, added: U192) -> Result<B256, Revert> {
        if added.is_zero() {
            return Err(ChannelsError::ZeroDeposit(C::ZeroDeposit {}).into());
        }
        let key = id.key();
        let channel = self.existing_channel(key)?;
        if channel.close_request.is_some() {
            return Err(ChannelsError::CloseAlreadyRequested(C::CloseAlreadyRequested { key }).into());
        }
        if channel.deposit.checked_add(added).is_none() {
            let error = C::DepositOverflow { deposit: channel.deposit, addedDeposit: added };
            return Err(ChannelsError::DepositOverflow(error).into());
        }
        Ok(key)
    }

    fn apply_top_up(&mut self, key: B256, added: U192) -> Event {
        let channel = self.channels.get_mut(&key).expect("top-up checked before it is applied");
        channel.deposit += added;
        channels_event(ChannelsEvent::ChannelToppedUp(C::ChannelToppedUp {
            _sender: channel.id.sender,
            _receiver: channel.id.receiver,
            _open_block_number: channel.id.open_block,
            _added_deposit: added,
            _deposit: channel.deposit,
        }))
    }

    // ----- closing and settling -----

    /// `close(receiver, open_block, balance, balance_sig)`: the sender is whoever signed the
    /// proof. The receiver settles at once; the sender starts the challenge period; anyone else
    /// is refused.
    fn close(
        &mut self,
        caller: Address,
        receiver: Address,
        open_block: u32,
        balance: U192,
        balance_sig: &[u8],
    ) -> TxResult {
        let sender = self.verify_balance_proof(receiver, open_block, balance, balance_sig)?;
        let id = ChannelId { sender, receiver, open_block };
        let channel = self.closable_channel(&id, balance)?;
        if caller == receiver {
            Ok(self.settle_channel(channel, balance))
        } else if caller == sender {
            self.request_close(channel, balance)
        } else {
            Err(ChannelsError::CallerNotSenderOrReceiver(C::CallerNotSenderOrReceiver { caller }).into())
        }
    }

    /// `close(receiver, open_block, balance, balance_sig, closing_sig)`: anyone may submit the
    /// sender's proof with the receiver's agreement; it settles at once.
    fn cooperative_close(
        &mut self,
        receiver: Address,
        open_block: u32,
        balance: U192,
        balance_sig: &[u8],
        closing_sig: &[u8],
    ) -> TxResult {
        let sender = self.verify_balance_proof(receiver, open_block, balance, balance_sig)?;
        let signer = self.verify_closing_signature(balance_sig, closing_sig)?;
        if signer != receiver {
            return Err(
                ChannelsError::ClosingSignerNotReceiver(C::ClosingSignerNotReceiver { signer, receiver }).into()
            );
        }
        let channel = self.closable_channel(&ChannelId { sender, receiver, open_block }, balance)?;
        Ok(self.settle_channel(channel, balance))
    }

    /// `settle(receiver, open_block)` by the sender, after the challenge period of its request.
    fn settle(&mut self, sender: Address, receiver: Address, open_block: u32) -> TxResult {
        let key = ChannelId { sender, receiver, open_block }.key();
        let channel = *self.existing_channel(key)?;
        let Some(request) = channel.close_request else {
            return Err(ChannelsError::CloseNotRequested(C::CloseNotRequested { key }).into());
        };
        if self.block_number <= u64::from(request.settle_block) {
            let error = C::ChallengePeriodNotOver { settleBlockNumber: request.settle_block };
            return Err(ChannelsError::ChallengePeriodNotOver(error).into());
        }
        Ok(self.settle_channel(channel, request.balance))
    }

    /// The channel `id`, if it exists and `balance` is within its deposit.
    fn closable_channel(&self, id: &ChannelId, balance: U192) -> Result<Channel, Revert> {
        let channel = *self.existing_channel(id.key())?;
        if balance > channel.deposit {
            let error = C::BalanceExceedsDeposit { balance, deposit: channel.deposit };
            return Err(ChannelsError::BalanceExceedsDeposit(error).into());
        }
        Ok(channel)
    }

    /// `_requestClose`: once per channel; the settle block must fit uint32.
    fn request_close(&mut self, channel: Channel, balance: U192) -> TxResult {
        let key = channel.id.key();
        if channel.close_request.is_some() {
            return Err(ChannelsError::CloseAlreadyRequested(C::CloseAlreadyRequested { key }).into());
        }
        let settle_block = self.block_number + u64::from(self.config.challenge_period);
        let Ok(settle_block) = u32::try_from(settle_block) else {
            let error = C::SettleBlockTooLarge { settleBlockNumber: U256::from(settle_block) };
            return Err(ChannelsError::SettleBlockTooLarge(error).into());
        };
        let stored = self.channels.get_mut(&key).expect("checked to exist");
        stored.close_request = Some(CloseRequest { settle_block, balance });
        Ok(vec![channels_event(ChannelsEvent::ChannelCloseRequested(C::ChannelCloseRequested {
            _sender: channel.id.sender,
            _receiver: channel.id.receiver,
            _open_block_number: channel.id.open_block,
            _balance: balance,
        }))])
    }

    /// `_settle`: removes the channel, then pays `balance` to the receiver and the rest of the
    /// deposit to the sender, skipping zero transfers. It cannot fail: the contract holds at
    /// least every open channel's deposit (see [`super::check_invariants`]).
    fn settle_channel(&mut self, channel: Channel, balance: U192) -> Vec<Event> {
        let id = channel.id;
        self.channels.remove(&id.key());
        let mut events = vec![channels_event(ChannelsEvent::ChannelSettled(C::ChannelSettled {
            _sender: id.sender,
            _receiver: id.receiver,
            _open_block_number: id.open_block,
            _balance: balance,
        }))];
        let refund = channel.deposit - balance;
        for (to, amount) in [(id.receiver, balance), (id.sender, refund)] {
            if !amount.is_zero() {
                events.push(self.apply_transfer(self.config.channels, to, U256::from(amount)));
            }
        }
        events
    }

    /// The open channel under `key`, or `ChannelNotFound`.
    fn existing_channel(&self, key: B256) -> Result<&Channel, Revert> {
        self.channels.get(&key).ok_or_else(|| ChannelsError::ChannelNotFound(C::ChannelNotFound { key }).into())
    }
}

fn channels_event(event: ChannelsEvent) -> Event {
    Event::Channels(event)
}
