//! One lock per channel for the requests that pay on it: whoever holds a channel's lock checks
//! a payment, runs what it pays for, and registers it, so one proof cannot pay for two things
//! at once. One table per channel manager, shared by everything that takes payments for it.

use std::hash::{BuildHasher, RandomState};

use alloy_primitives::Address;
use tokio::sync::{Mutex, MutexGuard};

/// Locks per channel: a fixed set of stripes, picked by a keyed hash of the channel.
const LOCK_STRIPES: usize = 4096;

/// The locks serialising paid requests per channel (see the module). Two channels may share a
/// stripe and then wait for each other; a channel never has two.
pub struct ChannelLocks {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

impl Default for ChannelLocks {
    fn default() -> Self {
        Self { stripes: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(), hasher: RandomState::new() }
    }
}

impl std::fmt::Debug for ChannelLocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelLocks").field("stripes", &self.stripes.len()).finish_non_exhaustive()
    }
}

impl ChannelLocks {
    /// Waits for the lock of channel (`sender`, this receiver, `open_block`).
    pub async fn lock(&self, sender: Address, open_block: u32) -> MutexGuard<'_, ()> {
        let stripe = self.hasher.hash_one((sender, open_block)) as usize % self.stripes.len();
        self.stripes[stripe].lock().await
    }
}
