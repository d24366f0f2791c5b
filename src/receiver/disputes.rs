//! The receiver's close transactions: answering a sender's close request with a higher proof
//! (a dispute), or cashing out; and whether the receiver can pay for them.
//!
//! - [`Disputes`] answers every close request the state knows of (after every poll of the
//!   follower) and checks the receiver's ether now and then.
//! - Every transaction of the receiver goes through one [`TxSender`]: it hands out nonces in
//!   order ([`Nonce::Next`]: from its own counter, read from the node once and again only after
//!   a failed send), so any number of disputes sent at once each get their own nonce.
//! - Each close is pre-checked with `eth_estimateGas` (nothing is sent if it would revert),
//!   recorded in the store, tracked until mined, and re-sent with the same nonce and higher fees
//!   when it is stuck (the [`TxSender`] does the sending; this file keeps the records).
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

use alloy::{eips::eip1559::Eip1559Estimation, network::TransactionBuilder, rpc::types::TransactionRequest};
use alloy_primitives::{Address, B256, U256, aliases::U192};
use tracing::Instrument;

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
    channel::{ChannelEvent, ChannelId},
    contract::{Call, ChannelsError, Revert},
    node::{InFlight, Mined, Node, NodeError, Nonce, Resend, SendError, TxSender},
};

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

/// Why a close attempt is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The answer to a sender's close request: only while this server leads the chain work.
    CloseRequest,
    /// The operator (a cash-out through the API or the command line).
    Operator,
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
    /// What an earlier attempt sent, for the next to replace rather than duplicate.
    sent: Arc<Mutex<HashMap<ChannelId, InFlight>>>,
    /// The attempts running in the background, stopped with the manager.
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Where failed attempts are reported (`SyncStatus::failed_closes`, `last_close_error`).
    status: tokio::sync::watch::Sender<super::SyncStatus>,
    /// This manager's name for the chain-work lease ([`Store::holds_chain_work`]).
    holder: Arc<str>,
}

impl Closer {
    pub(crate) fn new(
        node: Node,
        account: Address,
        contract: Address,
        token: Address,
        policy: TxPolicy,
        status: tokio::sync::watch::Sender<super::SyncStatus>,
        holder: Arc<str>,
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
            holder,
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
        self.node.fees().await
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
            let fresh = match store.is_shared() {
                true => store
                    .channel(&record.id)
                    .await
                    .map_err(|e| CloseError::Unavailable(format!("the store failed: {e}"))),
                false => Ok(None),
            };
            let result = match fresh {
                Ok(fresh) => {
                    if let Some(fresh) = fresh.filter(|fresh| fresh.balance >= record.balance) {
                        record = fresh;
                    }
                    closer.attempt(&store, &record, Origin::CloseRequest).await
                }
                // Not closed with a proof another server may have bettered: tried again later.
                Err(error) => Err(error),
            };
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
        let result = self.attempt(store, record, Origin::Operator).await;
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
    async fn attempt(&self, store: &Store, record: &ChannelRecord, by: Origin) -> Result<CloseOutcome, CloseError> {
        let signature = record.balance_sig.clone().ok_or(CloseError::NothingPaid)?;
        let receiver = record.id.receiver;
        let unavailable = |e: NodeError| CloseError::Unavailable(e.to_string());
        let call =
            Call::Close { receiver, open_block: record.id.open_block, balance: record.balance, balance_sig: signature };
        let (to, data) = call.encode(self.token, self.contract);
        let request = TransactionRequest::default().with_from(receiver).with_to(to).with_input(data);

        // What an earlier attempt sent may have been mined since, or its nonce taken. An attempt
        // of another process (a server that died, or this one before a restart) is in the store.
        let mut previous = self.sent.lock().expect("sent lock").get(&record.id).cloned();
        if previous.is_none() {
            previous = self.pending_in_store(store, record).await?;
        }
        if let Some(prev) = &previous {
            if let Some(outcome) = self.find_mined(store, record, prev, 0).await? {
                return Ok(outcome);
            }
            let mined_nonces = self.node.mined_nonce(receiver).await.map_err(unavailable)?;
            if mined_nonces > prev.nonce {
                // Not ours: the nonce went to another transaction. Start afresh.
                previous = None;
                self.sent.lock().expect("sent lock").remove(&record.id);
            }
        }
        // With a shared store, only the chain work's leader answers close requests: a server that
        // lost the lease while this attempt waited would otherwise race the new leader with its
        // own nonce. (A close the operator asked this server for is sent whoever leads.)
        if by == Origin::CloseRequest
            && !store.holds_chain_work(&self.holder).await.map_err(|e| CloseError::Unavailable(e.to_string()))?
        {
            return Err(CloseError::Unavailable("another server leads the chain work now".into()));
        }
        let record_sent = |sent: InFlight| async move {
            let (hash, nonce) = (*sent.hashes.last().expect("a version was sent"), sent.nonce);
            tracing::info!(channel = %record.id, tx = %hash, nonce, "close sent");
            self.sent.lock().expect("sent lock").insert(record.id, sent);
            let tx = CloseTx {
                tx_hash: hash,
                id: record.id,
                balance: record.balance,
                nonce,
                state: CloseTxState::Pending,
                block: None,
            };
            store.record_close_tx(&tx).await.map_err(|e| CloseError::Unavailable(e.to_string()))
        };
        let policy = resend(&self.policy);
        let sending = self.sender.send_tracked(request, Nonce::Next, &policy, &mut previous, record_sent);
        let result = sending.instrument(tracing::info_span!("close", channel = %record.id)).await;
        if let Some(sent) = previous {
            // The fees were raised after a version was not mined: the next attempt starts above.
            self.sent.lock().expect("sent lock").insert(record.id, sent);
        }
        let mined = match result {
            Ok(mined) => mined,
            Err(SendError::Reverted(mined)) => *mined,
            Err(error) => return Err(self.not_mined(record.id, error)),
        };
        self.record_mined(store, record, &mined).await
    }

    /// The close transaction of `record`'s channel the store holds as pending (sent by another
    /// process, or by this one before a restart), as an earlier attempt to track or replace:
    /// its nonce, every version sent with it, and the fees of the last (the next version is
    /// priced at least one bump above them; a replacement the node refuses is waited for).
    async fn pending_in_store(&self, store: &Store, record: &ChannelRecord) -> Result<Option<InFlight>, CloseError> {
        let txs = store.close_txs(&record.id).await.map_err(|e| CloseError::Unavailable(e.to_string()))?;
        let Some(nonce) = txs.iter().filter(|tx| tx.state == CloseTxState::Pending).map(|tx| tx.nonce).max() else {
            return Ok(None);
        };
        let hashes = txs
            .iter()
            .filter(|tx| tx.nonce == nonce && matches!(tx.state, CloseTxState::Pending | CloseTxState::Replaced))
            .map(|tx| tx.tx_hash)
            .collect();
        // The next version must outbid the last one sent: its fees, as the node has them (today's
        // if the node has forgotten it; the node then takes the next version as new anyway).
        let unavailable = |e: NodeError| CloseError::Unavailable(e.to_string());
        let last = *txs.iter().rev().find(|tx| tx.nonce == nonce).map(|tx| &tx.tx_hash).expect("a version");
        let fees = match self.node.sent_fees(last).await.map_err(unavailable)? {
            Some(fees) => fees,
            None => self.node.fees().await.map_err(unavailable)?,
        };
        tracing::info!(channel = %record.id, nonce, "a close sent before is pending: tracking it, replacing it if stuck");
        Ok(Some(InFlight { nonce, hashes, fees }))
    }

    /// Why a close was not mined. A close that would revert with `ChannelNotFound` finds the
    /// channel settled: nothing is left to replace.
    fn not_mined(&self, id: ChannelId, error: SendError<CloseError>) -> CloseError {
        let unavailable = CloseError::Unavailable;
        match error {
            SendError::WouldRevert(Revert::Channels(ChannelsError::ChannelNotFound(_))) => {
                self.sent.lock().expect("sent lock").remove(&id);
                CloseError::Settled
            }
            SendError::WouldRevert(revert) => {
                unavailable(format!("the close would fail: {}", NodeError::Reverted(revert)))
            }
            SendError::Estimate(error) => unavailable(format!("the close would fail: {error}")),
            SendError::Node(error) => unavailable(error.to_string()),
            SendError::NotMined { resends, .. } => {
                unavailable(format!("the close was not mined after {resends} re-sends"))
            }
            SendError::Reverted(mined) => unavailable(format!("the close transaction {} reverted", mined.hash)),
            SendError::Recording(error) => error,
        }
    }

    /// Looks for a receipt of one of `sent`'s versions (each request bounded); records the
    /// outcome.
    async fn find_mined(
        &self,
        store: &Store,
        record: &ChannelRecord,
        sent: &InFlight,
        attempt: u32,
    ) -> Result<Option<CloseOutcome>, CloseError> {
        let Some(mined) = self.sender.mined(sent, attempt).await else { return Ok(None) };
        self.record_mined(store, record, &mined).await.map(Some)
    }

    /// Records a mined close (and the versions it replaced) in the store; once recorded, the
    /// next attempt has nothing to replace.
    async fn record_mined(
        &self,
        store: &Store,
        record: &ChannelRecord,
        mined: &Mined,
    ) -> Result<CloseOutcome, CloseError> {
        let (hash, nonce, block) = (mined.hash, mined.nonce, mined.block);
        let state = if mined.succeeded() { CloseTxState::Mined } else { CloseTxState::Reverted };
        for other in &mined.replaced {
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
        let tx = CloseTx { tx_hash: hash, id: record.id, balance: record.balance, nonce, state, block: Some(block) };
        store.record_close_tx(&tx).await.map_err(|e| CloseError::Unavailable(e.to_string()))?;
        self.sent.lock().expect("sent lock").remove(&record.id);
        if !mined.succeeded() {
            return Err(CloseError::Unavailable(format!("the close transaction {hash} reverted")));
        }
        tracing::info!(channel = %record.id, tx = %hash, block, "closed with our last proof");
        Ok(CloseOutcome { tx_hash: hash, block, balance: record.balance, resends: mined.resends })
    }
}

/// The node's re-send policy for closes.
fn resend(policy: &TxPolicy) -> Resend {
    Resend {
        stuck_after: policy.stuck_after,
        fee_bump_percent: policy.fee_bump_percent,
        max_resends: policy.max_resends,
    }
}

/// Answers the senders' close requests, and watches whether the receiver can pay for a close.
/// With a store several servers share, only the holder of the chain-work lease answers
/// ([`Store::claim_chain_work`]).
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
    /// Whether this server holds the chain-work lease (as of its last claim).
    leading: bool,
}

impl Disputes {
    pub(crate) fn new(ctx: Arc<Context>, closer: Closer) -> Self {
        Self {
            ctx,
            closer,
            answered: HashMap::new(),
            reloaded: HashSet::new(),
            known_before_resync: HashMap::new(),
            leading: false,
        }
    }

    /// Claims (or renews) the chain-work lease; reports a change. A server that cannot reach
    /// the store does not lead: its lease runs out, and a server that can takes over.
    async fn lead(&mut self) -> bool {
        let ctx = &self.ctx;
        let claim = ctx.store.claim_chain_work(&ctx.holder, ctx.config.chain_lease).await;
        // The claim is this server's regular look at a shared store: its health, for `/ready`.
        let store_error = claim.as_ref().err().map(|e| format!("store: {e}"));
        ctx.status.send_if_modified(|s| {
            let changed = s.store_error != store_error;
            s.store_error = store_error;
            changed
        });
        let held = match claim {
            Ok(held) => held,
            Err(error) => {
                if self.leading {
                    tracing::warn!(%error, "cannot renew the chain-work lease");
                }
                false
            }
        };
        if held != self.leading {
            self.leading = held;
            if held {
                tracing::info!("this server leads the chain work: it answers close requests");
            } else {
                // Attempts under way finish: each only ever replaces its own transaction (one
                // nonce), so it cannot cost a second close; none starts here from now on.
                tracing::warn!("this server no longer leads the chain work; another answers close requests");
                self.answered.clear();
                self.reloaded.clear();
            }
            ctx.status.send_modify(|s| s.chain_work = held);
        }
        held
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
        if !self.lead().await {
            return;
        }
        let at_once = self.ctx.config.close_policy == ClosePolicy::AtOnce;
        let mut requests = self.close_requests();
        if resyncing {
            for (id, balance) in &self.known_before_resync {
                requests.entry(*id).or_insert(*balance);
            }
        }
        for (id, requested) in requests {
            if self.ctx.store.is_shared() && self.reloaded.insert((id, requested)) {
                // Another server may have registered a later proof than this one's record: not
                // answered before the store says so (the next poll tries again).
                if let Err(error) = self.ctx.reload(&id).await {
                    tracing::warn!(channel = %id, %error, "cannot read the channel for its close request; trying again");
                    self.reloaded.remove(&(id, requested));
                    continue;
                }
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
