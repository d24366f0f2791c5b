//! A chain (a fresh anvil), the contracts, and receivers' channel managers on it.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use alloy_primitives::{Address, Bytes, aliases::U192};
use uraiden::{
    chain::{Chain, RpcChain},
    channel::ChannelId,
    receiver::{ChannelManager, ChannelView, ManagerConfig},
};

use crate::common::{Fixture, anvil_chain, u192};

/// Confirmations the tests' managers wait for.
pub const CONFIRMATIONS: u64 = 3;

pub struct Env {
    pub f: Fixture<RpcChain>,
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl Env {
    pub fn new() -> Self {
        let f = Fixture::new(anvil_chain());
        let url = f.chain.anvil_endpoint().expect("an anvil");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        Self { f, rt, dir: tempfile::tempdir().unwrap(), url }
    }

    /// The configuration of the fixture's receiver with a SQLite store in the temp dir.
    pub fn config(&self) -> ManagerConfig {
        let store = format!("sqlite://{}", self.dir.path().join("receiver.db").display());
        self.config_for(&self.f.receiver, store)
    }

    pub fn config_for(&self, receiver: &uraiden::proof::Signer, store: String) -> ManagerConfig {
        let mut config = ManagerConfig::new(self.url.clone(), self.f.c.channels, receiver.clone(), store);
        config.confirmations = CONFIRMATIONS;
        config.poll_interval = Duration::from_millis(50);
        config.tx.stuck_after = Duration::from_secs(5);
        config
    }

    pub fn start(&self, config: ManagerConfig) -> ChannelManager {
        let manager = self.rt.block_on(ChannelManager::start(config)).expect("the manager starts");
        self.sync(&manager);
        manager
    }

    /// Waits until `manager` has seen the chain's latest block.
    pub fn sync(&self, manager: &ChannelManager) {
        let head = self.f.chain.block_number().unwrap();
        let status = self.rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), manager.wait_for_block(head))
                .await
                .expect("the manager follows")
        });
        assert!(status.head >= head || status.halted.is_some());
    }

    /// Mines `blocks` blocks and waits for `manager` to see them.
    pub fn mine(&mut self, manager: &ChannelManager, blocks: u64) {
        self.f.chain.mine(blocks).unwrap();
        self.sync(manager);
    }

    pub fn view(&self, manager: &ChannelManager, ch: &ChannelId) -> Option<ChannelView> {
        manager.channel(ch.sender, ch.open_block)
    }

    /// Registers a payment of `price` bringing `ch` to `balance`, signed by the fixture's sender.
    pub fn pay(
        &self,
        manager: &ChannelManager,
        ch: &ChannelId,
        balance: u64,
        price: u64,
    ) -> Result<uraiden::receiver::Payment, uraiden::receiver::PaymentError> {
        let signature = self.f.pay(ch, balance);
        self.pay_with(manager, ch, balance, &signature, price)
    }

    pub fn pay_with(
        &self,
        manager: &ChannelManager,
        ch: &ChannelId,
        balance: u64,
        signature: &Bytes,
        price: u64,
    ) -> Result<uraiden::receiver::Payment, uraiden::receiver::PaymentError> {
        self.rt.block_on(manager.register_payment(ch.sender, ch.open_block, u192(balance), signature, u192(price)))
    }

    pub fn token_balance(&mut self, who: Address) -> u64 {
        self.f.balance(who)
    }
}

pub fn amount(v: u64) -> U192 {
    u192(v)
}
