//! The connection and its reads: blocks, views, logs, simulations, balances, nonces, fees and
//! receipts, each bounded by the node's timeout.

use alloy::{
    eips::{BlockNumberOrTag, eip1559::Eip1559Estimation},
    network::{EthereumWallet, TransactionBuilder},
    providers::{DynProvider, Provider, ProviderBuilder, WsConnect},
    rpc::types::{Filter, Log, TransactionReceipt, TransactionRequest},
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportErrorKind},
};
use alloy_primitives::{Address, B256, Bytes};
use alloy_sol_types::SolCall;

use super::NodeError;
use crate::{
    chain::{Outcome, RedactedUrl, simulate},
    proof::Signer,
};

/// A block's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    /// Its number.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent: B256,
}

/// An async connection to a JSON-RPC node, optionally signing for one account.
#[derive(Clone)]
pub struct Node {
    provider: DynProvider,
    chain_id: u64,
    account: Option<Address>,
    subscriptions: bool,
    url: RedactedUrl,
    /// How long one request may take before the node counts as unreachable.
    timeout: Option<std::time::Duration>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("url", &self.url)
            .field("chain_id", &self.chain_id)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Connects to the node at `url`: `http(s)://` for requests only, `ws(s)://` for requests
    /// and subscriptions to new blocks. Transactions are signed locally by `signer`.
    pub async fn connect(url: &str, signer: Option<&Signer>) -> Result<Self, NodeError> {
        let redacted = RedactedUrl::new(url);
        let subscriptions = url.starts_with("ws://") || url.starts_with("wss://");
        let builder = ProviderBuilder::new();
        let wallet = signer.map(|s| EthereumWallet::from(PrivateKeySigner::from_signing_key(s.signing_key().clone())));
        let scrub = |e: RpcError<TransportErrorKind>| NodeError::from(e).scrubbed(&redacted);
        let provider = if subscriptions {
            let connect = WsConnect::new(url);
            match wallet {
                Some(wallet) => builder.wallet(wallet).connect_ws(connect).await.map_err(scrub)?.erased(),
                None => builder.connect_ws(connect).await.map_err(scrub)?.erased(),
            }
        } else {
            let parsed =
                url.parse().map_err(|_| NodeError::Unreachable(format!("the RPC URL {redacted} does not parse")))?;
            match wallet {
                Some(wallet) => builder.wallet(wallet).connect_http(parsed).erased(),
                None => builder.connect_http(parsed).erased(),
            }
        };
        let chain_id = provider.get_chain_id().await.map_err(|e| match scrub(e) {
            NodeError::Unreachable(text) => NodeError::Unreachable(format!("{redacted}: {text}")),
            other => other,
        })?;
        Ok(Self {
            provider,
            chain_id,
            account: signer.map(Signer::address),
            subscriptions,
            url: redacted,
            timeout: None,
        })
    }

    /// The same connection with every request (its own and its [`TxSender`](super::TxSender)'s)
    /// limited to `timeout`: a node that accepts connections but never answers then fails the
    /// request as unreachable instead of holding its caller for good.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs the node request `request` within this node's timeout (if it has one); `what` names
    /// it in the error.
    pub(super) async fn bounded<T, E: Into<NodeError>>(
        &self,
        what: &str,
        request: impl std::future::IntoFuture<Output = Result<T, E>>,
    ) -> Result<T, NodeError> {
        let Some(timeout) = self.timeout else {
            return std::future::IntoFuture::into_future(request).await.map_err(|e| self.error(e));
        };
        match tokio::time::timeout(timeout, request).await {
            Ok(result) => result.map_err(|e| self.error(e)),
            Err(_) => Err(NodeError::Unreachable(format!("the node did not answer {what} in {timeout:?}"))),
        }
    }

    /// A failure of a request to this node, with the URL's secrets removed from its text.
    fn error(&self, error: impl Into<NodeError>) -> NodeError {
        error.into().scrubbed(&self.url)
    }

    /// The node's URL as it may be shown.
    pub fn url(&self) -> &RedactedUrl {
        &self.url
    }

    /// Whether the connection can subscribe to new blocks (a WebSocket).
    pub fn subscriptions(&self) -> bool {
        self.subscriptions
    }

    /// A subscription to new block headers (WebSocket connections only).
    pub async fn new_blocks(&self) -> Result<alloy::pubsub::Subscription<alloy::rpc::types::Header>, NodeError> {
        self.provider.subscribe_blocks().await.map_err(|e| self.error(e))
    }

    /// alloy's provider, for the sender of transactions beside this file: kept inside `node`,
    /// so that every request of the library is bounded and every transaction goes through
    /// [`TxSender`](super::TxSender).
    pub(super) fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The account transactions are signed for, if any.
    pub fn account(&self) -> Option<Address> {
        self.account
    }

    /// The latest block number.
    pub async fn head(&self) -> Result<u64, NodeError> {
        self.bounded("eth_blockNumber", self.provider.get_block_number()).await
    }

    /// Block `number`'s hash and parent hash.
    pub async fn block(&self, number: u64) -> Result<BlockRef, NodeError> {
        let block = self
            .bounded("eth_getBlockByNumber", self.provider.get_block_by_number(BlockNumberOrTag::Number(number)))
            .await?
            .ok_or_else(|| NodeError::Missing(format!("block {number}")))?;
        Ok(BlockRef { number, hash: block.header.hash, parent: block.header.parent_hash })
    }

    /// Calls the view `call` of `to` on the latest block.
    pub async fn view<C: SolCall>(&self, to: Address, call: &C) -> Result<C::Return, NodeError> {
        let request = TransactionRequest::default().with_to(to).with_input(Bytes::from(call.abi_encode()));
        let output = self.bounded("eth_call", self.provider.call(request)).await?;
        C::abi_decode_returns(&output).map_err(|e| NodeError::Refused(format!("undecodable answer: {e}")))
    }

    /// The logs matching `filter`.
    pub async fn logs(&self, filter: &Filter) -> Result<Vec<Log>, NodeError> {
        self.bounded("eth_getLogs", self.provider.get_logs(filter)).await
    }

    /// Runs `calls` (each `(from, to, data)`) one after another in one simulated next block
    /// (`eth_simulateV1`): each sees the state the previous ones left. Nothing is sent. Gives
    /// each call's outcome, stopping after the first that does not succeed.
    pub async fn simulate(&self, calls: &[(Address, Address, Bytes)]) -> Result<Vec<Outcome>, NodeError> {
        let payload = simulate::payload(calls, self.head().await? + 1);
        let blocks = self.bounded("eth_simulateV1", self.provider.simulate(&payload)).await?;
        simulate::outcomes(blocks, calls.len()).map_err(NodeError::Refused)
    }

    /// The ether balance of `who`, in wei.
    pub async fn ether(&self, who: Address) -> Result<alloy_primitives::U256, NodeError> {
        self.bounded("eth_getBalance", self.provider.get_balance(who)).await
    }

    /// How many transactions of `who` are mined: its next nonce on the latest block.
    pub async fn mined_nonce(&self, who: Address) -> Result<u64, NodeError> {
        self.bounded("eth_getTransactionCount", self.provider.get_transaction_count(who).latest()).await
    }

    /// `who`'s next nonce counting its pending transactions too.
    pub async fn pending_nonce(&self, who: Address) -> Result<u64, NodeError> {
        self.bounded("eth_getTransactionCount", self.provider.get_transaction_count(who).pending()).await
    }

    /// Current EIP-1559 fees.
    pub async fn fees(&self) -> Result<Eip1559Estimation, NodeError> {
        self.bounded("eth_feeHistory", self.provider.estimate_eip1559_fees()).await
    }

    /// The fees transaction `hash` was sent with, if the node knows it (pending or mined).
    pub async fn sent_fees(&self, hash: B256) -> Result<Option<Eip1559Estimation>, NodeError> {
        use alloy::consensus::Transaction;
        let tx = self.bounded("eth_getTransactionByHash", self.provider.get_transaction_by_hash(hash)).await?;
        Ok(tx.map(|tx| Eip1559Estimation {
            max_fee_per_gas: tx.max_fee_per_gas(),
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas().unwrap_or(tx.max_fee_per_gas()),
        }))
    }

    /// The receipt of transaction `hash`, if it is mined.
    pub async fn receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>, NodeError> {
        self.bounded("eth_getTransactionReceipt", self.provider.get_transaction_receipt(hash)).await
    }
}
