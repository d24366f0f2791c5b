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
//! The follower only reads the chain into the store and the state. At startup and after every
//! poll (whether it succeeded or not) it hands over to the [`Disputes`], which answer close
//! requests from the state, not from the events of one poll.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::rpc::types::{Filter, Log};
use alloy_sol_types::SolEventInterface;

use super::{
    context::Context,
    disputes::Disputes,
    error::{ManagerError, StoreError},
    store::{Cursor, unix_now},
    types::{ChainEvent, ChannelRecord},
};
use crate::{
    channel::ChannelEvent,
    contract::{ChannelsEvent, channel_event},
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
    Store(StoreError),
}

impl From<NodeError> for PollError {
    fn from(error: NodeError) -> Self {
        PollError::Node(error)
    }
}

impl From<StoreError> for PollError {
    fn from(error: StoreError) -> Self {
        PollError::Store(error)
    }
}

pub(crate) struct Follower {
    ctx: Arc<Context>,
    /// What answers the close requests the follower reads.
    disputes: Disputes,
    /// The unconfirmed blocks of the last poll.
    window: Vec<BlockRef>,
    /// Whether the chain is being re-read after a deep reorg (payments halted until it is).
    resyncing: bool,
    polls: u64,
}

impl Follower {
    pub(crate) fn new(ctx: Arc<Context>, disputes: Disputes) -> Self {
        Self { ctx, disputes, window: Vec::new(), resyncing: false, polls: 0 }
    }

    /// Polls until stopped: at the configured interval while the node answers, backing off
    /// (doubling up to 30 s) while it fails. After every poll, close requests are answered from
    /// the state.
    pub(crate) async fn run(mut self) {
        let interval = self.ctx.config.poll_interval;
        let mut wait = interval;
        // With a WebSocket, a new block wakes the follower at once; the interval stays the
        // longest wait (and the only one, should the subscription fail).
        let mut blocks = match self.ctx.node.subscriptions() {
            true => match self.ctx.node.new_blocks().await {
                Ok(subscription) => Some(subscription),
                Err(error) => {
                    tracing::warn!(%error, "no subscription to new blocks; polling");
                    None
                }
            },
            false => None,
        };
        let resume = self.ctx.state.read().expect("state lock").cursor;
        match resume {
            Some(c) => tracing::info!(block = c.block + 1, "following the chain from where the store stopped"),
            None => {
                tracing::info!(block = self.ctx.config.deployment_block, "following the chain from the deployment")
            }
        }
        // Close requests stored before a restart are answered before anything else.
        self.disputes.answer_close_requests(self.resyncing).await;
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
                        self.disputes.resync_done();
                        tracing::info!("the chain is re-read: payments resume");
                        self.ctx.state.write().expect("state lock").halted = None;
                        self.ctx.status.send_modify(|s| s.halted = None);
                    }
                }
                Err(PollError::Fatal(error)) => {
                    let reason = error.to_string();
                    tracing::error!(%reason, "payments stopped");
                    self.ctx.state.write().expect("state lock").halted = Some(reason.clone());
                    self.ctx.status.send_modify(|s| s.halted = Some(reason));
                    if self.ctx.config.resync_on_deep_reorg {
                        match self.resync().await {
                            Ok(kept) => {
                                tracing::warn!(
                                    channels = kept,
                                    "re-reading the chain from the deployment block, every proof kept"
                                );
                                self.ctx.status.send_modify(|s| s.resyncs += 1);
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
                    self.ctx.status.send_modify(|s| {
                        s.node_reachable = false;
                        s.last_error = Some(error.to_string());
                    });
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
                Err(PollError::Store(error)) => {
                    tracing::error!(%error, "store failed while applying the chain");
                    self.ctx.status.send_modify(|s| s.last_error = Some(format!("store: {error}")));
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
            }
            // Whatever the poll did: what it applied before failing counts too.
            self.disputes.answer_close_requests(self.resyncing).await;
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
    async fn resync(&mut self) -> Result<u64, StoreError> {
        self.disputes.remember_close_requests();
        let kept = self.ctx.store.resync().await?;
        let records = self.ctx.store.channels(self.ctx.identity.receiver).await?;
        {
            let mut state = self.ctx.state.write().expect("state lock");
            state.records = records.into_iter().map(|r| (r.id, r)).collect();
            state.cursor = None;
            state.set_pending(Vec::new());
        }
        self.window.clear();
        self.disputes.forget_reloads();
        self.resyncing = true;
        Ok(kept)
    }

    async fn poll(&mut self) -> Result<(), PollError> {
        let head = self.ctx.node.head().await?;
        let confirmations = self.ctx.config.confirmations;
        let mut cursor = self.ctx.state.read().expect("state lock").cursor;
        if let Some(c) = cursor {
            let now = self.ctx.node.block(c.block).await?.hash;
            if now != c.hash {
                return Err(PollError::Fatal(ManagerError::DeepReorg { block: c.block, stored: c.hash, now }));
            }
        }
        let start = cursor.map_or(self.ctx.config.deployment_block, |c| c.block + 1);
        if let Some(last_confirmed) = (head + 1).checked_sub(confirmations) {
            let mut from = start;
            while from <= last_confirmed {
                let to = last_confirmed.min(from.saturating_add(self.ctx.config.max_log_range - 1));
                let (logs, to) = self.logs(from, to).await?;
                let end = self.ctx.node.block(to).await?;
                let events = self.decode(&logs)?;
                let new_cursor = Cursor { block: to, hash: end.hash };
                // One clock read stamps the rows and the in-memory records alike.
                let now = unix_now();
                self.ctx.store.apply_confirmed(&events, new_cursor, now).await?;
                // All of them, not only those this process applied first: with a shared store,
                // another server may have written some, and the in-memory records need them too.
                self.apply_to_state(&events, new_cursor, now);
                cursor = Some(new_cursor);
                from = to + 1;
                if self.resyncing {
                    // A re-read is one long poll: the close requests known before it (and those
                    // re-read so far) are answered as it goes, not only once it is done.
                    self.disputes.answer_close_requests(self.resyncing).await;
                }
            }
        }
        let (pending, reorged) = self.read_unconfirmed(cursor, head).await?;
        {
            let mut state = self.ctx.state.write().expect("state lock");
            state.head = head;
            state.set_pending(pending);
            state.last_contact = Some(Instant::now());
        }
        // One update, once the state is consistent: whoever sees the new head or the reorg
        // counted also sees the events re-read.
        self.ctx.status.send_modify(|s| {
            s.head = head;
            s.synced_block = cursor.map(|c| c.block);
            s.reorgs += u64::from(reorged);
            s.node_reachable = true;
            s.last_error = None;
        });
        self.polls += 1;
        if self.polls % FUNDS_CHECK_EVERY == 1 {
            self.disputes.check_funds().await;
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
        let from = cursor.map_or(self.ctx.config.deployment_block, |c| c.block + 1);
        if from > head {
            self.window.clear();
            return Ok((Vec::new(), false));
        }
        let mut window = Vec::with_capacity((head - from + 1) as usize);
        for number in from..=head {
            window.push(self.ctx.node.block(number).await?);
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
                .address(self.ctx.identity.contract)
                .topic2(self.ctx.identity.receiver.into_word())
                .from_block(from)
                .to_block(to);
            match self.ctx.node.logs(&filter).await {
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
        let mut events = Vec::with_capacity(logs.len());
        for log in logs {
            let (Some(block), Some(block_hash), Some(log_index)) = (log.block_number, log.block_hash, log.log_index)
            else {
                return Err(PollError::Inconsistent("a log without its block".into()));
            };
            let event = ChannelsEvent::decode_log(&log.inner)
                .map_err(|e| PollError::Node(NodeError::Refused(format!("undecodable log: {e}"))))?
                .data;
            // Logs of other events, and an opening in a block above 2^32, change no channel.
            let Some((id, change)) = channel_event(&event, block, self.ctx.challenge_period) else { continue };
            events.push(ChainEvent { block, block_hash, log_index, id, change });
        }
        Ok(events)
    }

    /// Mirrors confirmed events in the in-memory records (each change is idempotent: an
    /// opening is inserted once, the others set absolute values).
    fn apply_to_state(&self, applied: &[ChainEvent], cursor: Cursor, now: i64) {
        let mut state = self.ctx.state.write().expect("state lock");
        for event in applied {
            match event.change {
                ChannelEvent::Opened { deposit } => {
                    // A record kept through a re-read after a deep reorg gets its deposit back.
                    state
                        .records
                        .entry(event.id)
                        .and_modify(|record| record.deposit = deposit)
                        .or_insert_with(|| ChannelRecord::opened(event.id, deposit, now));
                }
                change => {
                    if let Some(record) = state.records.get_mut(&event.id) {
                        record.apply(&change, now);
                    } else {
                        tracing::warn!(channel = %event.id, "event for a channel never opened here");
                    }
                }
            }
        }
        state.cursor = Some(cursor);
    }
}
