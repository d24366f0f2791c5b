//! The one way to send a transaction: estimate (nothing is sent if it would revert), price,
//! number, sign and send, re-send with the same nonce and higher fees while it is not mined,
//! and wait for its receipt. Every node request is bounded by the node's timeout
//! ([`Node::with_timeout`]), the waits by the [`Resend`] policy.
//!
//! - Nonces come from one count per [`TxSender`] ([`Nonce::Next`]), read from the node once and
//!   again only after a failed send, so any number of transactions sent at once each get their
//!   own; or from the node at each send ([`Nonce::Pending`]); or from the caller
//!   ([`Nonce::Exact`]: recorded before sending).
//! - What was sent is an [`InFlight`] the caller keeps: an attempt that gave up (the node went
//!   away, nothing was mined in time) hands it to the next, which replaces the transaction
//!   (same nonce, higher fees) rather than queueing a second one behind it.

use std::time::{Duration, Instant};

use alloy::{
    eips::eip1559::Eip1559Estimation,
    network::TransactionBuilder,
    providers::Provider,
    rpc::types::{TransactionReceipt, TransactionRequest},
};
use alloy_primitives::{Address, B256};

use super::{Node, NodeError};
use crate::contract::Revert;

/// How often a sent transaction's receipt is asked for.
const RECEIPT_POLL: Duration = Duration::from_millis(250);

/// How long a sent transaction may wait to be mined, and what happens then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resend {
    /// How long a transaction may stay unmined before it is re-sent with higher fees (after the
    /// last re-send: before the sender gives up with [`SendError::NotMined`]).
    pub stuck_after: Duration,
    /// Fee increase of each re-send, in percent (plus one wei; nodes want at least 10).
    pub fee_bump_percent: u64,
    /// How many times a stuck transaction is re-sent.
    pub max_resends: u32,
}

impl Resend {
    /// Waits up to `wait` for the receipt and never re-sends.
    pub fn never(wait: Duration) -> Self {
        Self { stuck_after: wait, fee_bump_percent: 0, max_resends: 0 }
    }

    /// `fee` raised by one bump.
    fn bump(&self, fee: u128) -> u128 {
        fee + fee * u128::from(self.fee_bump_percent) / 100 + 1
    }
}

/// Which nonce a new transaction is sent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nonce {
    /// The next of the [`TxSender`]'s own count: read from the node (pending transactions
    /// included) when there is none, then counted up with each send; read again after a failed
    /// send (the node may or may not have taken it) and after [`TxSender::forget`].
    Next,
    /// The node's count of the account's transactions, pending included, read just before the
    /// send: for an account that other programs send from too.
    Pending,
    /// This one: a nonce recorded before sending, or that of a transaction this one replaces.
    /// The count does not move.
    Exact(u64),
}

/// What was sent for one transaction: its nonce, each version (the first, then every re-send
/// with higher fees) and the fees of the latest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// The nonce every version carries.
    pub nonce: u64,
    /// The versions sent, oldest first.
    pub hashes: Vec<B256>,
    /// The fees of the latest version (raised once more when it was not mined in time).
    pub fees: Eip1559Estimation,
}

/// A transaction that was mined (successfully or not).
#[derive(Clone, Debug)]
pub struct Mined {
    /// The version that was mined.
    pub hash: B256,
    /// Its nonce.
    pub nonce: u64,
    /// Its block.
    pub block: u64,
    /// The other versions: replaced by it, never to be mined.
    pub replaced: Vec<B256>,
    /// How many times it was re-sent with higher fees before it was mined.
    pub resends: u32,
    /// Its receipt.
    pub receipt: TransactionReceipt,
}

impl Mined {
    /// Whether it succeeded (rather than reverted).
    pub fn succeeded(&self) -> bool {
        self.receipt.status()
    }
}

/// Why a transaction was not sent, or not mined successfully. `E` is the error of the caller's
/// record of what was sent ([`TxSender::send_tracked`]).
#[derive(Debug, thiserror::Error)]
pub enum SendError<E = std::convert::Infallible> {
    /// The gas estimate says it would revert: nothing was sent.
    #[error("would revert: {0} (nothing was sent)")]
    WouldRevert(Revert),
    /// The gas estimate failed otherwise (nothing was sent).
    #[error("the gas estimate failed: {0}")]
    Estimate(NodeError),
    /// The node failed (reading fees or the nonce, or taking the transaction).
    #[error(transparent)]
    Node(NodeError),
    /// It was mined and reverted.
    #[error("transaction {} reverted", .0.hash)]
    Reverted(Box<Mined>),
    /// No version was mined in time, after every re-send.
    #[error("transaction {:?} (nonce {}) was not mined after {resends} re-sends", flight.hashes.last(), flight.nonce)]
    NotMined {
        /// What was sent.
        flight: InFlight,
        /// How many times it was re-sent.
        resends: u32,
    },
    /// The caller's record of a sent version failed: the transaction is on its way.
    #[error("recording the sent transaction failed: {0}")]
    Recording(E),
}

/// Sends one account's transactions (see the module's documentation).
#[derive(Debug)]
pub struct TxSender {
    node: Node,
    account: Address,
    /// The next nonce of [`Nonce::Next`]; `None` until read from the node, and again after a
    /// send failed.
    next_nonce: tokio::sync::Mutex<Option<u64>>,
}

impl TxSender {
    /// Sends the transactions of `account`, which `node` signs for.
    pub fn new(node: Node, account: Address) -> Self {
        Self { node, account, next_nonce: tokio::sync::Mutex::new(None) }
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The account whose transactions are sent.
    pub fn account(&self) -> Address {
        self.account
    }

    /// Forgets the count: the next [`Nonce::Next`] reads the node's pending nonce again (after a
    /// reorg may have dropped a transaction of ours, leaving a gap).
    pub async fn forget(&self) {
        *self.next_nonce.lock().await = None;
    }

    /// Sends `request` (from this account) and waits for its receipt, re-sending it with higher
    /// fees as `policy` says. A transaction that would revert is not sent.
    pub async fn send(&self, request: TransactionRequest, nonce: Nonce, policy: &Resend) -> Result<Mined, SendError> {
        self.send_tracked(request, nonce, policy, &mut None, |_| async { Ok(()) }).await
    }

    /// [`TxSender::send`], resuming from and keeping `flight`: when an earlier attempt left one,
    /// this one replaces it (same nonce, fees above the last) instead of sending with `nonce`;
    /// each version sent is handed to `on_sent` (to record it: all sent so far) before its receipt
    /// is waited for. Whatever the outcome, `flight` holds what was sent.
    pub async fn send_tracked<E, Recorded: Future<Output = Result<(), E>>>(
        &self,
        request: TransactionRequest,
        nonce: Nonce,
        policy: &Resend,
        flight: &mut Option<InFlight>,
        mut on_sent: impl FnMut(InFlight) -> Recorded,
    ) -> Result<Mined, SendError<E>> {
        let request = request.with_from(self.account);
        let (gas, mut fees) = self.price(&request, policy, flight.as_ref()).await?;
        for attempt in 0..=policy.max_resends {
            let priced = request
                .clone()
                .with_gas_limit(gas + gas / 5)
                .with_max_fee_per_gas(fees.max_fee_per_gas)
                .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
            let nonce = flight.as_ref().map_or(nonce, |sent| Nonce::Exact(sent.nonce));
            match self.submit(priced, nonce).await {
                Ok((hash, used)) => {
                    tracing::debug!(tx = %hash, nonce = used, attempt, "transaction sent");
                    let sent = flight.get_or_insert_with(|| InFlight { nonce: used, hashes: Vec::new(), fees });
                    sent.nonce = used;
                    sent.hashes.push(hash);
                    sent.fees = fees;
                    on_sent(sent.clone()).await.map_err(SendError::Recording)?;
                }
                // A replacement the node refuses (one of ours was mined meanwhile): look for it.
                Err(error) if flight.as_ref().is_some_and(|sent| !sent.hashes.is_empty()) => {
                    tracing::warn!(%error, "re-send refused");
                }
                Err(error) => return Err(SendError::Node(error)),
            }
            let sent = flight.as_mut().expect("something was sent");
            if let Some(mined) = self.wait_mined(sent, policy.stuck_after, attempt).await {
                return match mined.succeeded() {
                    true => Ok(mined),
                    false => Err(SendError::Reverted(Box::new(mined))),
                };
            }
            fees.max_fee_per_gas = policy.bump(fees.max_fee_per_gas);
            fees.max_priority_fee_per_gas = policy.bump(fees.max_priority_fee_per_gas);
            sent.fees = fees;
            if attempt < policy.max_resends {
                tracing::warn!(
                    nonce = sent.nonce,
                    "not mined in {:?}; re-sending with higher fees",
                    policy.stuck_after
                );
            }
        }
        let flight = flight.clone().expect("something was sent");
        Err(SendError::NotMined { flight, resends: policy.max_resends })
    }

    /// The gas `request` needs (nothing is to be sent if it would revert) and the fees to send it
    /// with: the node's, and at least one bump above those of `previous`, which it replaces.
    async fn price<E>(
        &self,
        request: &TransactionRequest,
        policy: &Resend,
        previous: Option<&InFlight>,
    ) -> Result<(u64, Eip1559Estimation), SendError<E>> {
        // A replacement is estimated on the latest block: the pending one holds the version it
        // replaces, after which a close would revert (the channel is gone).
        let estimate = self.node.provider().estimate_gas(request.clone());
        let estimate = match previous {
            Some(_) => estimate.block(alloy::eips::BlockId::latest()),
            None => estimate,
        };
        let gas = match self.node.bounded("eth_estimateGas", estimate).await {
            Ok(gas) => gas,
            Err(NodeError::Reverted(revert)) => return Err(SendError::WouldRevert(revert)),
            Err(error) => return Err(SendError::Estimate(error)),
        };
        let mut fees = self.node.fees().await.map_err(SendError::Node)?;
        if let Some(previous) = previous {
            fees.max_fee_per_gas = fees.max_fee_per_gas.max(policy.bump(previous.fees.max_fee_per_gas));
            fees.max_priority_fee_per_gas =
                fees.max_priority_fee_per_gas.max(policy.bump(previous.fees.max_priority_fee_per_gas));
        }
        Ok((gas, fees))
    }

    /// The version of `flight` that was mined, if one was (each receipt request bounded; a
    /// failed one counts as not mined). `resends` goes into the answer.
    pub async fn mined(&self, flight: &InFlight, resends: u32) -> Option<Mined> {
        for hash in &flight.hashes {
            let Ok(Some(receipt)) = self.node.receipt(*hash).await else { continue };
            let replaced = flight.hashes.iter().filter(|other| *other != hash).copied().collect();
            let block = receipt.block_number.unwrap_or_default();
            return Some(Mined { hash: *hash, nonce: flight.nonce, block, replaced, resends, receipt });
        }
        None
    }

    /// Waits up to `within` for a version of `flight` to be mined.
    async fn wait_mined(&self, flight: &InFlight, within: Duration, resends: u32) -> Option<Mined> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(mined) = self.mined(flight, resends).await {
                return Some(mined);
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
        None
    }

    /// Signs and sends `request` with `nonce`. Sends are serialised: a nonce of the count is
    /// handed out only once the node took the one before it. Returns the hash and the nonce.
    async fn submit(&self, request: TransactionRequest, nonce: Nonce) -> Result<(B256, u64), NodeError> {
        let mut next = self.next_nonce.lock().await;
        let used = match (nonce, *next) {
            (Nonce::Exact(nonce), _) | (Nonce::Next, Some(nonce)) => nonce,
            (Nonce::Next, None) | (Nonce::Pending, _) => self.node.pending_nonce(self.account).await?,
        };
        let sending = self.node.provider().send_transaction(request.with_nonce(used));
        let sent = self.node.bounded("eth_sendRawTransaction", sending).await;
        match &sent {
            // An explicit nonce (a replacement, or one recorded) does not move the count: the
            // nonce after it may belong to another transaction still pending.
            Ok(_) if matches!(nonce, Nonce::Exact(_)) => {}
            Ok(_) => *next = Some(next.map_or(used + 1, |n| n.max(used + 1))),
            Err(_) => *next = None,
        }
        sent.map(|pending| (*pending.tx_hash(), used))
    }
}
