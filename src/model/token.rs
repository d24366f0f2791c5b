//! The token: OpenZeppelin's ERC20 (with its ERC-6093 errors) plus ERC223's
//! `transfer(to, value, data)`, which calls `tokenFallback` on the channel contract.
//!
//! Checks (`check_*`, taking `&self`) and effects (`apply_*`) are separate so that a transaction
//! can check everything before it changes anything.

use alloy_primitives::{Address, Bytes, U256};

use super::{Model, types::TxResult};
use crate::contract::{Event, Revert, TokenError, TokenEvent, bindings::ERC223Token as T};

impl Model {
    /// `balanceOf(owner)`.
    pub fn balance_of(&self, owner: Address) -> U256 {
        self.token.balances.get(&owner).copied().unwrap_or_default()
    }

    /// `allowance(owner, spender)`.
    pub fn allowance(&self, owner: Address, spender: Address) -> U256 {
        self.token.allowances.get(&(owner, spender)).copied().unwrap_or_default()
    }

    /// `approve(spender, amount)` by `owner`.
    pub(super) fn approve(&mut self, owner: Address, spender: Address, amount: U256) -> TxResult {
        if owner.is_zero() {
            return Err(TokenError::ERC20InvalidApprover(T::ERC20InvalidApprover { approver: owner }).into());
        }
        if spender.is_zero() {
            return Err(TokenError::ERC20InvalidSpender(T::ERC20InvalidSpender { spender }).into());
        }
        self.token.allowances.insert((owner, spender), amount);
        Ok(vec![Event::Token(TokenEvent::Approval(T::Approval { owner, spender, value: amount }))])
    }

    /// ERC20 `transfer(to, amount)` by `from`.
    pub(super) fn transfer(&mut self, from: Address, to: Address, amount: U256) -> TxResult {
        self.check_transfer(from, to, amount)?;
        Ok(vec![self.apply_transfer(from, to, amount)])
    }

    /// ERC223 `transfer(to, amount, data)` by `from`: moves the tokens, then, if `to` has code,
    /// calls its `tokenFallback(from, amount, data)`; if that reverts, so does the transfer. The
    /// channel contract opens or tops up; the token itself has no `tokenFallback`, so a transfer
    /// to it reverts without data. Any other recipient is an account, or a contract whose
    /// `tokenFallback` accepts and changes no token state (as the suite's `ReentrantReceiver`
    /// does outside its own `close`): the model knows no other contracts.
    pub(super) fn transfer_with_data(&mut self, from: Address, to: Address, amount: U256, data: &Bytes) -> TxResult {
        self.check_transfer(from, to, amount)?;
        let fallback = if to == self.config.channels {
            Some(self.check_token_fallback(self.config.token, from, amount, data)?)
        } else if to == self.config.token {
            return Err(Revert::Unknown(Bytes::new()));
        } else {
            None
        };
        let mut events = vec![self.apply_transfer(from, to, amount)];
        if let Some(fallback) = fallback {
            events.push(self.apply_token_fallback(fallback));
        }
        Ok(events)
    }

    /// Whether `_transfer(from, to, amount)` would succeed.
    pub(super) fn check_transfer(&self, from: Address, to: Address, amount: U256) -> Result<(), Revert> {
        if from.is_zero() {
            return Err(TokenError::ERC20InvalidSender(T::ERC20InvalidSender { sender: from }).into());
        }
        if to.is_zero() {
            return Err(TokenError::ERC20InvalidReceiver(T::ERC20InvalidReceiver { receiver: to }).into());
        }
        let balance = self.balance_of(from);
        if balance < amount {
            let error = T::ERC20InsufficientBalance { sender: from, balance, needed: amount };
            return Err(TokenError::ERC20InsufficientBalance(error).into());
        }
        Ok(())
    }

    /// Moves `amount` from `from` to `to` (checked by [`Model::check_transfer`] first).
    pub(super) fn apply_transfer(&mut self, from: Address, to: Address, amount: U256) -> Event {
        let from_balance = self.balance_of(from);
        let from_balance = from_balance.checked_sub(amount).expect("transfer checked before it is applied");
        self.token.balances.insert(from, from_balance);
        let to_balance = self.balance_of(to);
        self.token.balances.insert(to, to_balance + amount);
        Event::Token(TokenEvent::Transfer(T::Transfer { from, to, value: amount }))
    }

    /// Whether `spender` may take `amount` from `owner` (`_spendAllowance`; an allowance of
    /// `U256::MAX` is unlimited).
    pub(super) fn check_spend_allowance(&self, owner: Address, spender: Address, amount: U256) -> Result<(), Revert> {
        let allowance = self.allowance(owner, spender);
        if allowance != U256::MAX && allowance < amount {
            let error = T::ERC20InsufficientAllowance { spender, allowance, needed: amount };
            return Err(TokenError::ERC20InsufficientAllowance(error).into());
        }
        Ok(())
    }

    /// Lowers the allowance by `amount` (no event, as OpenZeppelin's `transferFrom`).
    pub(super) fn apply_spend_allowance(&mut self, owner: Address, spender: Address, amount: U256) {
        let allowance = self.allowance(owner, spender);
        if allowance != U256::MAX {
            self.token.allowances.insert((owner, spender), allowance - amount);
        }
    }
}
