//! The sender's channel client: opens and tops up channels (one ERC223 transfer each, or
//! ERC20 approve and contract call, see [`DepositPath`]), signs
//! payments, closes cooperatively through the receiver's API or alone, settles, and rebuilds its
//! store from the chain's events. Every transaction is estimated first: one that would revert is
//! not sent.

use std::{path::PathBuf, time::Duration};

use alloy::{
    network::TransactionBuilder,
    rpc::types::{Filter, TransactionReceipt, TransactionRequest},
};
use alloy_primitives::{Address, B256, Bytes, U256, aliases::U192};
use alloy_sol_types::SolEventInterface;

use super::{
    error::SenderError,
    store::{PendingDeposit, SenderChannel, SenderStore},
};
use crate::{
    channel::{ChannelEvent, ChannelState, ChannelStatus},
    contract::{Call, ChannelsEvent, Revert, bindings, channel_event, open_data, top_up_data},
    node::{Node, Nonce, Resend, SendError, TxSender},
    proof::{ChannelDomain, Signer, recover},
    protocol::api::{self, CloseSignature, CooperativeClose},
};

/// The longest block range asked of `eth_getLogs` when rebuilding from the chain.
const LOG_RANGE: u64 = 10_000;

/// The default limit on a cooperative close's exchange with the receiver's server.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer to a cooperative close request that is read (a closing signature in JSON
/// is about 150 bytes).
const MAX_CLOSE_ANSWER: usize = 64 * 1024;
/// The default limit on each node request (connecting included).
const NODE_TIMEOUT: Duration = Duration::from_secs(30);
/// The default limit on the wait for a sent transaction's receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(300);

/// How a sender's client is set up. Its `Debug` output shows the node's URL redacted.
#[derive(Clone)]
pub struct SenderConfig {
    /// The node's JSON-RPC URL.
    pub rpc_url: String,
    /// The channel contract.
    pub contract: Address,
    /// The block it was deployed in (events are read from there).
    pub deployment_block: u64,
    /// The sender's key.
    pub key: Signer,
    /// Where the local store lives.
    pub data_dir: PathBuf,
    /// How deposits (opens and top-ups) reach the contract.
    pub deposit_path: DepositPath,
}

/// How a deposit reaches the channel contract.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DepositPath {
    /// One ERC223 `transfer(contract, amount, data)`, whose `tokenFallback` opens or tops up.
    #[default]
    Erc223,
    /// ERC20: `approve` (skipped when the allowance already covers the deposit), then
    /// `createChannelERC20` or `topUpERC20`; both are simulated together before either is sent.
    Erc20,
}

impl std::fmt::Debug for SenderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderConfig")
            .field("rpc_url", &crate::chain::RedactedUrl::new(&self.rpc_url))
            .field("contract", &self.contract)
            .field("deployment_block", &self.deployment_block)
            .field("key", &self.key)
            .field("data_dir", &self.data_dir)
            .field("deposit_path", &self.deposit_path)
            .finish()
    }
}

/// How [`ChannelClient::close`] closed a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Closed {
    /// With the receiver's closing signature: settled at once, in this transaction.
    Cooperatively {
        /// The cooperative close's transaction.
        tx: B256,
        /// The balance it closed at: the acknowledged one, less what prepaid sessions did not
        /// use (refunded).
        balance: U192,
    },
    /// Alone: the challenge period runs until `settle_block`.
    Uncooperatively {
        /// The block after which the sender can settle.
        settle_block: u64,
        /// Why the cooperative close did not happen, if one was tried.
        refusal: Option<String>,
    },
}

/// A sender's channels on one contract.
#[derive(Debug, Clone)]
pub struct ChannelClient {
    node: Node,
    signer: Signer,
    contract: Address,
    token: Address,
    domain: ChannelDomain,
    challenge_period: u32,
    deployment_block: u64,
    deposit_path: DepositPath,
    store: SenderStore,
    http_timeout: Duration,
    receipt_timeout: Duration,
}

impl ChannelClient {
    /// Connects to the node and opens the local store. Every node request (connecting included)
    /// is limited to 30 s ([`ChannelClient::with_node_timeout`]), and the wait for a
    /// transaction's receipt to 300 s ([`ChannelClient::with_receipt_timeout`]).
    pub async fn connect(config: SenderConfig) -> Result<Self, SenderError> {
        let connecting = Node::connect(&config.rpc_url, Some(&config.key));
        let node = match tokio::time::timeout(NODE_TIMEOUT, connecting).await {
            Ok(node) => node?.with_timeout(NODE_TIMEOUT),
            Err(_) => {
                let url = crate::chain::RedactedUrl::new(&config.rpc_url);
                return Err(SenderError::TimedOut {
                    what: format!("connecting to the node {url}"),
                    seconds: NODE_TIMEOUT.as_secs(),
                });
            }
        };
        let channels = bindings::RaidenMicroTransferChannels::token_addressCall {};
        let token = node.view(config.contract, &channels).await?;
        let period = bindings::RaidenMicroTransferChannels::challenge_periodCall {};
        let challenge_period = node.view(config.contract, &period).await?;
        let store = SenderStore::open(&config.data_dir, node.chain_id(), config.contract, config.key.address()).await?;
        Ok(Self {
            domain: ChannelDomain::new(node.chain_id(), config.contract),
            node,
            signer: config.key,
            contract: config.contract,
            token,
            challenge_period,
            deployment_block: config.deployment_block,
            deposit_path: config.deposit_path,
            store,
            http_timeout: HTTP_TIMEOUT,
            receipt_timeout: RECEIPT_TIMEOUT,
        })
    }

    /// The same client with `timeout` as the limit on each node request (30 s by default): a
    /// node that never answers fails the request as unreachable.
    pub fn with_node_timeout(mut self, timeout: Duration) -> Self {
        self.node = self.node.with_timeout(timeout);
        self
    }

    /// The same client with `timeout` as the limit on the wait for a sent transaction's receipt
    /// (300 s by default). Past it the call fails with [`SenderError::TimedOut`]; a deposit's
    /// pending record stays, for the next run to reconcile with the chain.
    pub fn with_receipt_timeout(mut self, timeout: Duration) -> Self {
        self.receipt_timeout = timeout;
        self
    }

    /// The same client with `timeout` as the limit on a cooperative close's exchange with the
    /// receiver's server (30 s by default): past it, [`ChannelClient::close`] closes alone.
    pub fn with_http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// The sender's next nonce, pending transactions included.
    async fn next_nonce(&self) -> Result<u64, SenderError> {
        Ok(self.node.pending_nonce(self.sender()).await?)
    }

    /// Sends a deposit's `calls`, recorded as pending in the store before the first is sent and
    /// forgotten once it is mined or refused (nothing sent): a run killed meanwhile leaves it for
    /// [`ChannelClient::pending_deposits`] to reconcile.
    async fn deposit(
        &self,
        calls: Vec<Call>,
        receiver: Address,
        open_block: Option<u32>,
        amount: U192,
    ) -> Result<TransactionReceipt, SenderError> {
        let nonce = self.next_nonce().await?;
        let intent = PendingDeposit { nonce, txs: calls.len() as u64, receiver, open_block, amount };
        self.store.add_pending(&intent).await?;
        // The transactions carry the recorded nonces themselves (never a provider's cached count,
        // which may run ahead of the node after a failed send): the record and the chain agree.
        let sent = self.transact_all(calls, nonce).await;
        if matches!(sent, Ok(_) | Err(SenderError::WouldRevert(_) | SenderError::Reverted { .. })) {
            self.store.remove_pending(nonce).await?;
        }
        sent
    }

    /// The deposits to `receiver` still pending from this or an earlier run. Reconciles first:
    /// a deposit whose transactions the sender's mined nonce has passed (mined, or replaced), or
    /// that the node does not hold in full even among pending transactions (never sent, or
    /// dropped: the rest will never come), is forgotten, and the store is rebuilt from the
    /// chain's events (so a channel opened by a run killed before it saw the receipt is known).
    pub async fn pending_deposits(&self, receiver: Address) -> Result<Vec<PendingDeposit>, SenderError> {
        let pending = self.store.pending().await?;
        if pending.is_empty() {
            return Ok(pending);
        }
        let mined = self.node.mined_nonce(self.sender()).await?;
        let sent = self.next_nonce().await?;
        let mut left = Vec::new();
        let mut settled = false;
        for deposit in pending {
            let end = deposit.nonce + deposit.txs;
            if mined >= end || sent < end {
                self.store.remove_pending(deposit.nonce).await?;
                settled = true;
            } else {
                left.push(deposit);
            }
        }
        if settled {
            self.sync().await?;
        }
        Ok(left.into_iter().filter(|d| d.receiver == receiver).collect())
    }

    /// The sender.
    pub fn sender(&self) -> Address {
        self.signer.address()
    }

    /// The channel contract.
    pub fn contract(&self) -> Address {
        self.contract
    }

    /// The token.
    pub fn token(&self) -> Address {
        self.token
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.node.chain_id()
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The local store.
    pub fn store(&self) -> &SenderStore {
        &self.store
    }

    /// Every channel in the local store.
    pub async fn channels(&self) -> Result<Vec<SenderChannel>, SenderError> {
        self.store.channels().await
    }

    /// One channel from the local store.
    pub async fn channel(&self, receiver: Address, open_block: u32) -> Result<SenderChannel, SenderError> {
        self.channels()
            .await?
            .into_iter()
            .find(|c| c.receiver == receiver && c.open_block == open_block)
            .ok_or(SenderError::UnknownChannel { receiver, open_block })
    }

    /// The sender's token balance.
    pub async fn token_balance(&self) -> Result<U256, SenderError> {
        let call = bindings::ERC223Token::balanceOfCall { account: self.sender() };
        Ok(self.node.view(self.token, &call).await?)
    }

    /// Sends `call` through the node's [`TxSender`]: estimated first (nothing is sent if it would
    /// revert), sent with `nonce`, its receipt waited for within the receipt timeout (never
    /// re-sent). Each transaction carries an explicit nonce (recorded, or the node's pending
    /// count read at the send), so no count is kept between them.
    async fn transact(&self, call: Call, nonce: Nonce) -> Result<TransactionReceipt, SenderError> {
        let (to, data) = call.encode(self.token, self.contract);
        let request = TransactionRequest::default().with_to(to).with_input(data);
        let sender = TxSender::new(self.node.clone(), self.sender());
        match sender.send(request, nonce, &Resend::never(self.receipt_timeout)).await {
            Ok(mined) => Ok(mined.receipt),
            Err(SendError::WouldRevert(revert)) => Err(SenderError::WouldRevert(revert)),
            Err(SendError::Estimate(error) | SendError::Node(error)) => Err(error.into()),
            Err(SendError::Reverted(mined)) => Err(SenderError::Reverted { tx: mined.hash }),
            Err(SendError::NotMined { flight, .. }) => {
                let tx = flight.hashes.last().copied().unwrap_or_default();
                Err(SenderError::TimedOut {
                    what: format!("waiting for the receipt of transaction {tx} (nonce {})", flight.nonce),
                    seconds: self.receipt_timeout.as_secs(),
                })
            }
            Err(SendError::Recording(never)) => match never {},
        }
    }

    /// Simulates `calls` together, in order, in the next block (`eth_simulateV1`); sends them
    /// one by one only if every one would succeed. Gives the last one's receipt. Should a later
    /// one fail after an earlier one was mined (the chain moved in between), the error names
    /// the mined transactions. The `i`th is sent with nonce `first_nonce + i`.
    async fn transact_all(&self, calls: Vec<Call>, first_nonce: u64) -> Result<TransactionReceipt, SenderError> {
        let encoded: Vec<_> = calls
            .iter()
            .map(|call| {
                let (to, data) = call.encode(self.token, self.contract);
                (self.sender(), to, data)
            })
            .collect();
        for outcome in self.node.simulate(&encoded).await? {
            if let Some(revert) = Revert::from_outcome(&outcome) {
                return Err(SenderError::WouldRevert(revert));
            }
        }
        let mut mined = Vec::new();
        let mut last = None;
        for (call, nonce) in calls.into_iter().zip(first_nonce..) {
            match self.transact(call, Nonce::Exact(nonce)).await {
                Ok(receipt) => {
                    mined.push(receipt.transaction_hash);
                    last = Some(receipt);
                }
                Err(error) if mined.is_empty() => return Err(error),
                Err(error) => return Err(SenderError::PartlySent { mined, source: Box::new(error) }),
            }
        }
        last.ok_or_else(|| SenderError::Refused("no transaction to send".into()))
    }

    /// The transactions that put `amount` into the channel contract: `erc20` (after an approve
    /// when the allowance is short) on the ERC20 path, else one ERC223 transfer with `erc223_data`.
    async fn deposit_calls(&self, amount: U192, erc20: Call, erc223_data: Bytes) -> Result<Vec<Call>, SenderError> {
        Ok(match self.deposit_path {
            DepositPath::Erc223 => {
                vec![Call::TransferWithData { to: self.contract, amount: U256::from(amount), data: erc223_data }]
            }
            DepositPath::Erc20 => {
                let call = bindings::ERC223Token::allowanceCall { owner: self.sender(), spender: self.contract };
                let allowance = self.node.view(self.token, &call).await?;
                let mut calls = Vec::with_capacity(2);
                if allowance < U256::from(amount) {
                    calls.push(Call::Approve { spender: self.contract, amount: U256::from(amount) });
                }
                calls.push(erc20);
                calls
            }
        })
    }

    fn events(receipt: &TransactionReceipt) -> impl Iterator<Item = ChannelsEvent> + '_ {
        receipt.inner.logs().iter().filter_map(|log| ChannelsEvent::decode_log(&log.inner).ok().map(|e| e.data))
    }

    async fn check_tokens(&self, needed: U192) -> Result<(), SenderError> {
        let held = self.token_balance().await?;
        let needed = U256::from(needed);
        if held < needed {
            return Err(SenderError::InsufficientTokens { held, needed });
        }
        Ok(())
    }

    /// Opens a channel to `receiver` with `deposit`, by the configured [`DepositPath`].
    pub async fn open(&self, receiver: Address, deposit: U192) -> Result<SenderChannel, SenderError> {
        self.check_tokens(deposit).await?;
        let erc20 = Call::CreateChannelErc20 { receiver, deposit };
        let calls = self.deposit_calls(deposit, erc20, open_data(receiver)).await?;
        let receipt = self.deposit(calls, receiver, None, deposit).await?;
        let created =
            Self::events(&receipt).any(|e| matches!(e, ChannelsEvent::ChannelCreated(c) if c._receiver == receiver));
        let block = receipt.block_number.unwrap_or_default();
        if !created {
            return Err(SenderError::Refused(format!("no ChannelCreated in block {block}")));
        }
        let channel = SenderChannel {
            receiver,
            open_block: u32::try_from(block).map_err(|_| SenderError::Refused("open block above 2^32".into()))?,
            deposit,
            balance: U192::ZERO,
            signed: U192::ZERO,
            status: ChannelStatus::Open,
            settle_block: None,
        };
        self.store.upsert_chain(&channel).await?;
        Ok(channel)
    }

    /// Adds `amount` to the channel, by the configured [`DepositPath`].
    pub async fn top_up(&self, channel: &SenderChannel, amount: U192) -> Result<SenderChannel, SenderError> {
        Ok(self.top_up_mined(channel, amount).await?.0)
    }

    /// [`ChannelClient::top_up`], also giving the block the top-up was mined in.
    pub async fn top_up_mined(
        &self,
        channel: &SenderChannel,
        amount: U192,
    ) -> Result<(SenderChannel, u64), SenderError> {
        self.check_tokens(amount).await?;
        let erc20 = Call::TopUpErc20 { receiver: channel.receiver, open_block: channel.open_block, added: amount };
        let data = top_up_data(channel.receiver, channel.open_block);
        let calls = self.deposit_calls(amount, erc20, data).await?;
        let receipt = self.deposit(calls, channel.receiver, Some(channel.open_block), amount).await?;
        let deposit = Self::events(&receipt)
            .find_map(|e| match e {
                ChannelsEvent::ChannelToppedUp(t) => Some(t._deposit),
                _ => None,
            })
            .ok_or_else(|| SenderError::Refused("no ChannelToppedUp in the receipt".into()))?;
        let channel = SenderChannel { deposit, ..channel.clone() };
        self.store.upsert_chain(&channel).await?;
        Ok((channel, receipt.block_number.unwrap_or_default()))
    }

    /// The sender's balance proof of `balance` on the channel.
    pub fn sign(&self, receiver: Address, open_block: u32, balance: U192) -> Bytes {
        self.signer.sign_digest(self.domain.balance_digest(receiver, open_block, balance))
    }

    /// Signs a payment of `price`: the acknowledged balance plus the price, within the deposit.
    /// The signed balance is stored before the proof is returned.
    pub async fn sign_payment(
        &self,
        channel: &SenderChannel,
        price: U192,
    ) -> Result<(SenderChannel, Bytes), SenderError> {
        let balance = channel.balance.checked_add(price).filter(|b| *b <= channel.deposit).ok_or(
            SenderError::Refused(format!("the channel's deposit {} does not cover {} more", channel.deposit, price)),
        )?;
        let channel = SenderChannel { signed: channel.signed.max(balance), ..channel.clone() };
        self.store.set_balances(&channel).await?;
        let signature = self.sign(channel.receiver, channel.open_block, balance);
        Ok((channel, signature))
    }

    /// Records that the receiver acknowledged `balance`.
    pub async fn acknowledge(&self, channel: &SenderChannel, balance: U192) -> Result<SenderChannel, SenderError> {
        let channel = SenderChannel { balance, signed: channel.signed.max(balance), ..channel.clone() };
        self.store.set_balances(&channel).await?;
        Ok(channel)
    }

    /// Adopts the receiver's claim that the last registered balance is `balance`, only if
    /// `signature` is the sender's own proof of it (a server cannot invent a balance).
    pub async fn adopt(
        &self,
        channel: &SenderChannel,
        balance: U192,
        signature: &[u8],
    ) -> Result<SenderChannel, SenderError> {
        let digest = self.domain.balance_digest(channel.receiver, channel.open_block, balance);
        if balance > channel.deposit || recover(digest, signature).ok() != Some(self.sender()) {
            return Err(SenderError::UnsignedCorrection { balance });
        }
        self.acknowledge(channel, balance).await
    }

    /// Closes at once with the receiver's agreement: asks `api_base` (the receiver's server,
    /// e.g. `http://host:5000`) for its closing signature over the last acknowledged balance,
    /// with the sender's signed close request (the consent a server requires, which no payment
    /// carries), checks the answer is the receiver's, then sends the cooperative close.
    pub async fn close_cooperatively(&self, channel: &SenderChannel, api_base: &str) -> Result<B256, SenderError> {
        Ok(self.close_cooperatively_at(channel, api_base).await?.0)
    }

    /// [`close_cooperatively`](Self::close_cooperatively), and the balance it closed at.
    async fn close_cooperatively_at(
        &self,
        channel: &SenderChannel,
        api_base: &str,
    ) -> Result<(B256, U192), SenderError> {
        let url = format!("{}{}", api_base.trim_end_matches('/'), api::channel_path(self.sender(), channel.open_block));
        // Prepaid sessions' unused requests are refunded: the receiver says what they come to,
        // and the sender signs that much less (never more than it acknowledged).
        let refund = self.unused_prepaid(&url).await.filter(|r| *r <= channel.balance).unwrap_or_default();
        let balance = channel.balance - refund;
        let channel = &SenderChannel { balance, ..channel.clone() };
        let balance_sig = self.sign(channel.receiver, channel.open_block, channel.balance);
        let consent = self.signer.sign_digest(self.domain.close_request_digest(
            channel.receiver,
            channel.open_block,
            channel.balance,
        ));
        let body = CooperativeClose {
            balance: channel.balance.to_string(),
            balance_signature: balance_sig.to_string(),
            close_request_signature: consent.to_string(),
        };
        // Bounded in time (the whole exchange) and size; never redirected elsewhere with the
        // consent.
        let client = reqwest::Client::builder()
            .timeout(self.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let timed_out = |error: reqwest::Error| match error.is_timeout() {
            true => SenderError::TimedOut {
                what: format!("the cooperative close at {api_base}"),
                seconds: self.http_timeout.as_secs(),
            },
            false => SenderError::Http(error),
        };
        let mut response = client.delete(url).json(&body).send().await.map_err(timed_out)?;
        let status = response.status();
        let mut text = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(timed_out)? {
            if text.len() + chunk.len() > MAX_CLOSE_ANSWER {
                return Err(SenderError::CloseRefused(format!("{status}: an answer over {MAX_CLOSE_ANSWER} bytes")));
            }
            text.extend_from_slice(&chunk);
        }
        let answer: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
        if !status.is_success() {
            return Err(SenderError::CloseRefused(format!("{status}: {answer}")));
        }
        let CloseSignature { close_signature: closing_sig } = serde_json::from_value(answer.clone())
            .map_err(|_| SenderError::CloseRefused(format!("no close_signature in {answer}")))?;
        if recover(self.domain.closing_digest(&balance_sig), &closing_sig).ok() != Some(channel.receiver) {
            return Err(SenderError::CloseRefused("the closing signature is not the receiver's".into()));
        }
        let call = Call::CooperativeClose {
            receiver: channel.receiver,
            open_block: channel.open_block,
            balance: channel.balance,
            balance_sig,
            closing_sig,
        };
        let receipt = self.transact(call, Nonce::Pending).await?;
        self.store.upsert_chain(&SenderChannel { status: ChannelStatus::Settled, ..channel.clone() }).await?;
        Ok((receipt.transaction_hash, channel.balance))
    }

    /// What the receiver says the channel at `url` (its management API's channel) prepaid and
    /// did not use (`unused_prepaid`), if it says; any failure is no refund.
    async fn unused_prepaid(&self, url: &str) -> Option<U192> {
        let client = reqwest::Client::builder()
            .timeout(self.http_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        let response = client.get(url).send().await.ok()?;
        if !response.status().is_success() || response.content_length().is_some_and(|n| n > MAX_CLOSE_ANSWER as u64) {
            return None;
        }
        let bytes = response.bytes().await.ok()?;
        let view: serde_json::Value = serde_json::from_slice(&bytes[..bytes.len().min(MAX_CLOSE_ANSWER)]).ok()?;
        crate::protocol::field::parse_amount("unused_prepaid", view.get("unused_prepaid")?.as_str()?).ok()
    }

    /// Closes `channel`: cooperatively through the receiver's server at `api_base` when one is
    /// given, and otherwise, or when the receiver refuses, cannot be reached or does not answer
    /// within the HTTP timeout ([`ChannelClient::with_http_timeout`]), alone with the
    /// last acknowledged balance (the challenge period starts; the receiver may still answer
    /// with a higher proof of the sender's). A failure on chain is an error either way.
    pub async fn close(&self, channel: &SenderChannel, api_base: Option<&str>) -> Result<Closed, SenderError> {
        if channel.status != ChannelStatus::Open {
            return Err(SenderError::NotOpen(channel.status.as_str()));
        }
        let refusal = match api_base {
            Some(api_base) => {
                // The HTTP exchange is bounded by the timeout; the transaction after it is not
                // cut short (a close sent and then abandoned would make the fallback revert).
                match self.close_cooperatively_at(channel, api_base).await {
                    Ok((tx, balance)) => return Ok(Closed::Cooperatively { tx, balance }),
                    Err(
                        error @ (SenderError::CloseRefused(_) | SenderError::Http(_) | SenderError::TimedOut { .. }),
                    ) => Some(error.to_string()),
                    Err(error) => return Err(error),
                }
            }
            None => None,
        };
        let settle_block = self.close_uncooperatively(channel).await?;
        Ok(Closed::Uncooperatively { settle_block, refusal })
    }

    /// Asks to close alone with the last acknowledged balance: the challenge period starts (the
    /// receiver may answer with a higher proof). Returns the block after which it can settle.
    pub async fn close_uncooperatively(&self, channel: &SenderChannel) -> Result<u64, SenderError> {
        let balance_sig = self.sign(channel.receiver, channel.open_block, channel.balance);
        let call = Call::Close {
            receiver: channel.receiver,
            open_block: channel.open_block,
            balance: channel.balance,
            balance_sig,
        };
        let receipt = self.transact(call, Nonce::Pending).await?;
        let settle_block = receipt.block_number.unwrap_or_default() + u64::from(self.challenge_period);
        let closing =
            SenderChannel { status: ChannelStatus::Closing, settle_block: Some(settle_block), ..channel.clone() };
        self.store.upsert_chain(&closing).await?;
        Ok(settle_block)
    }

    /// Settles after the challenge period.
    pub async fn settle(&self, channel: &SenderChannel) -> Result<B256, SenderError> {
        let settle_block = channel.settle_block.ok_or(SenderError::NotOpen("not closing: request a close first"))?;
        if self.node.head().await? < settle_block {
            return Err(SenderError::ChallengePeriod { settle_block });
        }
        let receipt = self
            .transact(Call::Settle { receiver: channel.receiver, open_block: channel.open_block }, Nonce::Pending)
            .await?;
        self.store.upsert_chain(&SenderChannel { status: ChannelStatus::Settled, ..channel.clone() }).await?;
        Ok(receipt.transaction_hash)
    }

    /// Rebuilds the store's chain facts (channels, deposits, close requests, settlements) from
    /// the contract's events for this sender. Balances already known are kept; a channel found
    /// only on chain starts at 0 and is resynchronised by the receiver's first corrective
    /// refusal. Returns how many channels the chain knows.
    pub async fn sync(&self) -> Result<usize, SenderError> {
        let head = self.node.head().await?;
        let mut found: Vec<SenderChannel> = Vec::new();
        let mut from = self.deployment_block;
        while from <= head {
            let to = head.min(from + LOG_RANGE - 1);
            let filter =
                Filter::new().address(self.contract).topic1(self.sender().into_word()).from_block(from).to_block(to);
            for log in self.node.logs(&filter).await? {
                let Ok(event) = ChannelsEvent::decode_log(&log.inner) else { continue };
                apply_event(&mut found, event.data, log.block_number.unwrap_or_default(), self.challenge_period);
            }
            from = to + 1;
        }
        let known = self.store.channels().await?;
        for mut channel in found.iter().cloned() {
            if let Some(k) = known.iter().find(|k| k.receiver == channel.receiver && k.open_block == channel.open_block)
            {
                channel.balance = k.balance;
                channel.signed = k.signed;
            }
            self.store.upsert_chain(&channel).await?;
        }
        Ok(found.len())
    }
}

/// Folds one of the contract's events into the channels found so far, by the one
/// event-to-state transition ([`ChannelState::after`]).
fn apply_event(found: &mut Vec<SenderChannel>, event: ChannelsEvent, block: u64, challenge_period: u32) {
    let Some((id, change)) = channel_event(&event, block, challenge_period) else { return };
    let known = found.iter().position(|c| c.receiver == id.receiver && c.open_block == id.open_block);
    match (known, change) {
        (Some(i), change) => {
            let channel = &mut found[i];
            let before = ChannelState {
                deposit: channel.deposit,
                status: channel.status,
                closing_balance: None,
                settle_block: channel.settle_block,
                settled_balance: None,
            };
            let after = before.after(&change);
            (channel.deposit, channel.status, channel.settle_block) = (after.deposit, after.status, after.settle_block);
        }
        (None, ChannelEvent::Opened { deposit }) => found.push(SenderChannel {
            receiver: id.receiver,
            open_block: id.open_block,
            deposit,
            balance: U192::ZERO,
            signed: U192::ZERO,
            status: ChannelStatus::Open,
            settle_block: None,
        }),
        // An event of a channel opened before the blocks read.
        (None, _) => {}
    }
}
