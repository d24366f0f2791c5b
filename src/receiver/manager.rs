//! The channel manager: the receiver's public facade. It starts the payment writer and the chain
//! follower over one shared context, and answers payments, cooperative closes, cash-outs and
//! listings by handing them to the part whose job they are.

use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, Bytes, U256, aliases::U192};
use serde::Serialize;
use tokio::task::JoinHandle;

use super::{
    config::ManagerConfig,
    context::Context,
    disputes::{CloseOutcome, Closer, Disputes},
    error::{CloseError, ManagerError, PaymentError, SessionError, StoreError},
    follower::Follower,
    locks::ChannelLocks,
    payments::{CheckedPayment, Payments},
    sessions::{SessionTerms, SessionUse, Sessions, SpendError},
    status::SyncStatus,
    store::{Store, StoreIdentity, StoreView},
    types::{AcceptedPayment, ChannelRecord, ChannelStatus, ChannelView},
};
use crate::{channel::ChannelId, node::NodeError};

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
    pub deposits: U256,
    /// Registered balances of open and closing channels: paid to the receiver but still in the
    /// contract (locked until the channels close).
    pub locked: U256,
    /// What settlements paid the receiver.
    pub settled_balances: U256,
}

/// The receiver's channel manager. Cheap to clone; every clone is the same manager.
#[derive(Clone)]
pub struct ChannelManager {
    ctx: Arc<Context>,
    payments: Arc<Payments>,
    sessions: Arc<Sessions>,
    closer: Closer,
    /// The per-channel locks of every paywall in front of this manager.
    paywall_locks: Arc<ChannelLocks>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl std::fmt::Debug for ChannelManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelManager").field("identity", &self.ctx.identity).finish_non_exhaustive()
    }
}

impl ChannelManager {
    /// Connects to the node, opens the store (refusing one made for another chain, contract or
    /// receiver), loads the channels, and starts following the chain and writing payments.
    pub async fn start(config: ManagerConfig) -> Result<Self, ManagerError> {
        if config.confirmations == 0 {
            return Err(ManagerError::Config("confirmations must be at least 1".into()));
        }
        if let Some(share) = config.unreachable_share
            && !(share > 0.0 && share.is_finite())
        {
            return Err(ManagerError::Config(format!("unreachable_share must be above 0, not {share}")));
        }
        let shared = config.store_url.starts_with("postgres://") || config.store_url.starts_with("postgresql://");
        if shared && config.chain_lease <= config.poll_interval * 2 {
            return Err(ManagerError::Config(format!(
                "the chain-work lease ({:?}) must be more than twice the poll interval ({:?}): its holder renews it at every poll",
                config.chain_lease, config.poll_interval
            )));
        }
        let ctx = Arc::new(Context::connect(config).await?);
        let closer = Closer::new(
            ctx.node.clone(),
            ctx.identity.receiver,
            ctx.identity.contract,
            ctx.token,
            ctx.config.tx,
            ctx.status.clone(),
            ctx.holder.clone(),
        );
        // SQLite: claims a crashed run held are this process's to serve again.
        ctx.store.reset_session_claims().await?;
        let sessions = Arc::new(Sessions::new(
            &ctx.config.receiver,
            ctx.identity.chain_id,
            ctx.identity.contract,
            ctx.store.is_shared(),
        ));
        let (payments, writer) = Payments::start(ctx.clone());
        let disputes = Disputes::new(ctx.clone(), closer.clone());
        let follower = tokio::spawn(Follower::new(ctx.clone(), disputes).run());
        let uses = tokio::spawn(write_session_uses(ctx.clone(), sessions.clone()));
        Ok(Self {
            ctx,
            payments: Arc::new(payments),
            sessions,
            closer,
            paywall_locks: Arc::default(),
            tasks: Arc::new(Mutex::new(vec![writer, follower, uses])),
        })
    }

    /// Forgets the chain-derived state of the store at `url` (for `identity`), keeping every
    /// proof and signed cooperative close: a manager started on it re-reads the chain from the
    /// deployment block. Refused for a SQLite store a running manager holds. Returns the number
    /// of channels kept.
    pub async fn resync_store(url: &str, identity: StoreIdentity) -> Result<u64, StoreError> {
        Store::open(url, identity).await?.resync().await
    }

    /// The per-channel locks every paywall in front of this manager shares.
    pub fn paywall_locks(&self) -> &ChannelLocks {
        &self.paywall_locks
    }

    /// The receiver's address.
    pub fn receiver(&self) -> Address {
        self.ctx.identity.receiver
    }

    /// The channel contract.
    pub fn contract(&self) -> Address {
        self.ctx.identity.contract
    }

    /// The token.
    pub fn token(&self) -> Address {
        self.ctx.token
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.ctx.identity.chain_id
    }

    /// The contract's challenge period, in blocks.
    pub fn challenge_period(&self) -> u32 {
        self.ctx.challenge_period
    }

    /// Confirmations a deposit needs.
    pub fn confirmations(&self) -> u64 {
        self.ctx.config.confirmations
    }

    /// The store, read-only.
    pub fn store(&self) -> StoreView {
        StoreView::new(self.ctx.store.clone(), self.receiver())
    }

    /// How far the chain is followed, and whether payments are refused now (and why).
    pub fn status(&self) -> SyncStatus {
        let mut status = self.ctx.status.borrow().clone();
        status.refusing_payments = self.ctx.state.read().expect("state lock").gate().err().map(|e| e.reason().as_str());
        status
    }

    /// Waits until the manager has seen block `block` (or a later one) and applied what it
    /// could; returns the status then.
    pub async fn wait_for_block(&self, block: u64) -> SyncStatus {
        let mut rx = self.ctx.status.subscribe();
        let status = rx.wait_for(|s| s.head >= block || s.halted.is_some()).await;
        status.map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits for the next completed poll of the node.
    pub async fn next_poll(&self) -> SyncStatus {
        let mut rx = self.ctx.status.subscribe();
        rx.borrow_and_update();
        let _ = rx.changed().await;
        rx.borrow().clone()
    }

    /// With a store shared by several servers of this receiver (PostgreSQL), brings the
    /// records up to the store's: after it, [`channel`](Self::channel), [`channels`](Self::channels),
    /// [`stats`](Self::stats) and [`record`](Self::record) show every payment any server
    /// acknowledged before the call. `Some((sender, open_block))` reads one channel, `None` every
    /// channel (one query each). Nothing to do on SQLite, whose only writer is this process.
    /// The management API calls it before each read.
    pub async fn refresh(&self, channel: Option<(Address, u32)>) -> Result<(), StoreError> {
        let id = channel.map(|(sender, open_block)| self.id(sender, open_block));
        self.ctx.read_through(id.as_ref()).await
    }

    /// The channel from `sender` opened in `open_block`, as the receiver sees it now (with a
    /// shared store, as of the last [`refresh`](Self::refresh) or payment here).
    pub fn channel(&self, sender: Address, open_block: u32) -> Option<ChannelView> {
        self.ctx.state.read().expect("state lock").view(&self.id(sender, open_block))
    }

    /// Every channel known, confirmed or not, ordered by sender and open block (with a shared
    /// store, as of the last [`refresh`](Self::refresh)).
    pub fn channels(&self) -> Vec<ChannelView> {
        self.ctx.state.read().expect("state lock").views()
    }

    /// Counts and sums over every channel (with a shared store, as of the last
    /// [`refresh`](Self::refresh)).
    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        let mut senders = std::collections::HashSet::new();
        for view in self.channels() {
            if !view.confirmed {
                stats.unconfirmed += 1;
                continue;
            }
            match view.status {
                ChannelStatus::Open => stats.open += 1,
                ChannelStatus::Closing => stats.closing += 1,
                ChannelStatus::Settled => {
                    stats.settled += 1;
                    stats.settled_balances += U256::from(view.settled_balance.unwrap_or_default());
                    continue;
                }
            }
            senders.insert(view.sender);
            stats.deposits += U256::from(view.deposit);
            stats.locked += U256::from(view.balance);
        }
        stats.senders = senders.len();
        stats
    }

    /// The receiver's liquid tokens: its token balance.
    pub async fn token_balance(&self) -> Result<U256, NodeError> {
        let call = crate::contract::bindings::ERC223Token::balanceOfCall { account: self.receiver() };
        self.ctx.node.view(self.ctx.token, &call).await
    }

    /// The durable record of a confirmed channel, with the last proof.
    pub fn record(&self, sender: Address, open_block: u32) -> Option<ChannelRecord> {
        self.ctx.state.read().expect("state lock").records.get(&self.id(sender, open_block)).cloned()
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
    ) -> Result<AcceptedPayment, PaymentError> {
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
        self.payments.check(self.id(sender, open_block), balance, signature, price).await
    }

    /// Registers a payment that [`check_payment`](Self::check_payment) accepted: the amount is
    /// checked again against the state at commit time (another payment may have come first),
    /// and the answer comes once the payment is durable.
    pub async fn commit_payment(&self, checked: CheckedPayment) -> Result<AcceptedPayment, PaymentError> {
        self.payments.commit(checked).await
    }

    /// Registers a payment that [`check_payment`](Self::check_payment) accepted for `requests`
    /// prices of `price` as the purchase of a prepaid session on `terms.scope` (in the
    /// payment's own transaction), the buying request served. Returns the payment, the
    /// session's credential (the header value) and what the session has left.
    pub async fn commit_session(
        &self,
        checked: CheckedPayment,
        terms: &SessionTerms,
        price: U192,
        requests: u32,
    ) -> Result<(AcceptedPayment, String, SessionUse), PaymentError> {
        if requests < 2 || U192::from(requests).checked_mul(price) != Some(checked.price()) {
            return Err(PaymentError::Session(SessionError::Mismatch(format!(
                "{requests} requests at {price}, not a payment of {}",
                checked.price()
            ))));
        }
        let (credential, row) = self.sessions.sell(checked.channel(), terms, price, requests, checked.balance());
        let accepted = self.payments.commit(checked.buying(row.clone())).await?;
        Ok((accepted, credential.encode(), self.sessions.sold(&row)))
    }

    /// Spends one request of a prepaid session: `credential` (the header value) must be this
    /// receiver's, unexpired, for `scope` at `price` (and for `channel`, when the client named
    /// one), its channel open, and the session not spent. No signature is checked and, while
    /// this server holds a claim on the session, nothing is read from the store.
    pub async fn spend_session(
        &self,
        credential: &str,
        scope: &str,
        price: U192,
        channel: Option<(Address, u32)>,
    ) -> Result<SessionUse, PaymentError> {
        let channel = channel.map(|(sender, open_block)| self.id(sender, open_block));
        let credential = self.sessions.check(credential, scope, price, channel).map_err(PaymentError::Session)?;
        self.ctx.state.read().expect("state lock").payable(&credential.grant.channel, self.confirmations())?;
        self.sessions.spend(&self.ctx.store, &credential).await.map_err(|error| match error {
            SpendError::Session(error) => PaymentError::Session(error),
            SpendError::Store(error) => PaymentError::Unavailable(format!("the store failed: {error}")),
        })
    }

    /// Gives back a request spent from a session that was not charged after all (its handler
    /// did not answer 2xx).
    pub fn give_back_session(&self, spent: &SessionUse) {
        self.sessions.give_back(spent);
    }

    /// What the channel from `sender` opened in `open_block` prepaid and did not use: a
    /// cooperative close at the last registered balance less this is agreed to.
    pub async fn unused_prepaid(&self, sender: Address, open_block: u32) -> Result<U192, StoreError> {
        let id = self.id(sender, open_block);
        self.ctx.read_through(Some(&id)).await?;
        let Some(balance) = self.record(sender, open_block).map(|r| r.balance) else { return Ok(U192::ZERO) };
        self.sessions.unused(&self.ctx.store, &id, balance).await
    }

    /// Signs a cooperative close: the receiver's closing agreement over `balance_signature`,
    /// only if `balance` and `balance_signature` are the last registered payment (proving the
    /// caller holds the sender's latest proof), or `balance` is lower by at most what the
    /// channel's prepaid sessions did not use ([`unused_prepaid`](Self::unused_prepaid)) and
    /// `balance_signature` is the sender's proof of it (the refund). The channel then takes no
    /// more payments, and its sessions end.
    pub async fn sign_close(
        &self,
        sender: Address,
        open_block: u32,
        balance: U192,
        balance_signature: &[u8],
    ) -> Result<Bytes, CloseError> {
        let id = self.id(sender, open_block);
        if self.ctx.store.is_shared() {
            // The latest payment may have been registered by another server.
            self.ctx.reload(&id).await.map_err(|e| CloseError::Unavailable(format!("the store failed: {e}")))?;
        }
        let last = {
            let state = self.ctx.state.read().expect("state lock");
            if let Some(reason) = &state.halted {
                return Err(CloseError::Unavailable(reason.clone()));
            }
            let record = state.records.get(&id).ok_or(CloseError::UnknownChannel { sender, open_block })?;
            if record.status == ChannelStatus::Settled {
                return Err(CloseError::Settled);
            }
            let stored = record.balance_sig.as_ref().ok_or(CloseError::NothingPaid)?;
            if record.balance == balance && stored.as_ref() == balance_signature {
                (record.balance, stored.clone())
            } else if balance < record.balance {
                let digest = self.ctx.domain.balance_digest(id.receiver, open_block, balance);
                if crate::proof::recover(digest, balance_signature).ok() != Some(sender) {
                    return Err(CloseError::InvalidProof);
                }
                (record.balance, stored.clone())
            } else {
                return Err(CloseError::NotLatest);
            }
        };
        let unavailable = |e: StoreError| CloseError::Unavailable(e.to_string());
        if balance < last.0 {
            // A refund of what prepaid sessions did not use: checked, then the sessions end
            // (nothing is served after what is counted as unused), then checked again.
            let lowest = || async {
                let unused = self.sessions.unused(&self.ctx.store, &id, last.0).await.map_err(unavailable)?;
                if unused.is_zero() {
                    return Err(CloseError::NotLatest);
                }
                Ok(last.0.saturating_sub(unused))
            };
            let before = lowest().await?;
            if balance < before {
                return Err(CloseError::BelowUnused { balance, lowest: before });
            }
            self.sessions.end(&self.ctx.store, &id).await.map_err(unavailable)?;
            let after = lowest().await?;
            if balance < after {
                return Err(CloseError::BelowUnused { balance, lowest: after });
            }
        }
        // Matched against the last registered payment: none may come in between.
        let matched = self.ctx.store.sign_close(&id, last.0, &last.1).await.map_err(unavailable)?;
        if !matched {
            return Err(CloseError::NotLatest);
        }
        self.sessions.end(&self.ctx.store, &id).await.map_err(unavailable)?;
        if let Some(record) = self.ctx.state.write().expect("state lock").records.get_mut(&id) {
            record.status = ChannelStatus::Closing;
            record.close_signed = true;
        }
        Ok(self.ctx.config.receiver.sign_digest(self.ctx.domain.closing_digest(balance_signature)))
    }

    /// Closes the channel on chain with the receiver's last proof (the receiver is paid at
    /// once), tracking the transaction until it is mined.
    pub async fn close_channel(&self, sender: Address, open_block: u32) -> Result<CloseOutcome, CloseError> {
        if self.ctx.store.is_shared() {
            // Close with the best proof any server registered, not this one's last.
            let id = self.id(sender, open_block);
            self.ctx.reload(&id).await.map_err(|e| CloseError::Unavailable(format!("the store failed: {e}")))?;
        }
        let record = self.record(sender, open_block).ok_or(CloseError::UnknownChannel { sender, open_block })?;
        self.closer.close(&self.ctx.store, &record).await
    }

    /// Closes every channel that has a registered balance and is not settled.
    /// With a shared store that cannot be read, each channel's answer is that error: none is
    /// closed with a proof another server may have bettered.
    pub async fn close_all(&self) -> Vec<(ChannelId, Result<CloseOutcome, CloseError>)> {
        // Close with the best proofs any server registered (nothing to read on SQLite).
        let read = self.ctx.read_through(None).await;
        let records: Vec<ChannelRecord> = {
            let state = self.ctx.state.read().expect("state lock");
            state
                .records
                .values()
                .filter(|r| r.balance_sig.is_some() && r.status != ChannelStatus::Settled)
                .cloned()
                .collect()
        };
        if let Err(error) = read {
            let error = CloseError::Unavailable(format!("the store failed: {error}"));
            return records.into_iter().map(|r| (r.id, Err(error.clone()))).collect();
        }
        let mut results = Vec::with_capacity(records.len());
        for record in records {
            results.push((record.id, self.closer.close(&self.ctx.store, &record).await));
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
        self.closer.stop().await;
        if let Err(error) = self.sessions.close(&self.ctx.store).await {
            tracing::warn!(%error, "sessions' last uses not written (a restart may serve them again)");
        }
        // Another server sharing the store takes the chain work at its next poll.
        if let Err(error) = self.ctx.store.release_chain_work(&self.ctx.holder).await {
            tracing::warn!(%error, "could not give the chain-work lease up; it expires by itself");
        }
    }
}

/// Writes the requests served from sessions every [`FLUSH_EVERY`](super::FLUSH_EVERY).
async fn write_session_uses(ctx: Arc<Context>, sessions: Arc<Sessions>) {
    let mut ticks = tokio::time::interval(super::FLUSH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(error) = sessions.write_uses(&ctx.store).await {
            tracing::warn!(%error, "sessions' uses not written; trying again");
        }
    }
}
