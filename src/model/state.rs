//! What the token and the channel contract store. Plain data; the logic is in
//! [`super::token`] and [`super::channels`].

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256, aliases::U192};

use crate::{channel::ChannelId, proof::ChannelDomain};

/// Fixed at deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The chain id, part of every balance proof's domain.
    pub chain_id: u64,
    /// The token's address.
    pub token: Address,
    /// The channel contract's address.
    pub channels: Address,
    /// Blocks the receiver has to answer a sender's close request.
    pub challenge_period: u32,
}

/// The ERC20 token's storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenState {
    /// Balance of every account that ever held tokens (zero balances may stay listed).
    pub balances: BTreeMap<Address, U256>,
    /// `allowances[(owner, spender)]`: what `spender` may take from `owner`.
    pub allowances: BTreeMap<(Address, Address), U256>,
    /// Tokens in existence; minted once at deployment.
    pub total_supply: U256,
}

/// A sender's request to close, which starts the challenge period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseRequest {
    /// The sender may settle from the block after this one on.
    pub settle_block: u32,
    /// The balance the sender asked to close with.
    pub balance: U192,
}

/// An open channel. It exists from its opening to its settlement; a settled channel is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    /// (sender, receiver, open block): the channel's identity and key.
    pub id: ChannelId,
    /// Tokens escrowed; never zero.
    pub deposit: U192,
    /// Set once the sender has requested to close; the channel is then in its challenge period.
    pub close_request: Option<CloseRequest>,
}

/// The whole model: the token, the channel contract and the chain's block height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Model {
    /// Deployment constants.
    pub config: Config,
    /// The contract's EIP-712 domain (derived from the config, kept for speed).
    pub domain: ChannelDomain,
    /// The token.
    pub token: TokenState,
    /// Open channels by key (`ChannelId::key`).
    pub channels: BTreeMap<B256, Channel>,
    /// The latest block; the next transaction runs in `block_number + 1`, or in `block_number`
    /// itself while a block is being built.
    pub block_number: u64,
    /// Whether a block is being built ([`Model::begin_block`]): every transaction then runs in
    /// `block_number`, until [`Model::end_block`].
    pub building_block: bool,
}

impl Model {
    /// A model right after deployment: `initial_supply` tokens belong to `deployer`, no channel
    /// is open, and `block_number` is the latest mined block.
    pub fn new(config: Config, deployer: Address, initial_supply: U256, block_number: u64) -> Self {
        let domain = ChannelDomain::new(config.chain_id, config.channels);
        let token = TokenState {
            balances: BTreeMap::from([(deployer, initial_supply)]),
            allowances: BTreeMap::new(),
            total_supply: initial_supply,
        };
        Self { config, domain, token, channels: BTreeMap::new(), block_number, building_block: false }
    }
}
