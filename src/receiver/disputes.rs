//! The receiver's close transactions: answering a sender's close request with a higher proof
//! (a dispute), or cashing out; and whether the receiver can pay for them.
//!
//! - [`Disputes`] answers every close request the state knows of (after every poll of the
//!   follower) and checks the receiver's ether now and then.
//! - Every transaction of the receiver goes through one [`TxSender`]: it hands out nonces in
//!   order (from its own counter, read from the node once and again only after a failed send),
//!   so any number of disputes sent at once each get their own nonce.
//! - Each close is pre-checked with `eth_estimateGas` (nothing is sent if it would revert),
//!   recorded in the store, tracked until mined, and re-sent with the same nonce and higher fees
//!   when it is stuck.
//! - A close that fails (the node unreachable, too little ether, a refused or reverted
//!   transaction) is tried again: the follower asks for it at every poll while the channel's
//!   close request stands, and [`Closer::ensure`] starts an attempt once the channel's backoff
//!   (doubling from [`TxPolicy::retry_min`] to [`TxPolicy::retry_max`]) has run out. An attempt
//!   after a stuck one replaces the stuck transaction (same nonce, higher fees) rather than
//!   queueing a second one behind it.
//! - Every node request is bounded by the node's timeout ([`Node::with_timeout`]): a stalled
//!   node fails the attempt, which is tried again once the node answers.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    eips::eip1559::Eip1559Estimation, network::TransactionBuilder, providers::Provider, rpc::types::TransactionRequest,
};
use alloy_primitives::{Address, B256, U256, aliases::U192};

use super::{
    config::{ClosePolicy, TxPolicy},
    context::Context,
    error::CloseError,
    rules::{CloseAction, on_close_request},
    status::LowFunds,
    store::{CloseTx, CloseTxState, Store},
    types::{ChannelRecord, ChannelStatus},
};
use crate::{
    chain::{Node, NodeError},
    channel::{ChannelEvent, ChannelId},
    contract::{Call, ChannelsError, Revert},
};

/// How often a sent transaction's receipt is asked for.
const RECEIPT_POLL: Duration = Duration::from_millis(250);

/// A close transaction that was mined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseOutcome {
    /// The transaction that was mined.
    pub tx_hash: B256,
    /// Its block.
    pub block: u64,
    /// The balance the channel was closed with (paid to the receiver).
    pub balance: U192,
    /// How many times it was re-sent with higher fees.
    pub resends: u32,
}

/// Sends the receiver's transactions: one nonce sequence for all of them.
#[derive(Debug)]
pub(crate) struct TxSender {
    node: Node,
    account: Address,
    /// The next nonce to hand out; `None` until read from the node, and again after a send
    /// failed (the node may or may not have taken it).
    next_nonce: tokio::sync::Mutex<Option<u64>>,
}

impl TxSender {
    fn new(node: Node, account: Address) -> Self {
        Self { node, account, next_nonce: tokio::sync::Mutex::new(None) }
    }

    /// Forgets the counter: the next new send reads the node's pending nonce again (after a
    /// reorg may have dropped a transaction of ours, leaving a gap).
    async fn forget(&self) {
        *self.next_nonce.lock().await = None;
    }

    /// Sends `request` with the next nonce, or with `nonce` to replace a transaction sent
    /// before. Sends are serialised: a nonce is handed out only once the node took the one
    /// before it. Returns the hash and the nonce.
    async fn send(&self, request: TransactionRequest, nonce: Option<u64>) -> Result<(B256, u64), NodeError> {
        let mut next = self.next_nonce.lock().await;
        let replacing = nonce.is_some();
        let nonce = match (nonce, *next) {
            (Some(nonce), _) | (None, Some(nonce)) => nonce,
            (None, None) => {
                let pending = self.node.provider().get_transaction_count(self.account).pending();
                self.node.bounded("eth_getTransactionCount", pending).await?
            }
        };
        let sent = self
            .node
            .bounded("eth_sendRawTransaction", self.node.provider().send_transaction(request.with_nonce(nonce)))
            .await;
        match &sent {
            // A replacement (an explicit, older nonce) does not move the counter: the nonce
            // after it may belong to another channel's pending close.
            Ok(_) if replacing => {}
            Ok(_) => *next = Some(next.map_or(nonce + 1, |n| n.max(nonce + 1))),
            Err(_) => *next = None,
        }
        sent.map(|pending| (*pending.tx_hash(), nonce))
    }
}

/// Where a channel's close stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// An attempt is under way.
    Running,
    /// Closed (by us or by the settlement) as far as the chain said `at`; a reorg may undo
    /// that, so [`Closer::ensure`] tries again once [`TxPolicy::retry_max`] has passed.
    Done { at: Instant },
    /// The last attempt failed: the next may start at `retry_at`, and waits `delay` if it fails.
    Waiting { retry_at: Instant, delay: Duration },
}

/// What an earlier attempt sent, for the next to replace rather than duplicate.
#[derive(Clone, Debug)]
struct Sent {
    nonce: u64,
    hashes: Vec<B256>,
    fees: Eip1559Estimation,
}

/// Sends the receiver's close transactions, at most one attempt at a time per channel.
#[derive(Clone, Debug)]
pub(crate) struct Closer {
    node: Node,
    contract: Address,
    token: Address,
    policy: TxPolicy,
    sender: Arc<TxSender>,
    slots: Arc<Mutex<HashMap<ChannelId, Slot>>>,
    sent: Arc<Mutex<HashMap<ChannelId, Sent>>>,
    /// The attempts running in the background, stopped with the manager.
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Where failed attempts are reported (`SyncStatus::failed_closes`, `last_close_error`).
    status: tokio::sync::watch::Sender<super::SyncStatus>,
}

impl Closer {
    pub(crate) fn new(
        node: Node,
        account: Address,
        contract: Address,
        token: Address,
        policy: TxPolicy,
        status: tokio::sync::watch::Sender<super::SyncStatus>,
    ) -> Self {
        let sender = Arc::new(TxSender::new(node.clone(), account));
        Self {
            node,
            contract,
            token,
            policy,
            sender,
            slots: Arc::default(),
            sent: Arc::default(),
            tasks: Arc::default(),
            status,
        }
    }

    /// Stops the attempts running in the background.
    pub(crate) async fn stop(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    /// Current fees.
    pub(crate) async fn fees(&self) -> Result<Eip1559Estimation, NodeError> {
        self.node.bounded("eth_feeHistory", self.node.provider().estimate_eip1559_fees()).await
    }

    /// Starts closing `record` in the background, unless an attempt is under way, the channel
    /// is closed, or its backoff after a failed attempt has not run out. With a shared store
    /// the record is reloaded first (another server may hold a later proof).
    pub(crate) fn ensure(&self, store: Store, record: ChannelRecord) {
        let Some((delay, redo)) = self.begin(record.id, false) else { return };
        let closer = self.clone();
        let task = tokio::spawn(async move {
            if redo {
                tracing::warn!(channel = %record.id, "closed before, yet its close request stands (a reorg?); closing again");
                closer.sender.forget().await;
            }
            let mut record = record;
            if store.is_shared()
                && let Ok(Some(fresh)) = store.channel(&record.id).await
                && fresh.balance >= record.balance
            {
                record = fresh;
            }
            let result = closer.attempt(&store, &record).await;
            if let Err(error) = &result {
                tracing::error!(channel = %record.id, %error, retry_in = ?delay, "closing with the last proof failed");
            }
            closer.finish(record.id, &result, delay);
        });
        let mut tasks = self.tasks.lock().expect("tasks lock");
        tasks.retain(|task| !task.is_finished());
        tasks.push(task);
    }

    /// Closes the channel with the receiver's last proof and waits until the transaction is
    /// mined. A close that would revert is not sent.
    pub(crate) async fn close(&self, store: &Store, record: &ChannelRecord) -> Result<CloseOutcome, CloseError> {
        let Some((delay, _)) = self.begin(record.id, true) else {
            return match self.slots.lock().expect("slots lock").get(&record.id) {
                Some(Slot::Done { .. }) => Err(CloseError::Settled),
                _ => Err(CloseError::Unavailable("a close of this channel is under way".into())),
            };
        };
        let result = self.attempt(store, record).await;
        self.finish(record.id, &result, delay);
        result
    }

    /// Marks an attempt on `id` as started, unless one is under way or the channel is closed
    /// (or, unless `now`, its backoff has not run out). Returns the backoff after a failure,
    /// and whether the channel was closed before: the follower asks only for channels whose
    /// close request still stands unsettled, so after [`TxPolicy::retry_max`] a closed slot is
    /// taken as undone by a reorg (an attempt on a settled channel ends at once).
    fn begin(&self, id: ChannelId, now: bool) -> Option<(Duration, bool)> {
        let mut slots = self.slots.lock().expect("slots lock");
        let mut redo = false;
        let delay = match slots.get(&id) {
            Some(Slot::Running) => return None,
            Some(Slot::Done { at }) => {
                if now || at.elapsed() < self.policy.retry_max {
                    return None;
                }
                redo = true;
                self.policy.retry_min
            }
            Some(Slot::Waiting { retry_at, .. }) if !now && Instant::now() < *retry_at => return None,
            Some(Slot::Waiting { delay, .. }) => *delay,
            None => self.policy.retry_min,
        };
        slots.insert(id, Slot::Running);
        Some((delay, redo))
    }

    fn finish(&self, id: ChannelId, result: &Result<CloseOutcome, CloseError>, delay: Duration) {
        let slot = match result {
            Ok(_) | Err(CloseError::Settled | CloseError::NothingPaid) => Slot::Done { at: Instant::now() },
            Err(error) => {
                let error = format!("{id}: {error}");
                self.status.send_modify(|s| {
                    s.failed_closes += 1;
                    s.last_close_error = Some(error);
                });
                Slot::Waiting { retry_at: Instant::now() + delay, delay: (delay * 2).min(self.policy.retry_max) }
            }
        };
        self.slots.lock().expect("slots lock").insert(id, slot);
    }

    /// One attempt: estimate, send (or replace what an earlier attempt left pending), track.
    async fn attempt(&self, store: &Store, record: &ChannelRecord) -> Result<CloseOutcome, CloseError> {
        let signature = record.balance_sig.clone().ok_or(CloseError::NothingPaid)?;
        let receiver = record.id.receiver;
        let unavailable = |e: NodeError| CloseError::Unavailable(e.to_string());
        let call =
            Call::Close { receiver, open_block: record.id.open_block, balance: record.balance, balance_sig: signature };
        let (to, data) = call.encode(self.token, self.contract);
        let request = TransactionRequest::default().with_from(receiver).with_to(to).with_input(data);

        // What an earlier attempt sent may have been mined since, or its nonce taken.
        let mut previous = self.sent.lock().expect("sent lock").get(&record.id).cloned();
        if let Some(prev) = &previous {
            if let Some(outcome) = self.find_mined(store, record, &prev.hashes, prev.nonce, 0).await? {
                self.sent.lock().expect("sent lock").remove(&record.id);
                return Ok(outcome);
            }
            let latest = self.node.provider().get_transaction_count(receiver).latest();
            let mined_nonces = self.node.bounded("eth_getTransactionCount", latest).await.map_err(unavailable)?;
            if mined_nonces > prev.nonce {
                // Not ours: the nonce went to another transaction. Start afresh.
                previous = None;
                self.sent.lock().expect("sent lock").remove(&record.id);
            }
        }
        let gas = match self.node.bounded("eth_estimateGas", self.node.provider().estimate_gas(request.clone())).await {
            Ok(gas) => gas,
            Err(NodeError::Reverted(Revert::Channels(ChannelsError::ChannelNotFound(_)))) => {
                self.sent.lock().expect("sent lock").remove(&record.id);
                return Err(CloseError::Settled);
            }
            Err(error) => return Err(CloseError::Unavailable(format!("the close would fail: {error}"))),
        };
        let bump = |fee: u128| fee + fee * u128::from(self.policy.fee_bump_percent) / 100 + 1;
        let mut fees = self.fees().await.map_err(unavailable)?;
        let (mut nonce, mut sent) = match previous {
            Some(prev) => {
                fees.max_fee_per_gas = fees.max_fee_per_gas.max(bump(prev.fees.max_fee_per_gas));
                fees.max_priority_fee_per_gas =
                    fees.max_priority_fee_per_gas.max(bump(prev.fees.max_priority_fee_per_gas));
                (Some(prev.nonce), prev.hashes)
            }
            None => (None, Vec::new()),
        };
        for attempt in 0..=self.policy.max_resends {
            let request = request
                .clone()
                .with_gas_limit(gas + gas / 5)
                .with_max_fee_per_gas(fees.max_fee_per_gas)
                .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
            match self.sender.send(request, nonce).await {
                Ok((hash, used)) => {
                    tracing::info!(channel = %record.id, tx = %hash, nonce = used, attempt, "close sent");
                    nonce = Some(used);
                    sent.push(hash);
                    let remembered = Sent { nonce: used, hashes: sent.clone(), fees };
                    self.sent.lock().expect("sent lock").insert(record.id, remembered);
                    let tx = CloseTx {
                        tx_hash: hash,
                        id: record.id,
                        balance: record.balance,
                        nonce: used,
                        state: CloseTxState::Pending,
                        block: None,
                    };
                    store.record_close_tx(&tx).await.map_err(|e| CloseError::Unavailable(e.to_string()))?;
                }
                // A replacement the node refuses (one of ours was mined meanwhile): look for it.
                Err(error) if !sent.is_empty() => tracing::warn!(channel = %record.id, %error, "re-send refused"),
                Err(error) => return Err(unavailable(error)),
            }
            let nonce = nonce.expect("a nonce once something was sent");
            if let Some(outcome) = self.wait_mined(store, record, &sent, nonce, attempt).await? {
                self.sent.lock().expect("sent lock").remove(&record.id);
                return Ok(outcome);
            }
            fees.max_fee_per_gas = bump(fees.max_fee_per_gas);
            fees.max_priority_fee_per_gas = bump(fees.max_priority_fee_per_gas);
            if let Some(remembered) = self.sent.lock().expect("sent lock").get_mut(&record.id) {
                remembered.fees = fees;
            }
            tracing::warn!(channel = %record.id, "close not mined in {:?}; re-sending with higher fees", self.policy.stuck_after);
        }
        Err(CloseError::Unavailable(format!("the close was not mined after {} re-sends", self.policy.max_resends)))
    }

    /// Waits up to the policy's `stuck_after` for one of `sent` to be mined.
    async fn wait_mined(
        &self,
        store: &Store,
        record: &ChannelRecord,
        sent: &[B256],
        nonce: u64,
        attempt: u32,
    ) -> Result<Option<CloseOutcome>, CloseError> {
        let deadline = Instant::now() + self.policy.stuck_after;
        while Instant::now() < deadline {
            if let Some(outcome) = self.find_mined(store, record, sent, nonce, attempt).await? {
                return Ok(Some(outcome));
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
        Ok(None)
    }

    /// Looks for a receipt of one of `sent` (each request bounded); records the outcome.
    async fn find_mined(
        &self,
        store: &Store,
        record: &ChannelRecord,
        sent: &[B256],
        nonce: u64,
        attempt: u32,
    ) -> Result<Option<CloseOutcome>, CloseError> {
        for hash in sent {
            let receipt =
                self.node.bounded("eth_getTransactionReceipt", self.node.provider().get_transaction_receipt(*hash));
            let Ok(Some(receipt)) = receipt.await else { continue };
            let block = receipt.block_number.unwrap_or_default();
            let state = if receipt.status() { CloseTxState::Mined } else { CloseTxState::Reverted };
            for other in sent.iter().filter(|h| *h != hash) {
                let replaced = CloseTx {
                    tx_hash: *other,
                    id: record.id,
                    balance: record.balance,
                    nonce,
                    state: CloseTxState::Replaced,
                    block: None,
                };
                store.record_close_tx(&replaced).await.map_err(|e| CloseError::Unavailable(e.to_string()))?;
            }
            let tx =
                CloseTx { tx_hash: *hash, id: record.id, balance: record.balance, nonce, state, block: Some(block) };
            store.record_close_tx(&tx).await.map_err(|e| CloseError::Unavailable(e.to_string()))?;
            if !receipt.status() {
                self.sent.lock().expect("sent lock").remove(&record.id);
                return Err(CloseError::Unavailable(format!("the close transaction {hash} reverted")));
            }
            tracing::info!(channel = %record.id, tx = %hash, block, "closed with our last proof");
            return Ok(Some(CloseOutcome { tx_hash: *hash, block, balance: record.balance, resends: attempt }));
        }
        Ok(None)
    }
}

/// Answers the senders' close requests, and watches whether the receiver can pay for a close.
pub(crate) struct Disputes {
    ctx: Arc<Context>,
    closer: Closer,
    /// Close requests the receiver decided to leave to the sender's settlement (logged once).
    answered: HashMap<ChannelId, U192>,
    /// Close requests for which a shared store's record was reloaded already.
    reloaded: HashSet<(ChannelId, U192)>,
    /// The close requests known before a re-read of the chain (id → requested balance),
    /// answered until it has caught up: the re-read forgets them until it reaches their blocks.
    /// Disputing one that a reorg removed only closes the channel with our proof.
    known_before_resync: HashMap<ChannelId, U192>,
}

impl Disputes {
    pub(crate) fn new(ctx: Arc<Context>, closer: Closer) -> Self {
        Self { ctx, closer, answered: HashMap::new(), reloaded: HashSet::new(), known_before_resync: HashMap::new() }
    }

    /// Remembers the close requests known now, to answer them while the chain is re-read.
    pub(crate) fn remember_close_requests(&mut self) {
        let known = self.close_requests();
        self.known_before_resync.extend(known);
    }

    /// The chain-derived state was forgotten: records reloaded for a close request are stale.
    pub(crate) fn forget_reloads(&mut self) {
        self.reloaded.clear();
    }

    /// The re-read has caught up: the close requests known before it are the chain's again.
    pub(crate) fn resync_done(&mut self) {
        self.known_before_resync.clear();
    }

    /// Answers every close request the state knows of (confirmed, or in the unconfirmed blocks
    /// of the last poll): one below the receiver's last proof is disputed, an equal one closed
    /// at once under [`ClosePolicy::AtOnce`]. The closer keeps one attempt per channel and
    /// backs off after failures, so asking at every poll retries a failed dispute until the
    /// channel is settled.
    pub(crate) async fn answer_close_requests(&mut self, resyncing: bool) {
        let at_once = self.ctx.config.close_policy == ClosePolicy::AtOnce;
        let mut requests = self.close_requests();
        if resyncing {
            for (id, balance) in &self.known_before_resync {
                requests.entry(*id).or_insert(*balance);
            }
        }
        for (id, requested) in requests {
            if self.ctx.store.is_shared() && self.reloaded.insert((id, requested)) {
                // Another server may have registered a later proof than this one's record.
                self.ctx.reload(&id).await;
            }
            let Some(record) = self.ctx.state.read().expect("state lock").records.get(&id).cloned() else { continue };
            if record.status == ChannelStatus::Settled {
                continue;
            }
            if on_close_request(requested, record.balance, at_once) == CloseAction::CloseNow {
                self.closer.ensure(self.ctx.store.clone(), record);
            } else if self.answered.insert(id, requested) != Some(requested) {
                tracing::info!(channel = %id, %requested, ours = %record.balance, "close request accepted; waiting for the settlement");
            }
        }
    }

    /// Every close request the state knows of, confirmed or pending, on a channel not settled
    /// (nor settling in the unconfirmed blocks).
    pub(crate) fn close_requests(&self) -> HashMap<ChannelId, U192> {
        let state = self.ctx.state.read().expect("state lock");
        let mut requests: HashMap<ChannelId, U192> = state
            .records
            .values()
            .filter(|r| r.status == ChannelStatus::Closing)
            .filter_map(|r| r.closing_balance.map(|balance| (r.id, balance)))
            .collect();
        let mut settling = HashSet::new();
        for event in &state.pending {
            match event.change {
                ChannelEvent::CloseRequested { balance, .. } => {
                    requests.insert(event.id, balance);
                }
                ChannelEvent::Settled { .. } => {
                    settling.insert(event.id);
                }
                _ => {}
            }
        }
        requests
            .into_iter()
            .filter(|(id, _)| !settling.contains(id))
            .filter(|(id, _)| state.records.get(id).is_some_and(|r| r.status != ChannelStatus::Settled))
            .collect()
    }

    /// Warns (log and status) when the receiver cannot pay for one close transaction.
    pub(crate) async fn check_funds(&self) {
        let receiver = self.ctx.identity.receiver;
        let (Ok(balance), Ok(fees)) = (self.ctx.node.ether(receiver).await, self.closer.fees().await) else {
            return;
        };
        let needed = U256::from(fees.max_fee_per_gas) * U256::from(self.ctx.config.tx.close_gas);
        let low = (balance < needed).then_some(LowFunds { balance, needed });
        if let Some(low) = &low {
            tracing::warn!(balance = %low.balance, needed = %low.needed, "the receiver cannot pay for a close transaction: fund it");
        }
        // Only a change is published: waiters for the next poll should not wake for this.
        self.ctx.status.send_if_modified(|s| {
            let changed = s.low_funds != low;
            s.low_funds = low;
            changed
        });
    }
}
