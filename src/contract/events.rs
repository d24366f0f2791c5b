//! Logs decoded into the contract's and the token's events.

use alloy_primitives::{Address, Log};
use alloy_sol_types::SolEventInterface;

use crate::channel::{ChannelEvent, ChannelId};

use super::bindings::{ERC223Token::ERC223TokenEvents, RaidenMicroTransferChannels::RaidenMicroTransferChannelsEvents};

/// The channel contract's events.
pub type ChannelsEvent = RaidenMicroTransferChannelsEvents;
/// The token's events.
pub type TokenEvent = ERC223TokenEvents;

/// An event of the channel contract or of the token, in the order they were emitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Emitted by the channel contract.
    Channels(ChannelsEvent),
    /// Emitted by the token.
    Token(TokenEvent),
}

/// Why a log could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("log from {address} does not decode as one of its events: {reason}")]
pub struct UndecodedLog {
    /// The emitter.
    pub address: Address,
    /// The decoder's complaint.
    pub reason: String,
}

/// Decodes the logs emitted by `token` and `channels`; logs of other contracts are skipped.
pub fn decode_logs(logs: &[Log], token: Address, channels: Address) -> Result<Vec<Event>, UndecodedLog> {
    let undecoded = |log: &Log, e: alloy_sol_types::Error| UndecodedLog { address: log.address, reason: e.to_string() };
    logs.iter()
        .filter(|log| log.address == token || log.address == channels)
        .map(|log| {
            if log.address == channels {
                ChannelsEvent::decode_log(log).map(|e| Event::Channels(e.data)).map_err(|e| undecoded(log, e))
            } else {
                TokenEvent::decode_log(log).map(|e| Event::Token(e.data)).map_err(|e| undecoded(log, e))
            }
        })
        .collect()
}

/// A channel event as the change it makes to the channel it names, or `None` for an event
/// that changes no channel (and for an opening in a block above `u32::MAX`). `block` is the
/// log's block: an opening's block names the channel, and a close request's plus the contract's
/// `challenge_period` is the block after which the sender may settle.
pub fn channel_event(event: &ChannelsEvent, block: u64, challenge_period: u32) -> Option<(ChannelId, ChannelEvent)> {
    let id = |sender, receiver, open_block| ChannelId { sender, receiver, open_block };
    Some(match event {
        ChannelsEvent::ChannelCreated(e) => {
            let open_block = u32::try_from(block).ok()?;
            (id(e._sender, e._receiver, open_block), ChannelEvent::Opened { deposit: e._deposit })
        }
        ChannelsEvent::ChannelToppedUp(e) => (
            id(e._sender, e._receiver, e._open_block_number),
            ChannelEvent::ToppedUp { added: e._added_deposit, deposit: e._deposit },
        ),
        ChannelsEvent::ChannelCloseRequested(e) => (
            id(e._sender, e._receiver, e._open_block_number),
            ChannelEvent::CloseRequested { balance: e._balance, settle_block: block + u64::from(challenge_period) },
        ),
        ChannelsEvent::ChannelSettled(e) => {
            (id(e._sender, e._receiver, e._open_block_number), ChannelEvent::Settled { balance: e._balance })
        }
        _ => return None,
    })
}
