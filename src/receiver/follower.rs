//! Following the chain: the contract's four events for this receiver, confirmed blocks applied
//! durably, unconfirmed ones re-read at every poll, reorgs detected.
//!
//! At every poll, with `head` the latest block and N the confirmations:
//! 1. the block of the cursor (the last confirmed block applied) must still have the hash that
//!    was applied; otherwise a reorg deeper than N replaced confirmed history: payments stop and
//!    (by default) the chain-derived state is rebuilt by re-reading the chain from the
//!    deployment block, every proof kept; payments resume once the re-read has caught up;
//! 2. the blocks from the cursor to `head - N + 1` are confirmed: their logs are read in ranges
//!    (halved while the node refuses a range) and applied with the new cursor in one
//!    transaction, each log once (keyed by block hash and log index);
//! 3. the blocks after that are unconfirmed: their headers and logs are read again, checked
//!    to link to the cursor and to each other, and replace the pending events wholesale. So a
//!    reorg of unconfirmed blocks is rolled back and re-read by construction; the hashes of the
//!    previous poll's window tell that it happened.
//!
//! Every node request is bounded by the configured timeout (not the whole poll: a long
//! catch-up over many ranges is progress, not a stalled node).
//!
//! Close requests are answered from the state, not from the events of one poll: at startup and
//! after every poll (whether it succeeded or not), every channel with a close request, confirmed
//! or not, whose requested balance is below the receiver's last proof (or equal, under
//! [`ClosePolicy::AtOnce`]) is handed to the closer, which retries with backoff until the
//! channel is settled.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::rpc::types::{Filter, Log};
use alloy_primitives::{U256, aliases::U192};
use alloy_sol_types::SolEventInterface;

use super::{
    config::ClosePolicy,
    error::ManagerError,
    manager::{Inner, LowFunds, reload},
    rules::{CloseAction, on_close_request},
    store::{Cursor, unix_now},
    types::{ChainEvent, ChainUpdate, ChannelStatus},
};
use crate::{
    channel::ChannelId,
    contract::ChannelsEvent,
    node::{BlockRef, NodeError},
};

/// The longest wait between polls while the node fails.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Polls between two checks of the receiver's ether.
const FUNDS_CHECK_EVERY: u64 = 20;

/// Why a poll ended early.
#[derive(Debug)]
enum PollError {
    /// The node failed: try again later.
    Node(NodeError),
    /// The node's answers did not fit together (a reorg while reading): read again.
    Inconsistent(String),
    /// Confirmed history changed: stop, or re-read the chain.
    Fatal(ManagerError),
    /// The store failed: try again later.
    Store(super::error::StoreError),
}

impl From<NodeError> for PollError {
    fn from(error: NodeError) -> Self {
        PollError::Node(error)
    }
}

impl From<super::error::StoreError> for PollError {
    fn from(error: super::error::StoreError) -> Self {
        PollError::Store(error)
    }
}

pub(crate) struct Follower {
    inner: Arc<Inner>,
    /// The unconfirmed blocks of the last poll.
    window: Vec<BlockRef>,
    /// Close requests the receiver decided to leave to the sender's settlement (logged once).
    answered: HashMap<ChannelId, U192>,
    /// Close requests for which a shared store's record was reloaded already.
    reloaded: HashSet<(ChannelId, U192)>,
    /// Whether the chain is being re-read after a deep reorg (payments halted until it is).
    resyncing: bool,
    /// The close requests known before the re-read (id → requested balance), answered until it
    /// has caught up: the re-read forgets them until it reaches their blocks. Disputing one
    /// that a reorg removed only closes the channel with our proof.
    known_before_resync: HashMap<ChannelId, U192>,
    polls: u64,
}

impl Follower {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self {
            inner,
            window: Vec::new(),
            answered: HashMap::new(),
            reloaded: HashSet::new(),
            resyncing: false,
            known_before_resync: HashMap::new(),
            polls: 0,
        }
    }

    /// Polls until stopped: at the configured interval while the node answers, backing off
    /// (doubling up to 30 s) while it fails. After every poll, close requests are answered from
    /// the state.
    pub(crate) async fn run(mut self) {
        let interval = self.inner.config.poll_interval;
        let mut wait = interval;
        // With a WebSocket, a new block wakes the follower at once; the interval stays the
        // longest wait (and the only one, should the subscription fail).
        let mut blocks = match self.inner.node.subscriptions() {
            true => match self.inner.node.new_blocks().await {
                Ok(subscription) => Some(subscription),
                Err(error) => {
                    tracing::warn!(%error, "no subscription to new blocks; polling");
                    None
                }
            },
            false => None,
        };
        let resume = self.inner.state.read().expect("state lock").cursor;
        match resume {
            Some(c) => tracing::info!(block = c.block + 1, "following the chain from where the store stopped"),
            None => {
                tracing::info!(block = self.inner.config.deployment_block, "following the chain from the deployment")
            }
        }
        // Close requests stored before a restart are answered before anything else.
        self.answer_close_requests().await;
        // Set when a deep reorg halted payments for good (no automatic re-read): close requests
        // already known are still answered, nothing new is read.
        let mut stopped = false;
        loop {
            let result = if stopped { Ok(()) } else { self.poll().await };
            match result {
                Ok(()) => {
                    wait = interval;
                    if self.resyncing && !stopped {
                        self.resyncing = false;
                        self.known_before_resync.clear();
                        tracing::info!("the chain is re-read: payments resume");
                        self.inner.state.write().expect("state lock").halted = None;
                        self.inner.status.send_modify(|s| s.halted = None);
                    }
                }
                Err(PollError::Fatal(error)) => {
                    let reason = error.to_string();
                    tracing::error!(%reason, "payments stopped");
                    self.inner.state.write().expect("state lock").halted = Some(reason.clone());
                    self.inner.status.send_modify(|s| s.halted = Some(reason));
                    if self.inner.config.resync_on_deep_reorg {
                        match self.resync().await {
                            Ok(kept) => {
                                tracing::warn!(
                                    channels = kept,
                                    "re-reading the chain from the deployment block, every proof kept"
                                );
                                self.inner.status.send_modify(|s| s.resyncs += 1);
                            }
                            Err(error) => {
                                tracing::error!(%error, "resetting the chain-derived state failed; trying again")
                            }
                        }
                        wait = interval;
                    } else {
                        stopped = true;
                    }
                }
                Err(PollError::Inconsistent(why)) => {
                    tracing::info!(%why, "the chain changed while it was read; reading again");
                    wait = interval;
                }
                Err(PollError::Node(error)) => {
                    tracing::warn!(%error, retry_in = ?wait, "node unreachable; payments on confirmed channels continue");
                    self.inner.status.send_modify(|s| {
                        s.node_reachable = false;
                        s.last_error = Some(error.to_string());
                    });
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
                Err(PollError::Store(error)) => {
                    tracing::error!(%error, "store failed while applying the chain");
                    self.inner.status.send_modify(|s| s.last_error = Some(format!("store: {error}")));
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
            }
            // Whatever the poll did: what it applied before failing counts too.
            self.answer_close_requests().await;
            match blocks.as_mut() {
                Some(subscription) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        next = subscription.recv() => if next.is_err() {
                            tracing::warn!("the subscription to new blocks ended; polling");
                            blocks = None;
                        },
                    }
                }
                None => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Forgets the chain-derived state (store and memory), keeping every proof: the next polls
    /// re-read the chain from the deployment block.
    async fn resync(&mut self) -> Result<u64, super::error::StoreError> {
        let known = self.close_requests();
        self.known_before_resync.extend(known);
        let kept = self.inner.store.resync().await?;
        let records = self.inner.store.channels(self.inner.identity.receiver).await?;
        {
            let mut state = self.inner.state.write().expect("state lock");
            state.records = records.into_iter().map(|r| (r.id, r)).collect();
            state.cursor = None;
            state.set_pending(Vec::new());
        }
        self.window.clear();
        self.reloaded.clear();
        self.resyncing = true;
        Ok(kept)
    }

    async fn poll(&mut self) -> Result<(), PollError> {
        let head = self.inner.node.head().await?;
        let confirmations = self.inner.config.confirmations;
        let mut cursor = self.inner.state.read().expect("state lock").cursor;
        if let Some(c) = cursor {
            let now = self.inner.node.block(c.block).await?.hash;
            if now != c.hash {
                return Err(PollError::Fatal(ManagerError::DeepReorg { block: c.block, stored: c.hash, now }));
            }
        }
        let start = cursor.map_or(self.inner.config.deployment_block, |c| c.block + 1);
        if let Some(last_confirmed) = (head + 1).checked_sub(confirmations) {
            let mut from = start;
            while from <= last_confirmed {
                let to = last_confirmed.min(from.saturating_add(self.inner.config.max_log_range - 1));
                let (logs, to) = self.logs(from, to).await?;
                let end = self.inner.node.block(to).await?;
                let events = self.decode(&logs)?;
                let new_cursor = Cursor { block: to, hash: end.hash };
                self.inner.store.apply_confirmed(&events, new_cursor).await?;
                // All of them, not only those this process applied first: with a shared store,
                // another server may have written some, and the in-memory records need them too.
                self.apply_to_state(&events, new_cursor);
                cursor = Some(new_cursor);
                from = to + 1;
                if self.resyncing {
                    // A re-read is one long poll: the close requests known before it (and those
                    // re-read so far) are answered as it goes, not only once it is done.
                    self.answer_close_requests().await;
                }
            }
        }
        let (pending, reorged) = self.read_unconfirmed(cursor, head).await?;
        {
            let mut state = self.inner.state.write().expect("state lock");
            state.head = head;
            state.set_pending(pending);
            state.last_contact = Some(Instant::now());
        }
        // One update, once the state is consistent: whoever sees the new head or the reorg
        // counted also sees the events re-read.
        self.inner.status.send_modify(|s| {
            s.head = head;
            s.synced_block = cursor.map(|c| c.block);
            s.reorgs += u64::from(reorged);
            s.node_reachable = true;
            s.last_error = None;
        });
        self.polls += 1;
        if self.polls % FUNDS_CHECK_EVERY == 1 {
            self.check_funds().await;
        }
        Ok(())
    }

    /// Reads the blocks after `cursor` up to `head` (all unconfirmed) and their events; checks
    /// that they link up and tells whether the window changed under blocks seen before (a
    /// reorg).
    async fn read_unconfirmed(
        &mut self,
        cursor: Option<Cursor>,
        head: u64,
    ) -> Result<(Vec<ChainEvent>, bool), PollError> {
        let from = cursor.map_or(self.inner.config.deployment_block, |c| c.block + 1);
        if from > head {
            self.window.clear();
            return Ok((Vec::new(), false));
        }
        let mut window = Vec::with_capacity((head - from + 1) as usize);
        for number in from..=head {
            window.push(self.inner.node.block(number).await?);
        }
        let mut parent = cursor.map(|c| c.hash);
        for block in &window {
            if parent.is_some_and(|p| p != block.parent) {
                return Err(PollError::Inconsistent(format!(
                    "block {} does not extend the block before it",
                    block.number
                )));
            }
            parent = Some(block.hash);
        }
        let (logs, _) = self.logs(from, head).await?;
        for log in &logs {
            let expected = log.block_number.and_then(|n| window.get((n - from) as usize)).map(|b| b.hash);
            if log.block_hash.is_none() || log.block_hash != expected {
                return Err(PollError::Inconsistent("a log of a block that is no longer on the chain".into()));
            }
        }
        let replaced = self
            .window
            .iter()
            .filter(|old| window.iter().any(|new| new.number == old.number && new.hash != old.hash))
            .count();
        let events = self.decode(&logs)?;
        if replaced > 0 {
            tracing::warn!(depth = replaced, "reorg of unconfirmed blocks: pending events re-read");
        }
        self.window = window;
        Ok((events, replaced > 0))
    }

    /// The contract's logs for this receiver in `from..=to`, halving the range while the node
    /// refuses it. Returns the logs and the last block they cover.
    async fn logs(&self, from: u64, to: u64) -> Result<(Vec<Log>, u64), PollError> {
        let mut to = to;
        loop {
            let filter = Filter::new()
                .address(self.inner.identity.contract)
                .topic2(self.inner.identity.receiver.into_word())
                .from_block(from)
                .to_block(to);
            match self.inner.node.logs(&filter).await {
                Ok(logs) => return Ok((logs, to)),
                Err(NodeError::Refused(why)) if to > from => {
                    tracing::debug!(%why, from, to, "log range refused; halving it");
                    to = from + (to - from) / 2;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// The logs as channel events; logs of other events (none today) are skipped.
    fn decode(&self, logs: &[Log]) -> Result<Vec<ChainEvent>, PollError> {
        let receiver = self.inner.identity.receiver;
        let mut events = Vec::with_capacity(logs.len());
        for log in logs {
            let (Some(block), Some(block_hash), Some(log_index)) = (log.block_number, log.block_hash, log.log_index)
            else {
                return Err(PollError::Inconsistent("a log without its block".into()));
            };
            let event = ChannelsEvent::decode_log(&log.inner)
                .map_err(|e| PollError::Node(NodeError::Refused(format!("undecodable log: {e}"))))?
                .data;
            let id = |sender, open_block| ChannelId { sender, receiver, open_block };
            let update = match event {
                ChannelsEvent::ChannelCreated(e) => {
                    let Ok(open_block) = u32::try_from(block) else { continue };
                    ChainUpdate::Opened { id: id(e._sender, open_block), deposit: e._deposit }
                }
                ChannelsEvent::ChannelToppedUp(e) => ChainUpdate::ToppedUp {
                    id: id(e._sender, e._open_block_number),
                    added: e._added_deposit,
                    deposit: e._deposit,
                },
                ChannelsEvent::ChannelCloseRequested(e) => ChainUpdate::CloseRequested {
                    id: id(e._sender, e._open_block_number),
                    balance: e._balance,
                    settle_block: block + u64::from(self.inner.challenge_period),
                },
                ChannelsEvent::ChannelSettled(e) => {
                    ChainUpdate::Settled { id: id(e._sender, e._open_block_number), balance: e._balance }
                }
                _ => continue,
            };
            events.push(ChainEvent { block, block_hash, log_index, update });
        }
        Ok(events)
    }

    /// Mirrors confirmed events in the in-memory records (each change is idempotent: an
    /// opening is inserted once, the others set absolute values).
    fn apply_to_state(&self, applied: &[ChainEvent], cursor: Cursor) {
        let now = unix_now();
        let mut state = self.inner.state.write().expect("state lock");
        for event in applied {
            match event.update {
                ChainUpdate::Opened { id, deposit } => {
                    // A record kept through a re-read after a deep reorg gets its deposit back.
                    state
                        .records
                        .entry(id)
                        .and_modify(|record| record.deposit = deposit)
                        .or_insert_with(|| super::types::ChannelRecord::opened(id, deposit, now));
                }
                update => {
                    if let Some(record) = state.records.get_mut(&update.channel()) {
                        record.apply(&update, now);
                    } else {
                        tracing::warn!(channel = %update.channel(), "event for a channel never opened here");
                    }
                }
            }
        }
        state.cursor = Some(cursor);
    }

    /// Answers every close request the state knows of (confirmed, or in the unconfirmed blocks
    /// of the last poll): one below the receiver's last proof is disputed, an equal one closed
    /// at once under [`ClosePolicy::AtOnce`]. The closer keeps one attempt per channel and
    /// backs off after failures, so asking at every poll retries a failed dispute until the
    /// channel is settled.
    async fn answer_close_requests(&mut self) {
        let at_once = self.inner.config.close_policy == ClosePolicy::AtOnce;
        let mut requests = self.close_requests();
        if self.resyncing {
            for (id, balance) in &self.known_before_resync {
                requests.entry(*id).or_insert(*balance);
            }
        }
        for (id, requested) in requests {
            if self.inner.store.is_shared() && self.reloaded.insert((id, requested)) {
                // Another server may have registered a later proof than this one's record.
                reload(&self.inner, &id).await;
            }
            let Some(record) = self.inner.state.read().expect("state lock").records.get(&id).cloned() else { continue };
            if record.status == ChannelStatus::Settled {
                continue;
            }
            if on_close_request(requested, record.balance, at_once) == CloseAction::CloseNow {
                self.inner.closer.ensure(self.inner.store.clone(), record);
            } else if self.answered.insert(id, requested) != Some(requested) {
                tracing::info!(channel = %id, %requested, ours = %record.balance, "close request accepted; waiting for the settlement");
            }
        }
    }

    /// Every close request the state knows of, confirmed or pending, on a channel not settled
    /// (nor settling in the unconfirmed blocks).
    fn close_requests(&self) -> HashMap<ChannelId, U192> {
        let state = self.inner.state.read().expect("state lock");
        let mut requests: HashMap<ChannelId, U192> = state
            .records
            .values()
            .filter(|r| r.status == ChannelStatus::Closing)
            .filter_map(|r| r.closing_balance.map(|balance| (r.id, balance)))
            .collect();
        let mut settling = HashSet::new();
        for event in &state.pending {
            match event.update {
                ChainUpdate::CloseRequested { id, balance, .. } => {
                    requests.insert(id, balance);
                }
                ChainUpdate::Settled { id, .. } => {
                    settling.insert(id);
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
    async fn check_funds(&self) {
        let receiver = self.inner.identity.receiver;
        let (Ok(balance), Ok(fees)) = (self.inner.node.ether(receiver).await, self.inner.closer.fees().await) else {
            return;
        };
        let needed = U256::from(fees.max_fee_per_gas) * U256::from(self.inner.config.tx.close_gas);
        let low = (balance < needed).then_some(LowFunds { balance, needed });
        if let Some(low) = &low {
            tracing::warn!(balance = %low.balance, needed = %low.needed, "the receiver cannot pay for a close transaction: fund it");
        }
        // Only a change is published: waiters for the next poll should not wake for this.
        self.inner.status.send_if_modified(|s| {
            let changed = s.low_funds != low;
            s.low_funds = low;
            changed
        });
    }
}
