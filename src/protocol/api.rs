//! The management API's paths and the JSON its server and its clients exchange
//! (`docs/openapi.json` documents all of it).

use alloy_primitives::{Address, Bytes};
use serde::{Deserialize, Serialize};

/// The management API's base path, sent in µRaiden's `RDN-Gateway-Path`.
pub const API_BASE: &str = "/api/1";

/// The path of one channel (`GET` it; `DELETE` it with a [`CooperativeClose`] to close it
/// cooperatively).
pub fn channel_path(sender: Address, open_block: u32) -> String {
    format!("{API_BASE}/channels/{sender}/{open_block}")
}

/// The body of a cooperative close (`DELETE` [`channel_path`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CooperativeClose {
    /// The balance to close with (decimal): the last registered one.
    pub balance: String,
    /// The sender's balance proof of it (`0x` + 130 hex digits).
    pub balance_signature: String,
    /// The sender's signature of `CloseRequest(receiver, openBlockNumber, balance)`: its consent.
    pub close_request_signature: String,
}

/// The answer to a cooperative close: the receiver's closing signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseSignature {
    /// The receiver's signature over the sender's balance proof.
    pub close_signature: Bytes,
}

/// Every error of the API: `{"error": code, "message": …}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// A short, stable code.
    pub error: String,
    /// What went wrong, for people.
    pub message: String,
}
