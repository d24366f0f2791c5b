//! The sender: a channel client and an HTTP client that pays by itself.
//!
//! - [`ChannelClient`]: opens, tops up, signs, closes (cooperatively through the receiver's API,
//!   or alone) and settles channels; keeps them in a local store ([`SenderStore`]) and rebuilds
//!   it from the chain.
//! - [`PayingClient`]: answers a 402 by paying through a channel (µRaiden headers or x402),
//!   within a [`PaymentPolicy`].

mod client;
mod error;
mod http;
mod sessions;
mod store;

pub use client::{ChannelClient, Closed, DepositPath, SenderConfig};
pub use error::{SenderError, SenderStoreError};
pub use http::{Approval, MAX_CONFIRMATIONS, PaidResponse, PayingClient, PaymentMade, PaymentPolicy, Progress, Quote};
pub use store::{PendingDeposit, SenderChannel, SenderStore};
