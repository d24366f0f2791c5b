//! The channel contract and the test token: bindings, decoded events and errors, and a typed
//! client that works on any [`Chain`](crate::chain::Chain).

pub mod bindings;
mod call;
mod client;
mod events;
mod revert;

pub use call::Call;
pub use client::{CallError, Contracts, DeployGas, Tx, TxError, init_code, open_data, top_up_data};
pub use events::{ChannelsEvent, Event, TokenEvent, UndecodedLog, channel_event, decode_logs};
pub use revert::{ChannelsError, Revert, TokenError};
