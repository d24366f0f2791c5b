//! The store read-only: what tests and operators may look at without going through the manager.

use alloy_primitives::Address;

use super::{CloseTx, Store, StoreIdentity};
use crate::{
    channel::ChannelId,
    receiver::{error::StoreError, types::ChannelRecord},
};

/// The receiver's store, read-only: channels with their last proof, and the close transactions
/// sent. Payments are written only by the manager, after the proof check.
#[derive(Clone, Debug)]
pub struct StoreView {
    store: Store,
    receiver: Address,
}

impl StoreView {
    pub(crate) fn new(store: Store, receiver: Address) -> Self {
        Self { store, receiver }
    }

    /// Opens (creating and migrating if needed) the store at `url` (`sqlite://PATH` or
    /// `postgres://…`) for `identity`, to read it; refuses a store made for another chain,
    /// contract or receiver, and (SQLite) a file another process holds or other users can read.
    pub async fn open(url: &str, identity: StoreIdentity) -> Result<Self, StoreError> {
        Ok(Self::new(Store::open(url, identity).await?, identity.receiver))
    }

    /// Whether other processes may write to this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.store.is_shared()
    }

    /// Every channel record.
    pub async fn channels(&self) -> Result<Vec<ChannelRecord>, StoreError> {
        self.store.channels(self.receiver).await
    }

    /// One channel's record.
    pub async fn channel(&self, id: &ChannelId) -> Result<Option<ChannelRecord>, StoreError> {
        self.store.channel(id).await
    }

    /// The close transactions sent for a channel, oldest first.
    pub async fn close_txs(&self, id: &ChannelId) -> Result<Vec<CloseTx>, StoreError> {
        self.store.close_txs(id).await
    }
}
