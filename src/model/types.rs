//! What the model's transactions return. The transactions themselves are
//! [`crate::contract::Call`]: the model and the client share one set.

use crate::contract::{Event, Revert};

pub use crate::contract::Call;

/// The result of a transaction: the events emitted, in order, or the revert.
pub type TxResult = Result<Vec<Event>, Revert>;
