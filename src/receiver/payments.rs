//! The payment writer: the paid-request path. A payment is checked (the state, then the proof,
//! then the amount), queued, and committed in batches by one writer task, which checks it again
//! against the state at commit time, persists it, and answers once it is durable.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use alloy_primitives::{Bytes, aliases::U192};
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};

use super::{
    context::Context,
    error::PaymentError,
    rules::check_amount,
    store::{PaymentWrite, SessionRow},
    types::AcceptedPayment,
};
use crate::{channel::ChannelId, proof::ProofVerifier};

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

    /// The same payment buying the prepaid session `row` (written in its transaction).
    pub(crate) fn buying(mut self, row: SessionRow) -> Self {
        self.write.session = Some(row);
        self
    }
}

/// A payment waiting for the writer.
struct Job {
    write: PaymentWrite,
    price: U192,
    reply: oneshot::Sender<Result<AcceptedPayment, PaymentError>>,
    /// Whether the channel was reloaded from a shared store for this payment already.
    reloaded: bool,
}

/// The payment writer's front: checks payments and queues them for the writer task.
pub(crate) struct Payments {
    ctx: Arc<Context>,
    /// One for every task: proofs are checked in parallel, the key cache shared.
    verifier: ProofVerifier,
    jobs: mpsc::Sender<Job>,
    /// Unknown channels a shared store did not have either, lately.
    misses: Mutex<Misses>,
    /// One store read at a time for a payment on an unknown channel.
    unknown_reads: tokio::sync::Semaphore,
}

impl Payments {
    /// The payment writer over `ctx`, and its writer task.
    pub(crate) fn start(ctx: Arc<Context>) -> (Self, JoinHandle<()>) {
        let (jobs, job_rx) = mpsc::channel(4 * MAX_BATCH);
        let writer = tokio::spawn(write_payments(ctx.clone(), job_rx));
        let payments = Self {
            ctx,
            verifier: ProofVerifier::new(),
            jobs,
            misses: Mutex::default(),
            unknown_reads: tokio::sync::Semaphore::new(1),
        };
        (payments, writer)
    }

    /// Checks a payment without registering it: every rule against the current state, the
    /// balance proof included (with a shared store, the channel is reloaded first).
    pub(crate) async fn check(
        &self,
        id: ChannelId,
        balance: U192,
        signature: &[u8],
        price: U192,
    ) -> Result<CheckedPayment, PaymentError> {
        let (sender, open_block) = (id.sender, id.open_block);
        // With a shared store, other servers may have registered payments on this channel
        // since this one last looked: a refusal that may come from a stale record is checked
        // again after reloading it. An acceptance needs no reload: the store's conditional
        // write refuses a payment that extends a stale balance, and the writer says why.
        let shared = self.ctx.store.is_shared();
        let mut reloaded = false;
        let digest = self.ctx.domain.balance_digest(id.receiver, open_block, balance);
        let payable =
            || self.ctx.state.read().expect("state lock").payable(&id, self.ctx.config.confirmations).map(|_| ());
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
                self.verifier.recover(digest, signature).map_err(|e| PaymentError::InvalidProof(e.into()))?;
            if signer != sender {
                return Err(PaymentError::InvalidProof(crate::proof::VerifyError::WrongSigner(signer)));
            }
            if !self.may_exist(&id) || self.misses.lock().expect("misses lock").contains(&id) {
                return Err(refusal);
            }
            let Ok(_read) = self.unknown_reads.try_acquire() else { return Err(refusal) };
            self.ctx.reload(&id).await.map_err(store_failed)?;
            reloaded = true;
            if let Err(refusal) = payable() {
                if matches!(refusal, PaymentError::UnknownChannel { .. }) {
                    self.misses.lock().expect("misses lock").insert(id);
                }
                return Err(refusal);
            }
        }
        // The proof first: a refusal for the amount returns the last proof, which only the
        // sender may learn (with it, anyone could ask for a cooperative close).
        self.verifier.verify_known(sender, digest, signature).map_err(PaymentError::InvalidProof)?;
        let amount = || {
            let state = self.ctx.state.read().expect("state lock");
            let record = state.payable(&id, self.ctx.config.confirmations)?;
            check_amount(record, record.balance, record.balance_sig.as_ref(), balance, price)
        };
        match amount() {
            Err(refusal) if shared && !reloaded && may_be_stale(&refusal) => {
                self.ctx.reload(&id).await.map_err(store_failed)?;
                amount()?;
            }
            result => result?,
        }
        Ok(CheckedPayment {
            write: PaymentWrite {
                id,
                previous: U192::ZERO,
                balance,
                signature: Bytes::copy_from_slice(signature),
                session: None,
            },
            price,
        })
    }

    /// Registers a payment that [`Payments::check`] accepted: the amount is checked again
    /// against the state at commit time (another payment may have come first), and the answer
    /// comes once the payment is durable.
    pub(crate) async fn commit(&self, checked: CheckedPayment) -> Result<AcceptedPayment, PaymentError> {
        let (reply, answer) = oneshot::channel();
        let unavailable = || PaymentError::Unavailable("the manager is shutting down".into());
        let job = Job { write: checked.write, price: checked.price, reply, reloaded: false };
        self.jobs.send(job).await.map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }

    /// Whether a channel unknown here could have been applied by another server of a shared
    /// store: only if it opened after the last block this server's follower applied (every
    /// confirmed opening up to there is in its records) and not after the latest block seen.
    fn may_exist(&self, id: &ChannelId) -> bool {
        let state = self.ctx.state.read().expect("state lock");
        let open = u64::from(id.open_block);
        state.cursor.is_none_or(|c| open > c.block) && open <= state.head.max(state.cursor.map_or(0, |c| c.block))
    }
}

/// A payment the store could not take (or read for): unavailable, the store named.
fn store_failed(error: impl std::fmt::Display) -> PaymentError {
    PaymentError::Unavailable(format!("the store failed: {error}"))
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

/// The payment writer: takes queued payments in batches, checks each against the state (and
/// the earlier ones of its batch), commits the accepted ones in one transaction, then updates
/// the state and answers. One writer per manager, so payments on a channel are serialised.
async fn write_payments(ctx: Arc<Context>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let stale = commit_batch(&ctx, std::mem::take(&mut batch)).await;
        if !stale.is_empty() {
            let mut reloaded = Vec::with_capacity(stale.len());
            for job in stale {
                match ctx.reload(&job.write.id).await {
                    Ok(()) => reloaded.push(job),
                    // Not a refusal with a balance the store may have moved past.
                    Err(error) => {
                        let _ = job.reply.send(Err(store_failed(error)));
                    }
                }
            }
            let unanswerable = commit_batch(&ctx, reloaded).await;
            debug_assert!(unanswerable.is_empty(), "reloaded jobs are answered");
        }
    }
}

/// Checks and commits a batch; answers every job except those whose refusal may come from a
/// stale record of a shared store, which are returned to be reloaded and checked once more.
async fn commit_batch(ctx: &Context, batch: Vec<Job>) -> Vec<Job> {
    let shared = ctx.store.is_shared();
    let mut stale = Vec::new();
    let mut accepted: Vec<(Job, AcceptedPayment)> = Vec::with_capacity(batch.len());
    {
        let state = ctx.state.read().expect("state lock");
        // Balances accepted earlier in this batch, not committed yet.
        let mut provisional: HashMap<ChannelId, (U192, Bytes)> = HashMap::new();
        for mut job in batch {
            let verdict = state.payable(&job.write.id, ctx.config.confirmations).and_then(|record| {
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
                    let payment = AcceptedPayment { id: job.write.id, amount: job.price, balance: job.write.balance };
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
    match ctx.store.commit_payments(&writes).await {
        Ok(written) => {
            for ((job, payment), written) in accepted.into_iter().zip(written) {
                let answer = if written {
                    if let Some(record) = ctx.state.write().expect("state lock").records.get_mut(&job.write.id) {
                        record.balance = job.write.balance;
                        record.balance_sig = Some(job.write.signature.clone());
                    }
                    Ok(payment)
                } else {
                    Err(refused_by_store(ctx, &job).await)
                };
                let _ = job.reply.send(answer);
            }
        }
        Err(error) => {
            tracing::error!(%error, "payments not stored");
            for (job, _) in accepted {
                let _ = job.reply.send(Err(store_failed(&error)));
            }
        }
    }
    stale
}

/// The store refused a payment the state accepted: another server changed the channel. Reload
/// it and say why, with the fresh state.
async fn refused_by_store(ctx: &Context, job: &Job) -> PaymentError {
    let fresh = match ctx.store.channel(&job.write.id).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            return PaymentError::UnknownChannel { sender: job.write.id.sender, open_block: job.write.id.open_block };
        }
        Err(error) => return store_failed(error),
    };
    let mut state = ctx.state.write().expect("state lock");
    let record = state.records.entry(fresh.id).or_insert_with(|| fresh.clone());
    record.balance = fresh.balance;
    record.balance_sig = fresh.balance_sig.clone();
    record.status = fresh.status;
    record.deposit = fresh.deposit;
    let record = record.clone();
    match state.payable(&job.write.id, ctx.config.confirmations) {
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
