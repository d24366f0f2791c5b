//! Shared fixture for the integration tests: a chain with the token and the channel contract
//! deployed, and a few funded actors with keys.

#![allow(dead_code, unreachable_pub)]

pub mod js;
pub mod postgres;
pub mod receivers;
pub mod test_contracts;

use alloy_primitives::{Address, Bytes, U256, aliases::U192};
use uraiden::{
    chain::Chain,
    channel::{ChannelId, ChannelInfo},
    contract::bindings::RaidenMicroTransferChannels as C,
    contract::{ChannelsError, ChannelsEvent, Contracts, Event, Revert, TokenEvent, Tx, TxError},
    proof::Signer,
};

/// Tokens (in base units) each sender starts with.
pub const FUNDS: u64 = 1_000;
pub const CHALLENGE_PERIOD: u32 = 10;

#[derive(Debug)]
pub struct Fixture<Ch: Chain> {
    pub chain: Ch,
    pub c: Contracts,
    pub deployer: Signer,
    pub sender: Signer,
    pub receiver: Signer,
    pub outsider: Signer,
}

pub fn u192(v: u64) -> U192 {
    U192::from(v)
}

pub fn u256(v: u64) -> U256 {
    U256::from(v)
}

impl<Ch: Chain> Fixture<Ch> {
    pub fn new(mut chain: Ch) -> Self {
        let deployer = Signer::test_key(0);
        let sender = Signer::test_key(1);
        let receiver = Signer::test_key(2);
        let outsider = Signer::test_key(3);
        let (c, _) = Contracts::deploy(&mut chain, deployer.address(), u256(1_000_000), CHALLENGE_PERIOD).unwrap();
        let mut f = Self { chain, c, deployer, sender, receiver, outsider };
        for who in [f.sender.address(), f.outsider.address()] {
            f.c.transfer(&mut f.chain, f.deployer.address(), who, u256(FUNDS)).unwrap();
        }
        f
    }

    pub fn balance(&mut self, who: Address) -> u64 {
        self.c.balance_of(&mut self.chain, who).unwrap().to()
    }

    /// Balances of sender, receiver, outsider and the contract.
    pub fn balances(&mut self) -> [u64; 4] {
        let (s, r, o, c) = (self.sender.address(), self.receiver.address(), self.outsider.address(), self.c.channels);
        [self.balance(s), self.balance(r), self.balance(o), self.balance(c)]
    }

    pub fn channel(&self, open_block: u32) -> ChannelId {
        ChannelId { sender: self.sender.address(), receiver: self.receiver.address(), open_block }
    }

    pub fn info(&mut self, channel: &ChannelId) -> Result<ChannelInfo, Revert> {
        self.c.channel_info(&mut self.chain, channel).map_err(|e| e.revert().cloned().expect("a revert"))
    }

    /// Opens sender -> receiver by ERC20 (approve + create); returns the channel.
    pub fn open_erc20(&mut self, deposit: u64) -> ChannelId {
        let (s, r) = (self.sender.address(), self.receiver.address());
        self.c.approve(&mut self.chain, s, self.c.channels, u256(deposit)).unwrap();
        let tx = self.c.open_erc20(&mut self.chain, s, r, u192(deposit)).unwrap();
        self.channel(tx.block_number as u32)
    }

    /// Opens sender -> receiver by ERC223; returns the channel.
    pub fn open_erc223(&mut self, deposit: u64) -> ChannelId {
        let (s, r) = (self.sender.address(), self.receiver.address());
        let tx = self.c.open_erc223(&mut self.chain, s, r, u256(deposit)).unwrap();
        self.channel(tx.block_number as u32)
    }

    /// The sender's balance proof for `balance` in `channel`.
    pub fn pay(&self, channel: &ChannelId, balance: u64) -> Bytes {
        let digest = self.c.domain.balance_digest(channel.receiver, channel.open_block, u192(balance));
        self.sender.sign_digest(digest)
    }

    /// The receiver's closing signature over a balance proof.
    pub fn agree(&self, balance_sig: &Bytes) -> Bytes {
        self.receiver.sign_digest(self.c.domain.closing_digest(balance_sig))
    }

    /// Everything a bad call must leave unchanged: balances, total supply and channel info.
    pub fn state(&mut self, channels: &[ChannelId]) -> (Vec<u64>, U256, Vec<Result<ChannelInfo, Revert>>) {
        let balances = self.balances().to_vec();
        let supply = self.c.total_supply(&mut self.chain).unwrap();
        let infos = channels.iter().map(|ch| self.info(ch)).collect();
        (balances, supply, infos)
    }

    /// Runs a call that must revert with `expected`, and checks that it changed nothing.
    pub fn assert_reverts(
        &mut self,
        channels: &[ChannelId],
        expected: impl Into<Revert>,
        call: impl FnOnce(&mut Self) -> Result<Tx, TxError>,
    ) {
        let before = self.state(channels);
        let result = call(self);
        let expected = expected.into();
        match result {
            Err(TxError::Reverted { revert, .. }) => assert_eq!(revert, expected),
            other => panic!("expected revert {expected}, got {other:?}"),
        }
        assert_eq!(self.state(channels), before, "a reverted call changed state");
    }
}

/// The channel contract's events in a transaction, without the token's.
pub fn channel_events(tx: &Tx) -> Vec<ChannelsEvent> {
    tx.events
        .iter()
        .filter_map(|e| match e {
            Event::Channels(e) => Some(e.clone()),
            Event::Token(_) => None,
        })
        .collect()
}

/// The token transfers in a transaction, as (from, to, value).
pub fn transfers(tx: &Tx) -> Vec<(Address, Address, u64)> {
    tx.events
        .iter()
        .filter_map(|e| match e {
            Event::Token(TokenEvent::Transfer(t)) => Some((t.from, t.to, t.value.to())),
            _ => None,
        })
        .collect()
}

pub fn created(ch: &ChannelId, deposit: u64) -> ChannelsEvent {
    ChannelsEvent::ChannelCreated(C::ChannelCreated {
        _sender: ch.sender,
        _receiver: ch.receiver,
        _deposit: u192(deposit),
    })
}

pub fn topped_up(ch: &ChannelId, added: u64, deposit: u64) -> ChannelsEvent {
    ChannelsEvent::ChannelToppedUp(C::ChannelToppedUp {
        _sender: ch.sender,
        _receiver: ch.receiver,
        _open_block_number: ch.open_block,
        _added_deposit: u192(added),
        _deposit: u192(deposit),
    })
}

pub fn settled(ch: &ChannelId, balance: u64) -> ChannelsEvent {
    ChannelsEvent::ChannelSettled(C::ChannelSettled {
        _sender: ch.sender,
        _receiver: ch.receiver,
        _open_block_number: ch.open_block,
        _balance: u192(balance),
    })
}

pub fn not_found(ch: &ChannelId) -> ChannelsError {
    ChannelsError::ChannelNotFound(C::ChannelNotFound { key: ch.key() })
}

/// A fresh anvil (from the pinned npm package) on a free loopback port, with the fixture's
/// test keys funded; it stops when the chain is dropped.
pub fn anvil_chain() -> uraiden::chain::RpcChain {
    let binary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/.bin/anvil");
    let signers: Vec<Signer> = (0..4).map(Signer::test_key).collect();
    uraiden::chain::RpcChain::spawn_anvil(&binary, &signers).expect("starting anvil (npm ci installs it)")
}

/// alloy's provider on the node at `url`, signing for `signer` if given: for what a test does
/// beside the library (anvil's methods, raw transactions); the library keeps its own to itself.
pub fn provider(url: &str, signer: Option<&Signer>) -> alloy::providers::DynProvider {
    use alloy::providers::{Provider, ProviderBuilder};
    let url = url.parse().expect("a node URL");
    match signer {
        Some(signer) => {
            let key = alloy::signers::local::PrivateKeySigner::from_signing_key(signer.signing_key().clone());
            ProviderBuilder::new().wallet(alloy::network::EthereumWallet::from(key)).connect_http(url).erased()
        }
        None => ProviderBuilder::new().connect_http(url).erased(),
    }
}

/// Opens `count` channels from the fixture's sender by ERC223, one per block (a channel is
/// keyed by its open block). Anvil mines each transaction as it arrives: its receipt is asked
/// for every millisecond, not at the provider's polling interval.
pub async fn open_many(f: &Fixture<uraiden::chain::RpcChain>, url: &str, count: usize, deposit: u64) -> Vec<ChannelId> {
    let node = provider(url, Some(&f.sender));
    let (sender, receiver) = (f.sender.address(), f.receiver.address());
    use alloy::{network::TransactionBuilder, providers::Provider};
    use std::time::{Duration, Instant};
    let call = uraiden::contract::Call::TransferWithData {
        to: f.c.channels,
        amount: U256::from(deposit),
        data: uraiden::contract::open_data(receiver),
    };
    let (to, input) = call.encode(f.c.token, f.c.channels);
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count {
        let request = alloy::rpc::types::TransactionRequest::default()
            .with_from(sender)
            .with_to(to)
            .with_input(input.clone())
            .with_gas_limit(500_000)
            .with_max_fee_per_gas(100_000_000_000)
            .with_max_priority_fee_per_gas(1_000_000_000);
        let hash = *node.send_transaction(request).await.unwrap().tx_hash();
        let deadline = Instant::now() + Duration::from_secs(10);
        let receipt = loop {
            if let Some(receipt) = node.get_transaction_receipt(hash).await.unwrap() {
                break receipt;
            }
            assert!(Instant::now() < deadline, "the open {hash} was not mined in 10 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        assert!(receipt.status(), "the open succeeded");
        channels.push(ChannelId { sender, receiver, open_block: receipt.block_number.unwrap() as u32 });
    }
    channels
}
