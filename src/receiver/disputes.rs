//! The receiver's close transactions: answering a sender's close request with a higher proof
//! (a dispute), or cashing out. Each is pre-checked with `eth_estimateGas` (nothing is sent if
//! it would revert), recorded in the store, tracked until mined, and re-sent with the same nonce
//! and higher fees when it is stuck.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    eips::eip1559::Eip1559Estimation, network::TransactionBuilder, providers::Provider, rpc::types::TransactionRequest,
};
use alloy_primitives::{B256, aliases::U192};

use super::{
    config::TxPolicy,
    error::CloseError,
    store::{CloseTx, Store},
    types::ChannelRecord,
};
use crate::{
    chain::{Node, NodeError},
    channel::ChannelId,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flight {
    Sending,
    Done,
}

/// Sends the receiver's close transactions, at most one at a time per channel.
#[derive(Clone, Debug)]
pub(crate) struct Closer {
    node: Node,
    contract: alloy_primitives::Address,
    token: alloy_primitives::Address,
    policy: TxPolicy,
    flights: Arc<Mutex<HashMap<ChannelId, Flight>>>,
}

impl Closer {
    pub(crate) fn new(
        node: Node,
        contract: alloy_primitives::Address,
        token: alloy_primitives::Address,
        policy: TxPolicy,
    ) -> Self {
        Self { node, contract, token, policy, flights: Arc::default() }
    }

    /// Current fees.
    pub(crate) async fn fees(&self) -> Result<Eip1559Estimation, NodeError> {
        self.node.provider().estimate_eip1559_fees().await.map_err(|e| self.node.error(e))
    }

    /// Closes `record` in the background unless a close of it is under way or done.
    pub(crate) fn spawn_close(&self, store: Store, record: ChannelRecord) {
        if self.flights.lock().expect("flights lock").contains_key(&record.id) {
            return;
        }
        let closer = self.clone();
        tokio::spawn(async move {
            if let Err(error) = closer.close(&store, &record).await {
                tracing::error!(channel = %record.id, %error, "closing with the last proof failed");
            }
        });
    }

    /// Closes the channel with the receiver's last proof and waits until the transaction is
    /// mined. A close that would revert is not sent.
    pub(crate) async fn close(&self, store: &Store, record: &ChannelRecord) -> Result<CloseOutcome, CloseError> {
        let id = record.id;
        {
            let mut flights = self.flights.lock().expect("flights lock");
            match flights.get(&id) {
                Some(Flight::Sending) => {
                    return Err(CloseError::Unavailable("a close of this channel is under way".into()));
                }
                Some(Flight::Done) => return Err(CloseError::Settled),
                None => flights.insert(id, Flight::Sending),
            };
        }
        let result = self.send_and_track(store, record).await;
        let mut flights = self.flights.lock().expect("flights lock");
        match &result {
            Ok(_) | Err(CloseError::Settled) => flights.insert(id, Flight::Done),
            Err(_) => flights.remove(&id),
        };
        result
    }

    async fn send_and_track(&self, store: &Store, record: &ChannelRecord) -> Result<CloseOutcome, CloseError> {
        let signature = record.balance_sig.clone().ok_or(CloseError::NothingPaid)?;
        let receiver = record.id.receiver;
        let call =
            Call::Close { receiver, open_block: record.id.open_block, balance: record.balance, balance_sig: signature };
        let (to, data) = call.encode(self.token, self.contract);
        let request = TransactionRequest::default().with_from(receiver).with_to(to).with_input(data);
        let provider = self.node.provider();
        let gas = match provider.estimate_gas(request.clone()).await.map_err(|e| self.node.error(e)) {
            Ok(gas) => gas,
            Err(NodeError::Reverted(Revert::Channels(ChannelsError::ChannelNotFound(_)))) => {
                return Err(CloseError::Settled);
            }
            Err(error) => return Err(CloseError::Unavailable(format!("the close would fail: {error}"))),
        };
        let unavailable = |e: NodeError| CloseError::Unavailable(e.to_string());
        let nonce =
            provider.get_transaction_count(receiver).pending().await.map_err(|e| unavailable(self.node.error(e)))?;
        let mut fees = self.fees().await.map_err(unavailable)?;
        let mut sent: Vec<B256> = Vec::new();
        for attempt in 0..=self.policy.max_resends {
            let request = request
                .clone()
                .with_nonce(nonce)
                .with_gas_limit(gas + gas / 5)
                .with_max_fee_per_gas(fees.max_fee_per_gas)
                .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
            match provider.send_transaction(request).await {
                Ok(pending) => {
                    let hash = *pending.tx_hash();
                    tracing::info!(channel = %record.id, tx = %hash, attempt, "close sent");
                    sent.push(hash);
                    let tx = CloseTx {
                        tx_hash: hash,
                        id: record.id,
                        balance: record.balance,
                        nonce,
                        state: "pending",
                        block: None,
                    };
                    store.record_close_tx(&tx).await.map_err(|e| CloseError::Unavailable(e.to_string()))?;
                }
                // A replacement the node refuses (one of ours was mined meanwhile): look for it.
                Err(error) if !sent.is_empty() => tracing::warn!(%error, "re-send refused"),
                Err(error) => return Err(unavailable(error.into())),
            }
            if let Some(outcome) = self.wait_mined(store, record, &sent, nonce, attempt).await? {
                return Ok(outcome);
            }
            let bump = |fee: u128| fee + fee * u128::from(self.policy.fee_bump_percent) / 100 + 1;
            fees.max_fee_per_gas = bump(fees.max_fee_per_gas);
            fees.max_priority_fee_per_gas = bump(fees.max_priority_fee_per_gas);
            tracing::warn!(channel = %record.id, "close not mined in {:?}; re-sending with higher fees", self.policy.stuck_after);
        }
        Err(CloseError::Unavailable(format!("the close was not mined after {} re-sends", self.policy.max_resends)))
    }

    /// Waits up to the policy's `stuck_after` for one of `sent` to be mined; records the outcome.
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
            for hash in sent {
                let Ok(Some(receipt)) = self.node.provider().get_transaction_receipt(*hash).await else { continue };
                let block = receipt.block_number.unwrap_or_default();
                let state = if receipt.status() { "mined" } else { "reverted" };
                for other in sent.iter().filter(|h| *h != hash) {
                    let replaced = CloseTx {
                        tx_hash: *other,
                        id: record.id,
                        balance: record.balance,
                        nonce,
                        state: "replaced",
                        block: None,
                    };
                    store.record_close_tx(&replaced).await.map_err(|e| CloseError::Unavailable(e.to_string()))?;
                }
                let tx = CloseTx {
                    tx_hash: *hash,
                    id: record.id,
                    balance: record.balance,
                    nonce,
                    state,
                    block: Some(block),
                };
                store.record_close_tx(&tx).await.map_err(|e| CloseError::Unavailable(e.to_string()))?;
                if !receipt.status() {
                    return Err(CloseError::Unavailable(format!("the close transaction {hash} reverted")));
                }
                tracing::info!(channel = %record.id, tx = %hash, block, "closed with our last proof");
                return Ok(Some(CloseOutcome { tx_hash: *hash, block, balance: record.balance, resends: attempt }));
            }
            tokio::time::sleep(RECEIPT_POLL).await;
        }
        Ok(None)
    }
}
