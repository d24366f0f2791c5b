//! A JSON-RPC node behind the [`Chain`] interface (anvil, or any network by URL), through
//! alloy's provider and local signers: EIP-1559 fees, nonces and receipt polling are alloy's.

use std::path::Path;

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    node_bindings::{Anvil, AnvilInstance},
    providers::{DynProvider, Provider, ProviderBuilder, ext::AnvilApi},
    rpc::types::{BlockId, TransactionRequest},
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportErrorKind},
};
use alloy_primitives::{Address, Bytes, U256};

use super::{Chain, ChainError, Deployment, Outcome, Receipt, RedactedUrl};
use crate::proof::Signer;

/// Gas limit used when the node reports that the transaction reverts: a reverted transaction is
/// still sent and mined, as on the embedded chain. Any other estimation failure is an error.
const REVERTING_GAS_LIMIT: u64 = 1_000_000;

/// A node reached over HTTP JSON-RPC. Transactions are signed locally by the signers it was
/// given; `from` must be one of them.
pub struct RpcChain {
    runtime: tokio::runtime::Runtime,
    provider: DynProvider,
    chain_id: u64,
    /// The node's URL as it may be shown (errors quote it redacted).
    url: RedactedUrl,
    /// An anvil this chain started, stopped when the chain is dropped.
    anvil: Option<AnvilInstance>,
}

impl std::fmt::Debug for RpcChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcChain").field("url", &self.url).field("chain_id", &self.chain_id).finish_non_exhaustive()
    }
}

fn node_error(context: &str, error: impl std::fmt::Display) -> ChainError {
    ChainError::Node(format!("{context}: {error}"))
}

impl RpcChain {
    /// Connects to `url` with these signers (at least one).
    pub fn connect(url: &str, signers: &[Signer]) -> Result<Self, ChainError> {
        if signers.is_empty() {
            return Err(ChainError::Node("a node chain that sends transactions needs at least one signer".into()));
        }
        Self::connect_with(url, signers)
    }

    /// Connects to `url` for reads only: calls, views and simulations. Sending a transaction
    /// fails, as no key is held.
    pub fn connect_read_only(url: &str) -> Result<Self, ChainError> {
        Self::connect_with(url, &[])
    }

    fn connect_with(url: &str, signers: &[Signer]) -> Result<Self, ChainError> {
        let redacted = RedactedUrl::new(url);
        let parsed = url.parse().map_err(|_| ChainError::Node(format!("the RPC URL {redacted} does not parse")))?;
        let mut wallet: Option<EthereumWallet> = None;
        for signer in signers {
            let local = PrivateKeySigner::from_signing_key(signer.signing_key().clone());
            match wallet.as_mut() {
                Some(wallet) => wallet.register_signer(local),
                None => wallet = Some(EthereumWallet::from(local)),
            }
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| node_error("starting the async runtime", e))?;
        let provider = match wallet {
            Some(wallet) => ProviderBuilder::new().wallet(wallet).connect_http(parsed).erased(),
            None => ProviderBuilder::new().connect_http(parsed).erased(),
        };
        let chain_id = runtime
            .block_on(provider.get_chain_id())
            .map_err(|e| node_error(&format!("eth_chainId at {redacted}"), redacted.scrub(&e.to_string())))?;
        Ok(Self { runtime, provider, chain_id, url: redacted, anvil: None })
    }

    /// A node error with the URL's secrets scrubbed from its text.
    fn error(&self, context: &str, error: impl std::fmt::Display) -> ChainError {
        node_error(context, self.url.scrub(&error.to_string()))
    }

    /// Starts `anvil` (the binary at `binary`) on a free loopback port, Prague rules, and
    /// connects to it with these signers, each funded with 1,000 ether. The node is stopped
    /// when the chain is dropped, also when a test panics.
    pub fn spawn_anvil(binary: &Path, signers: &[Signer]) -> Result<Self, ChainError> {
        let anvil = Anvil::at(binary)
            .prague()
            .arg("--host")
            .arg("127.0.0.1")
            .try_spawn()
            .map_err(|e| node_error(&format!("starting {}", binary.display()), e))?;
        let mut chain = Self::connect(&anvil.endpoint(), signers)?;
        chain.anvil = Some(anvil);
        let ether = U256::from(10).pow(U256::from(21));
        for signer in signers {
            chain.set_balance(signer.address(), ether)?;
        }
        Ok(chain)
    }

    /// Whether `address` has code on the latest block.
    pub fn has_code(&self, address: Address) -> Result<bool, ChainError> {
        let code = self
            .runtime
            .block_on(async { self.provider.get_code_at(address).await })
            .map_err(|e| self.error("eth_getCode", e))?;
        Ok(!code.is_empty())
    }

    /// The number of transactions `address` has sent (its next nonce), on the latest block.
    pub fn nonce(&self, address: Address) -> Result<u64, ChainError> {
        self.runtime
            .block_on(async { self.provider.get_transaction_count(address).await })
            .map_err(|e| self.error("eth_getTransactionCount", e))
    }

    /// The endpoint of the anvil this chain started, if it did.
    pub fn anvil_endpoint(&self) -> Option<String> {
        self.anvil.as_ref().map(AnvilInstance::endpoint)
    }

    /// The alloy provider, for what the [`Chain`] trait does not cover.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Sets an account's ether balance (anvil only: `anvil_setBalance`).
    pub fn set_balance(&mut self, address: Address, balance: U256) -> Result<(), ChainError> {
        self.runtime
            .block_on(self.provider.anvil_set_balance(address, balance))
            .map_err(|e| self.error("anvil_setBalance", e))
    }

    /// Runs `calls` (each `(from, to, data)`) one after another in one simulated next block
    /// (`eth_simulateV1`): each sees the state the previous ones left. Nothing is sent. Gives
    /// each call's outcome, stopping after the first that does not succeed.
    pub fn simulate(&self, calls: &[(Address, Address, Bytes)]) -> Result<Vec<Outcome>, ChainError> {
        let payload = super::simulate::payload(calls, self.block_number()? + 1);
        let blocks = self
            .runtime
            .block_on(async { self.provider.simulate(&payload).await })
            .map_err(|e| self.error("eth_simulateV1", e))?;
        super::simulate::outcomes(blocks, calls.len()).map_err(ChainError::Node)
    }

    /// Sends `request` and waits for its receipt. The gas is estimated; only when the node
    /// reports that the transaction reverts is it sent anyway, with a fixed limit, so that it
    /// is mined as on the embedded chain. A transport or node failure is an error.
    fn send(&mut self, request: TransactionRequest) -> Result<(Receipt, Option<Address>), ChainError> {
        let provider = &self.provider;
        let url = &self.url;
        let error = |context: &str, e: &dyn std::fmt::Display| node_error(context, url.scrub(&e.to_string()));
        self.runtime.block_on(async {
            let gas = match provider.estimate_gas(request.clone()).await {
                Ok(gas) => gas,
                Err(e) => match revert_of(e) {
                    Ok(_) => REVERTING_GAS_LIMIT,
                    Err(e) => return Err(error("eth_estimateGas", &e)),
                },
            };
            let pending = provider
                .send_transaction(request.clone().with_gas_limit(gas))
                .await
                .map_err(|e| error("eth_sendTransaction", &e))?;
            let receipt = pending.get_receipt().await.map_err(|e| error("waiting for the receipt", &e))?;
            let block_number =
                receipt.block_number.ok_or_else(|| ChainError::Node("receipt without a block".into()))?;
            let outcome = if receipt.status() {
                Outcome::Success(Bytes::new())
            } else {
                // The node does not keep revert data: replay the call on the state before it.
                let parent = BlockId::number(block_number.saturating_sub(1));
                match provider.call(request).block(parent).await {
                    Ok(_) => Outcome::Halt("reverted on chain, but not when replayed".into()),
                    Err(e) => revert_of(e).map_err(|e| error("replaying the reverted call", &e))?,
                }
            };
            let logs = receipt.inner.logs().iter().map(|log| log.inner.clone()).collect();
            let receipt_out = Receipt { block_number, outcome, gas_used: receipt.gas_used, logs };
            Ok((receipt_out, receipt.contract_address))
        })
    }
}

/// The outcome of a request that returned a JSON-RPC error: a revert the node reported (with
/// its data, if any), or the text of any other failure.
fn revert_of(error: RpcError<TransportErrorKind>) -> Result<Outcome, String> {
    match error.as_error_resp() {
        Some(payload) => match payload.as_revert_data() {
            Some(data) => Ok(Outcome::Revert(data)),
            None if payload.message.contains("revert") => Ok(Outcome::Revert(Bytes::new())),
            None => Err(format!("{} (code {})", payload.message, payload.code)),
        },
        None => Err(error.to_string()),
    }
}

impl Chain for RpcChain {
    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn block_number(&self) -> Result<u64, ChainError> {
        self.runtime.block_on(self.provider.get_block_number()).map_err(|e| self.error("eth_blockNumber", e))
    }

    fn deploy(&mut self, from: Address, init_code: Bytes) -> Result<Deployment, ChainError> {
        let request = TransactionRequest::default().with_from(from).with_deploy_code(init_code);
        match self.send(request)? {
            (receipt, Some(address)) if receipt.outcome.is_success() => Ok(Deployment { address, receipt }),
            (receipt, _) => Err(ChainError::DeploymentFailed(receipt.outcome)),
        }
    }

    fn transact(&mut self, from: Address, to: Address, data: Bytes) -> Result<Receipt, ChainError> {
        let request = TransactionRequest::default().with_from(from).with_to(to).with_input(data);
        self.send(request).map(|(receipt, _)| receipt)
    }

    fn call(&mut self, from: Address, to: Address, data: Bytes) -> Result<Outcome, ChainError> {
        let request = TransactionRequest::default().with_from(from).with_to(to).with_input(data);
        match self.runtime.block_on(async { self.provider.call(request).await }) {
            Ok(data) => Ok(Outcome::Success(data)),
            Err(error) => revert_of(error).map_err(|e| self.error("eth_call", e)),
        }
    }

    fn mine(&mut self, blocks: u64) -> Result<(), ChainError> {
        if blocks == 0 {
            return Ok(());
        }
        self.runtime.block_on(self.provider.anvil_mine(Some(blocks), None)).map_err(|e| self.error("anvil_mine", e))
    }
}
