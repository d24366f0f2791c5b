//! Where a channel is in its life: the one status the receiver, its API and the sender share.

use serde::Serialize;

/// Where a channel is in its life, as the receiver and the sender see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelStatus {
    /// Payments are accepted (once the opening is confirmed).
    Open,
    /// A close was requested on chain, or the receiver signed a cooperative close: no more
    /// payments.
    Closing,
    /// The contract paid out and deleted the channel.
    Settled,
}

impl ChannelStatus {
    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelStatus::Open => "open",
            ChannelStatus::Closing => "closing",
            ChannelStatus::Settled => "settled",
        }
    }

    /// The status named `name`, as [`ChannelStatus::as_str`] writes it.
    pub fn parse(name: &str) -> Option<Self> {
        [ChannelStatus::Open, ChannelStatus::Closing, ChannelStatus::Settled].into_iter().find(|s| s.as_str() == name)
    }
}
