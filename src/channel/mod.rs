//! What names a channel, what the contract stores about it, where it is in its life, and what
//! the contract's events make of it.

mod state;
mod status;

pub use state::{ChannelEvent, ChannelState};
pub use status::ChannelStatus;

use alloy_primitives::{Address, B256, aliases::U192, keccak256};

/// A channel's identity: the contract keys it by (sender, receiver, open block).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId {
    /// Who escrows the deposit and signs balance proofs.
    pub sender: Address,
    /// Who is paid.
    pub receiver: Address,
    /// The block the channel was opened in.
    pub open_block: u32,
}

impl ChannelId {
    /// The contract's `getKey`: `keccak256(abi.encodePacked(sender, receiver, open_block))`.
    pub fn key(&self) -> B256 {
        let mut packed = [0u8; 44];
        packed[..20].copy_from_slice(self.sender.as_slice());
        packed[20..40].copy_from_slice(self.receiver.as_slice());
        packed[40..].copy_from_slice(&self.open_block.to_be_bytes());
        keccak256(packed)
    }
}

impl std::fmt::Display for ChannelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} -> {} @{}", self.sender, self.receiver, self.open_block)
    }
}

/// What `getChannelInfo` returns for an open channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The channel's key.
    pub key: B256,
    /// Tokens escrowed.
    pub deposit: U192,
    /// Block after which the sender may settle; 0 while no close is requested.
    pub settle_block: u32,
    /// The balance the sender asked to close with; 0 while no close is requested.
    pub closing_balance: U192,
}
