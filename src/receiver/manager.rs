//! The channel manager: the receiver's one entry point. It starts the chain follower and the
//! payment writer, and answers payments, cooperative closes and listings.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

use alloy_primitives::{Address, Bytes, aliases::U192};
use serde::Serialize;
use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use super::{
    config::ManagerConfig,
    disputes::{CloseOutcome, Closer},
    error::{CloseError, ManagerError, PaymentError},
    follower::Follower,
    rules::{State, check_amount},
    store::{PaymentWrite, Store, StoreIdentity},
    types::{ChannelRecord, ChannelView, Payment},
};
use crate::{
    channel::ChannelId,
    contract::bindings::RaidenMicroTransferChannels as C,
    node::{Node, NodeError},
    proof::{ChannelDomain, ProofVerifier},
};

/// Payments committed together at most (one transaction, one fsync).
const MAX_BATCH: usize = 512;
/// How long a channel a shared store did not have is not asked for again.
const MISS_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// Channels remembered as missing at most.
const MAX_MISSES: usize = 4096;

/// Channels a shared store did not have when last asked (a bounded negative cache): a flood of
/// payments on unknown channels does not become a flood of database reads.
#[derive(Debug, Default)]
struct Misses(HashMap<ChannelId, std::time::Instant>);

impl Misses {
    fn contains(&self, id: &ChannelId) -> bool {
        self.0.get(id).is_some_and(|at| at.elapsed() < MISS_TTL)
    }

    fn insert(&mut self, id: ChannelId) {
        if self.0.len() >= MAX_MISSES {
            self.0.retain(|_, at| at.elapsed() < MISS_TTL);
            if self.0.len() >= MAX_MISSES {
                self.0.clear();
            }
        }
        self.0.insert(id, std::time::Instant::now());
    }
}

/// How far the manager has followed the chain, and whether it can take payments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// The latest block seen.
    pub head: u64,
    /// The last confirmed block applied.
    pub synced_block: Option<u64>,
    /// Whether the last poll reached the node.
    pub node_reachable: bool,
    /// The last node error, while it lasts.
    pub last_error: Option<String>,
    /// Why payments are stopped, if they are (a reorg deeper than the confirmations).
    pub halted: Option<String>,
    /// The receiver's ether, when it is below what one close transaction costs at current fees.
    pub low_funds: Option<LowFunds>,
    /// Reorgs of unconfirmed blocks seen so far.
    pub reorgs: u64,
    /// Reorgs deeper than the confirmations after which the chain was re-read.
    pub resyncs: u64,
    /// Close attempts (disputes and cash-outs) that failed so far; each is tried again.
    pub failed_closes: u64,
    /// The last close attempt's failure (the channel and why).
    pub last_close_error: Option<String>,
    /// Why payments are refused now, as [`PaymentError::reason`] names it (`node_unreachable`
    /// once the node has been unreachable for the configured share of the challenge period,
    /// `unavailable` while halted); filled in by [`ChannelManager::status`].
    pub refusing_payments: Option<&'static str>,
}

impl SyncStatus {
    /// Whether the manager has caught up with the node and can take payments on new channels.
    pub fn ready(&self) -> bool {
        self.node_reachable && self.halted.is_none() && self.synced_block.is_some() && self.refusing_payments.is_none()
    }
}

/// The receiver cannot afford a close transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LowFunds {
    /// Its ether, in wei.
    pub balance: alloy_primitives::U256,
    /// What one close transaction costs at current fees, in wei.
    pub needed: alloy_primitives::U256,
}

/// What the receiver holds across its channels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Confirmed channels taking payments.
    pub open: usize,
    /// Channels closing (close requested or cooperative close signed).
    pub closing: usize,
    /// Channels settled.
    pub settled: usize,
    /// Channels whose opening is not confirmed yet.
    pub unconfirmed: usize,
    /// Distinct senders with an open or closing channel.
    pub senders: usize,
    /// Confirmed deposits of open and closing channels.
    pub deposits: alloy_primitives::U256,
    /// Registered balances of open and closing channels: paid to the receiver but still in the
    /// contract (locked until the channels close).
    pub locked: alloy_primitives::U256,
    /// What settlements paid the receiver.
    pub settled_balances: alloy_primitives::U256,
}

/// A payment whose proof and channel were checked, ready to be committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedPayment {
    write: PaymentWrite,
    price: U192,
}

impl CheckedPayment {
    /// The channel.
    pub fn channel(&self) -> ChannelId {
        self.write.id
    }

    /// The new balance.
    pub fn balance(&self) -> U192 {
        self.write.balance
    }

    /// What it pays.
    pub fn price(&self) -> U192 {
        self.price
    }
}

/// A payment waiting for the writer.
struct Job {
    write: PaymentWrite,
    price: U192,
    reply: oneshot::Sender<Result<Payment, PaymentError>>,
    /// Whether the channel was reloaded from a shared store for this payment already.
    reloaded: bool,
}

pub(crate) struct Inner {
    pub config: ManagerConfig,
    pub identity: StoreIdentity,
    pub domain: ChannelDomain,
    pub token: Address,
    pub challenge_period: u32,
    pub store: Store,
    pub node: Node,
    pub state: RwLock<State>,
    pub status: watch::Sender<SyncStatus>,
    pub closer: Closer,
    /// One for every task: proofs are checked in parallel, the key cache shared.
    verifier: ProofVerifier,
    jobs: mpsc::Sender<Job>,
    /// The per-channel locks of every paywall in front of this manager.
    paywall_locks: super::locks::ChannelLocks,
    /// Unknown channels a shared store did not have either, lately.
    misses: Mutex<Misses>,
    /// One store read at a time for a payment on an unknown channel.
    unknown_reads: tokio::sync::Semaphore,
}

/// The receiver's channel manager. Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct ChannelManager {
    inner: Arc<Inner>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for ChannelManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelManager").field("identity", &self.inner.identity).finish_non_exhaustive()
    }
}

impl ChannelManager {
    /// Connects to the node, opens the store (refusing one made for another chain, contract or
    /// receiver), loads the channels, and starts following the chain and writing payments.
    pub async fn start(config: ManagerConfig) -> Result<Self, ManagerError> {
        if config.confirmations == 0 {
            return Err(ManagerError::Config("confirmations must be at least 1".into()));
        }
        let receiver = config.receiver.address();
        if let Some(share) = config.unreachable_share
            && !(share > 0.0 && share.is_finite())
        {
            return Err(ManagerError::Config(format!("unreachable_share must be above 0, not {share}")));
        }
        let node = Node::connect(&config.rpc_url, Some(&config.receiver))
            .await
            .map_err(node_error)?
            .with_timeout(config.node_timeout);
        let token = node.view(config.contract, &C::token_addressCall {}).await.map_err(node_error)?;
        let challenge_period = node.view(config.contract, &C::challenge_periodCall {}).await.map_err(node_error)?;
        let identity = StoreIdentity { chain_id: node.chain_id(), contract: config.contract, receiver };
        let store = Store::open(&config.store_url, identity).await?;
        let unreachable_limit =
            config.unreachable_share.map(|share| config.block_time.mul_f64(f64::from(challenge_period) * share));
        let mut state = State {
            cursor: store.cursor().await?,
            last_contact: Some(std::time::Instant::now()),
            unreachable_limit,
            ..State::default()
        };
        state.records = store.channels(receiver).await?.into_iter().map(|r| (r.id, r)).collect();
        let (jobs, job_rx) = mpsc::channel(4 * MAX_BATCH);
        let status = watch::Sender::new(SyncStatus::default());
        let inner = Arc::new(Inner {
            domain: ChannelDomain::new(identity.chain_id, config.contract),
            closer: Closer::new(node.clone(), receiver, config.contract, token, config.tx, status.clone()),
            config,
            identity,
            token,
            challenge_period,
            store,
            node,
            state: RwLock::new(state),
            status,
            verifier: ProofVerifier::new(),
            jobs,
            paywall_locks: Default::default(),
            misses: Mutex::default(),
            unknown_reads: tokio::sync::Semaphore::new(1),
        });
        let writer = tokio::spawn(write_payments(inner.clone(), job_rx));
        let follower = tokio::spawn(Follower::new(inner.clone()).run());
        Ok(Self { inner, tasks: Arc::new(Mutex::new(vec![writer, follower])) })
    }

    /// The per-channel locks every paywall in front of this manager shares.
    pub fn paywall_locks(&self) -> &super::locks::ChannelLocks {
        &self.inner.paywall_locks
    }

    /// The receiver's address.
    pub fn receiver(&self) -> Address {
        self.inner.identity.receiver
    }

    /// The channel contract.
    pub fn contract(&self) -> Address {
        self.inner.identity.contract
    }

    /// The token.
    pub fn token(&self) -> Address {
        self.inner.token
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.inner.identity.chain_id
    }

    /// The contract's challenge period, in blocks.
    pub fn challenge_period(&self) -> u32 {
        self.inner.challenge_period
    }

    /// Confirmations a deposit needs.
    pub fn confirmations(&self) -> u64 {
        self.inner.config.confirmations
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// How far the chain is followed, and whether payments are refused now (and why).
    pub fn status(&self) -> SyncStatus {
        let mut status = self.inner.status.borrow().clone();
        status.refusing_payments =
            self.inner.state.read().expect("state lock").gate().err().map(|e| e.reason().as_str());
        status
    }

    /// Waits until the manager has seen block `block` (or a later one) and applied what it
    /// could; returns the status then.
    pub async fn wait_for_block(&self, block: u64) -> SyncStatus {
        let mut rx = self.inner.status.subscribe();
        let status = rx.wait_for(|s| s.head >= block || s.halted.is_some()).await;
        status.map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits for the next completed poll of the node.
    pub async fn next_poll(&self) -> SyncStatus {
        let mut rx = self.inner.status.subscribe();
        rx.borrow_and_update();
        let _ = rx.changed().await;
        rx.borrow().clone()
    }

    /// The channel from `sender` opened in `open_block`, as the receiver sees it now.
    pub fn channel(&self, sender: Address, open_block: u32) -> Option<ChannelView> {
        self.inner.state.read().expect("state lock").view(&self.id(sender, open_block))
    }

    /// Every channel known, confirmed or not, ordered by sender and open block.
    pub fn channels(&self) -> Vec<ChannelView> {
        self.inner.state.read().expect("state lock").views()
    }

    /// Counts and sums over every channel.
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        let mut senders = std::collections::HashSet::new();
        for view in self.channels() {
            if !view.confirmed {
                stats.unconfirmed += 1;
                continue;
            }
            match view.status {
                super::types::ChannelStatus::Open => stats.open += 1,
                super::types::ChannelStatus::Closing => stats.closing += 1,
                super::types::ChannelStatus::Settled => {
                    stats.settled += 1;
                    stats.settled_balances += alloy_primitives::U256::from(view.settled_balance.unwrap_or_default());
                    continue;
                }
            }
            senders.insert(view.sender);
            stats.deposits += alloy_primitives::U256::from(view.deposit);
            stats.locked += alloy_primitives::U256::from(view.balance);
        }
        stats.senders = senders.len();
        stats
    }

    /// The receiver's liquid tokens: its token balance.
    pub async fn token_balance(&self) -> Result<alloy_primitives::U256, NodeError> {
        let call = crate::contract::bindings::ERC223Token::balanceOfCall { account: self.receiver() };
        self.inner.node.view(self.inner.token, &call).await
    }

    /// The durable record of a confirmed channel, with the last proof.
    pub fn record(&self, sender: Address, open_block: u32) -> Option<ChannelRecord> {
        self.inner.state.read().expect("state lock").records.get(&self.id(sender, open_block)).cloned()
    }

    /// Whether a channel unknown here could have been applied by another server of a shared
    /// store: only if it opened after the last block this server's follower applied (every
    /// confirmed opening up to there is in its records) and not after the latest block seen.
    fn may_exist(&self, id: &ChannelId) -> bool {
        let state = self.inner.state.read().expect("state lock");
        let open = u64::from(id.open_block);
        state.cursor.is_none_or(|c| open > c.block) && open <= state.head.max(state.cursor.map_or(0, |c| c.block))
    }

    fn id(&self, sender: Address, open_block: u32) -> ChannelId {
        ChannelId { sender, receiver: self.receiver(), open_block }
    }

    /// Registers a payment of `price` on the channel from `sender` opened in `open_block`: the
    /// sender's signed `balance` must be exactly the last registered balance plus `price`,
    /// within the confirmed deposit, on a confirmed channel that is not closing. Answers only
    /// once the payment is durable; a refused payment changes nothing.
    pub async fn register_payment(
        &self,
        sender: Address,
        open_block: u32,
        balance: U192,
        signature: &[u8],
        price: U192,
    ) -> Result<Payment, PaymentError> {
        let checked = self.check_payment(sender, open_block, balance, signature, price).await?;
        self.commit_payment(checked).await
    }

    /// Checks a payment without registering it: every rule of
    /// [`register_payment`](Self::register_payment) against the current state, the balance
    /// proof included (with a shared store, the channel is reloaded first). A paywall checks
    /// before it runs the handler and commits after the handler succeeded, so a failed request
    /// costs nothing.
    pub async fn check_payment(
        &self,
        sender: Address,
        open_block: u32,
        balance: U192,
        signature: &[u8],
        price: U192,
    ) -> Result<CheckedPayment, PaymentError> {
        let id = self.id(sender, open_block);
        // With a shared store, other servers may have registered payments on this channel
        // since this one last looked: a refusal that may come from a stale record is checked
        // again after reloading it. An acceptance needs no reload: the store's conditional
        // write refuses a payment that extends a stale balance, and the writer says why.
        let shared = self.inner.store.is_shared();
        let mut reloaded = false;
        let digest = self.inner.domain.balance_digest(id.receiver, open_block, balance);
        let payable = || self.inner.state.read().expect("state lock").payable(&id, self.confirmations()).map(|_| ());
        if let Err(refusal) = payable() {
            if !(shared && may_be_stale(&refusal)) {
                return Err(refusal);
            }
            // An unknown channel: it may have been applied by another server, and only then is
            // the store asked. Never for a payment the sender did not sign (checked without
            // caching the key: anyone can sign for a channel that does not exist), nor for a
            // channel this server's follower would know of, nor for one missing a moment ago;
            // and one such read at a time.
            let (signer, _) =
                self.inner.verifier.recover(digest, signature).map_err(|e| PaymentError::InvalidProof(e.into()))?;
            if signer != sender {
                return Err(PaymentError::InvalidProof(crate::proof::VerifyError::WrongSigner(signer)));
            }
            if !self.may_exist(&id) || self.inner.misses.lock().expect("misses lock").contains(&id) {
                return Err(refusal);
            }
            let Ok(_read) = self.inner.unknown_reads.try_acquire() else { return Err(refusal) };
            reload(&self.inner, &id).await;
            reloaded = true;
            if let Err(refusal) = payable() {
                if matches!(refusal, PaymentError::UnknownChannel { .. }) {
                    self.inner.misses.lock().expect("misses lock").insert(id);
                }
                return Err(refusal);
            }
        }
        // The proof first: a refusal for the amount returns the last proof, which only the
        // sender may learn (with it, anyone could ask for a cooperative close).
        self.inner.verifier.verify_known(sender, digest, signature).map_err(PaymentError::InvalidProof)?;
        let amount = || {
            let state = self.inner.state.read().expect("state lock");
            let record = state.payable(&id, self.confirmations())?;
            check_amount(record, record.balance, record.balance_sig.as_ref(), balance, price)
        };
        match amount() {
            Err(refusal) if shared && !reloaded && may_be_stale(&refusal) => {
                reload(&self.inner, &id).await;
                amount()?;
            }
            result => result?,
        }
        Ok(CheckedPayment {
            write: PaymentWrite { id, previous: U192::ZERO, balance, signature: Bytes::copy_from_slice(signature) },
            price,
        })
    }

    /// Registers a payment that [`check_payment`](Self::check_payment) accepted: the amount is
    /// checked again against the state at commit time (another payment may have come first),
    /// and the answer comes once the payment is durable.
    pub async fn commit_payment(&self, checked: CheckedPayment) -> Result<Payment, PaymentError> {
        let (reply, answer) = oneshot::channel();
        let unavailable = || PaymentError::Unavailable("the manager is shutting down".into());
        let job = Job { write: checked.write, price: checked.price, reply, reloaded: false };
        self.inner.jobs.send(job).await.map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }

    /// Signs a cooperative close: the receiver's closing agreement over `balance_signature`,
    /// only if `balance` and `balance_signature` are the last registered payment (proving the
    /// caller holds the sender's latest proof). The channel then takes no more payments.
    pub async fn sign_close(
        &self,
        sender: Address,
        open_block: u32,
        balance: U192,
        balance_signature: &[u8],
    ) -> Result<Bytes, CloseError> {
        let id = self.id(sender, open_block);
        if self.inner.store.is_shared() {
            // The latest payment may have been registered by another server.
            reload(&self.inner, &id).await;
        }
        {
            let state = self.inner.state.read().expect("state lock");
            if let Some(reason) = &state.halted {
                return Err(CloseError::Unavailable(reason.clone()));
            }
            let record = state.records.get(&id).ok_or(CloseError::UnknownChannel { sender, open_block })?;
            if record.status == super::types::ChannelStatus::Settled {
                return Err(CloseError::Settled);
            }
            let stored = record.balance_sig.as_ref().ok_or(CloseError::NothingPaid)?;
            if record.balance != balance || stored.as_ref() != balance_signature {
                return Err(CloseError::NotLatest);
            }
        }
        let matched = self
            .inner
            .store
            .sign_close(&id, balance, balance_signature)
            .await
            .map_err(|e| CloseError::Unavailable(e.to_string()))?;
        if !matched {
            return Err(CloseError::NotLatest);
        }
        if let Some(record) = self.inner.state.write().expect("state lock").records.get_mut(&id) {
            record.status = super::types::ChannelStatus::Closing;
            record.close_signed = true;
        }
        Ok(self.inner.config.receiver.sign_digest(self.inner.domain.closing_digest(balance_signature)))
    }

    /// Closes the channel on chain with the receiver's last proof (the receiver is paid at
    /// once), tracking the transaction until it is mined.
    pub async fn close_channel(&self, sender: Address, open_block: u32) -> Result<CloseOutcome, CloseError> {
        if self.inner.store.is_shared() {
            // Close with the best proof any server registered, not this one's last.
            reload(&self.inner, &self.id(sender, open_block)).await;
        }
        let record = self.record(sender, open_block).ok_or(CloseError::UnknownChannel { sender, open_block })?;
        self.inner.closer.close(&self.inner.store, &record).await
    }

    /// Closes every channel that has a registered balance and is not settled.
    pub async fn close_all(&self) -> Vec<(ChannelId, Result<CloseOutcome, CloseError>)> {
        if self.inner.store.is_shared() {
            // Close with the best proofs any server registered.
            if let Ok(fresh) = self.inner.store.channels(self.receiver()).await {
                let mut state = self.inner.state.write().expect("state lock");
                state.records.extend(fresh.into_iter().map(|r| (r.id, r)));
            }
        }
        let records: Vec<ChannelRecord> = {
            let state = self.inner.state.read().expect("state lock");
            state
                .records
                .values()
                .filter(|r| r.balance_sig.is_some() && r.status != super::types::ChannelStatus::Settled)
                .cloned()
                .collect()
        };
        let mut results = Vec::with_capacity(records.len());
        for record in records {
            results.push((record.id, self.inner.closer.close(&self.inner.store, &record).await));
        }
        results
    }

    /// Stops following the chain and writing payments (payments in flight are answered).
    pub async fn shutdown(self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        // The follower is gone: no new attempt starts; the running ones stop here.
        self.inner.closer.stop().await;
    }
}

/// Whether a refusal may come from a record another server has changed since it was loaded.
fn may_be_stale(refusal: &PaymentError) -> bool {
    matches!(
        refusal,
        PaymentError::UnknownChannel { .. }
            | PaymentError::AmountMismatch { .. }
            | PaymentError::InsufficientFunds { .. }
    )
}

fn node_error(error: NodeError) -> ManagerError {
    ManagerError::Node(error.to_string())
}

/// The payment writer: takes queued payments in batches, checks each against the state (and
/// the earlier ones of its batch), commits the accepted ones in one transaction, then updates
/// the state and answers. One writer per manager, so payments on a channel are serialised.
async fn write_payments(inner: Arc<Inner>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let stale = commit_batch(&inner, std::mem::take(&mut batch)).await;
        if !stale.is_empty() {
            for job in &stale {
                reload(&inner, &job.write.id).await;
            }
            let unanswerable = commit_batch(&inner, stale).await;
            debug_assert!(unanswerable.is_empty(), "reloaded jobs are answered");
        }
    }
}

/// Reloads a channel's record from the store: with a shared store, another server may have
/// registered payments since this one last looked.
pub(crate) async fn reload(inner: &Inner, id: &ChannelId) {
    if let Ok(Some(fresh)) = inner.store.channel(id).await {
        inner.state.write().expect("state lock").records.insert(fresh.id, fresh);
    }
}

/// Checks and commits a batch; answers every job except those whose refusal may come from a
/// stale record of a shared store, which are returned to be reloaded and checked once more.
async fn commit_batch(inner: &Inner, batch: Vec<Job>) -> Vec<Job> {
    let shared = inner.store.is_shared();
    let mut stale = Vec::new();
    let mut accepted: Vec<(Job, Payment)> = Vec::with_capacity(batch.len());
    {
        let state = inner.state.read().expect("state lock");
        // Balances accepted earlier in this batch, not committed yet.
        let mut provisional: HashMap<ChannelId, (U192, Bytes)> = HashMap::new();
        for mut job in batch {
            let verdict = state.payable(&job.write.id, inner.config.confirmations).and_then(|record| {
                let (previous, signature) = match provisional.get(&job.write.id) {
                    Some((balance, signature)) => (*balance, Some(signature)),
                    None => (record.balance, record.balance_sig.as_ref()),
                };
                check_amount(record, previous, signature, job.write.balance, job.price).map(|()| previous)
            });
            match verdict {
                Ok(previous) => {
                    job.write.previous = previous;
                    provisional.insert(job.write.id, (job.write.balance, job.write.signature.clone()));
                    let payment = Payment { id: job.write.id, amount: job.price, balance: job.write.balance };
                    accepted.push((job, payment));
                }
                Err(PaymentError::AmountMismatch { .. } | PaymentError::InsufficientFunds { .. })
                    if shared && !job.reloaded =>
                {
                    job.reloaded = true;
                    stale.push(job);
                }
                Err(refusal) => {
                    let _ = job.reply.send(Err(refusal));
                }
            }
        }
    }
    if accepted.is_empty() {
        return stale;
    }
    let writes: Vec<PaymentWrite> = accepted.iter().map(|(job, _)| job.write.clone()).collect();
    match inner.store.commit_payments(&writes).await {
        Ok(written) => {
            for ((job, payment), written) in accepted.into_iter().zip(written) {
                let answer = if written {
                    if let Some(record) = inner.state.write().expect("state lock").records.get_mut(&job.write.id) {
                        record.balance = job.write.balance;
                        record.balance_sig = Some(job.write.signature.clone());
                    }
                    Ok(payment)
                } else {
                    Err(refused_by_store(inner, &job).await)
                };
                let _ = job.reply.send(answer);
            }
        }
        Err(error) => {
            tracing::error!(%error, "payments not stored");
            for (job, _) in accepted {
                let _ = job.reply.send(Err(PaymentError::Unavailable(format!("the store failed: {error}"))));
            }
        }
    }
    stale
}

/// The store refused a payment the state accepted: another server changed the channel. Reload
/// it and say why, with the fresh state.
async fn refused_by_store(inner: &Inner, job: &Job) -> PaymentError {
    let fresh = match inner.store.channel(&job.write.id).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            return PaymentError::UnknownChannel { sender: job.write.id.sender, open_block: job.write.id.open_block };
        }
        Err(error) => return PaymentError::Unavailable(format!("the store failed: {error}")),
    };
    let mut state = inner.state.write().expect("state lock");
    let record = state.records.entry(fresh.id).or_insert_with(|| fresh.clone());
    record.balance = fresh.balance;
    record.balance_sig = fresh.balance_sig.clone();
    record.status = fresh.status;
    record.deposit = fresh.deposit;
    let record = record.clone();
    match state.payable(&job.write.id, inner.config.confirmations) {
        Err(refusal) => refusal,
        Ok(_) => match check_amount(&record, record.balance, record.balance_sig.as_ref(), job.write.balance, job.price)
        {
            Err(refusal) => refusal,
            // Acceptable against the fresh state: the client sends it again.
            Ok(()) => PaymentError::AmountMismatch {
                expected: job.write.balance,
                last_balance: record.balance,
                last_signature: record.balance_sig.clone(),
            },
        },
    }
}
