//! The shared context: what every part of the manager reads (configuration, identity, node,
//! store) and the state they share (the in-memory records and the status).

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use alloy_primitives::Address;
use tokio::sync::watch;

use super::{
    config::ManagerConfig,
    error::{ManagerError, StoreError},
    state::State,
    status::SyncStatus,
    store::{Store, StoreIdentity},
    types::ChannelRecord,
};
use crate::{
    channel::ChannelId,
    contract::bindings::RaidenMicroTransferChannels as C,
    node::{Node, NodeError},
    proof::ChannelDomain,
};

/// What the facade, the payment writer, the follower and the disputes share.
pub(crate) struct Context {
    /// How the manager was set up.
    pub config: ManagerConfig,
    /// The chain, contract and receiver.
    pub identity: StoreIdentity,
    /// The contract's EIP-712 domain.
    pub domain: ChannelDomain,
    /// The token.
    pub token: Address,
    /// The contract's challenge period, in blocks.
    pub challenge_period: u32,
    /// The durable state.
    pub store: Store,
    /// The node.
    pub node: Node,
    /// The in-memory state.
    pub state: RwLock<State>,
    /// What the manager reports.
    pub status: watch::Sender<SyncStatus>,
    /// This manager's name for the chain-work lease of a shared store: random, chosen at start.
    pub holder: Arc<str>,
}

impl Context {
    /// Connects to the node, opens the store (refusing one made for another chain, contract or
    /// receiver) and loads the channels.
    pub(crate) async fn connect(config: ManagerConfig) -> Result<Self, ManagerError> {
        let receiver = config.receiver.address();
        let node = Node::connect(&config.rpc_url, Some(&config.receiver))
            .await
            .map_err(node_error)?
            .with_timeout(config.node_timeout);
        let token = node.view(config.contract, &C::token_addressCall {}).await.map_err(node_error)?;
        let challenge_period = node.view(config.contract, &C::challenge_periodCall {}).await.map_err(node_error)?;
        let identity = StoreIdentity { chain_id: node.chain_id(), contract: config.contract, receiver };
        let store = Store::open(&config.store_url, identity).await?;
        let unreachable_limit =
            config.unreachable_share.map(|share| config.block_time.mul_f64(f64::from(challenge_period) * share));
        let mut state = State {
            cursor: store.cursor().await?,
            last_contact: Some(std::time::Instant::now()),
            unreachable_limit,
            ..State::default()
        };
        state.records = store.channels(receiver).await?.into_iter().map(|r| (r.id, r)).collect();
        Ok(Self {
            domain: ChannelDomain::new(identity.chain_id, config.contract),
            config,
            identity,
            token,
            challenge_period,
            store,
            node,
            state: RwLock::new(state),
            status: watch::Sender::new(SyncStatus::default()),
            holder: holder_name().into(),
        })
    }

    /// Reloads a channel's record from the store: with a shared store, another server may have
    /// registered payments since this one last looked.
    /// A store that cannot be read is an error: what is held may be stale, and deciding on it
    /// could answer a client with an old balance or close with an old proof.
    pub(crate) async fn reload(&self, id: &ChannelId) -> Result<(), StoreError> {
        if let Some(fresh) = self.store.channel(id).await? {
            take_fresh(&mut self.state.write().expect("state lock").records, fresh);
        }
        Ok(())
    }

    /// With a shared store, brings the records up to the store's (one channel, or all of them):
    /// every payment any server acknowledged before this call is then in the in-memory views.
    /// Nothing to do on SQLite, whose only writer is this process.
    pub(crate) async fn read_through(&self, id: Option<&ChannelId>) -> Result<(), StoreError> {
        if !self.store.is_shared() {
            return Ok(());
        }
        let fresh = match id {
            Some(id) => self.store.channel(id).await?.into_iter().collect(),
            None => self.store.channels(self.identity.receiver).await?,
        };
        let mut state = self.state.write().expect("state lock");
        for record in fresh {
            take_fresh(&mut state.records, record);
        }
        Ok(())
    }
}

/// Puts a record read from the store in place of the one held, unless the held one has a higher
/// balance (a payment this server registered after the store was read): then only the chain's
/// part and the close agreement are taken. A balance never goes back.
fn take_fresh(records: &mut HashMap<ChannelId, ChannelRecord>, fresh: ChannelRecord) {
    match records.get_mut(&fresh.id) {
        Some(held) if held.balance > fresh.balance => {
            held.set_chain_state(fresh.chain_state());
            held.close_signed |= fresh.close_signed;
        }
        _ => {
            records.insert(fresh.id, fresh);
        }
    }
}

/// A name no other server picks: the process id, the time, and 64 bits of the standard
/// library's per-process random hash keys.
fn holder_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{}-{nanos:x}-{random:016x}", std::process::id())
}

fn node_error(error: NodeError) -> ManagerError {
    ManagerError::Node(error.to_string())
}
