//! Receivers on a real chain: a fresh anvil, the contracts, and channel managers on it (the receiver, paywall and sender suites share it).

#![allow(dead_code, unreachable_pub)]

use std::{collections::HashMap, sync::Mutex, time::Duration};

use alloy_primitives::{Address, Bytes, aliases::U192};
use uraiden::{
    chain::{Chain, RpcChain},
    channel::ChannelId,
    receiver::{ChannelManager, ChannelView, ManagerConfig},
};

use super::{Fixture, anvil_chain, postgres::PgServer, u192};

/// Where the managers' stores live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's temporary directory.
    Sqlite,
    /// A database of its own on a real PostgreSQL server (the binary's shared one).
    Postgres,
}

/// Confirmations the tests' managers wait for.
pub const CONFIRMATIONS: u64 = 3;

pub struct Env {
    pub f: Fixture<RpcChain>,
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub backend: Backend,
    /// The PostgreSQL databases made so far, by store name.
    databases: Mutex<HashMap<String, String>>,
    /// Declared last: the server stops after the runtime (and its connections) is gone.
    postgres: Option<std::sync::Arc<PgServer>>,
}

impl Env {
    /// A fresh chain, with SQLite stores.
    pub fn new() -> Self {
        Self::on(Backend::Sqlite)
    }

    /// A fresh chain, with stores on `backend`.
    pub fn on(backend: Backend) -> Self {
        let postgres = (backend == Backend::Postgres).then(PgServer::shared);
        let f = Fixture::new(anvil_chain());
        let url = f.chain.anvil_endpoint().expect("an anvil");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        Self { f, rt, dir, url, backend, databases: Mutex::default(), postgres }
    }

    /// The URL of the store called `name` (the same store for the same name): a SQLite file in
    /// the temporary directory, or a PostgreSQL database of its own.
    pub fn store_url(&self, name: &str) -> String {
        match &self.postgres {
            None => format!("sqlite://{}", self.dir.path().join(format!("{name}.db")).display()),
            Some(server) => self
                .databases
                .lock()
                .unwrap()
                .entry(name.to_string())
                .or_insert_with(|| server.create_database())
                .clone(),
        }
    }

    /// The configuration of the fixture's receiver with its store (`receiver`).
    pub fn config(&self) -> ManagerConfig {
        self.config_for(&self.f.receiver, self.store_url("receiver"))
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
        assert_eq!(
            manager.store().is_shared(),
            self.backend == Backend::Postgres,
            "the store is on {:?}",
            self.backend
        );
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
    ) -> Result<uraiden::receiver::AcceptedPayment, uraiden::receiver::PaymentError> {
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
    ) -> Result<uraiden::receiver::AcceptedPayment, uraiden::receiver::PaymentError> {
        self.rt.block_on(manager.register_payment(ch.sender, ch.open_block, u192(balance), signature, u192(price)))
    }

    pub fn token_balance(&mut self, who: Address) -> u64 {
        self.f.balance(who)
    }
}

pub fn amount(v: u64) -> U192 {
    u192(v)
}
