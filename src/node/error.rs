//! Why a node request failed: "the node refused", "the node could not be reached", a revert,
//! or something the node does not have.

use alloy::transports::{RpcError, TransportErrorKind};

use crate::{chain::RedactedUrl, contract::Revert};

/// Why a node request failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// The node could not be reached, or its answer could not be read.
    #[error("node unreachable: {0}")]
    Unreachable(String),
    /// The node answered with an error (a range too large, an unknown method, a bad request).
    #[error("node refused: {0}")]
    Refused(String),
    /// The call reverted with this error.
    #[error("reverted: {0}")]
    Reverted(Revert),
    /// The node does not have what was asked for (a block beyond its head).
    #[error("the node has no {0}")]
    Missing(String),
}

impl From<RpcError<TransportErrorKind>> for NodeError {
    fn from(error: RpcError<TransportErrorKind>) -> Self {
        match &error {
            RpcError::ErrorResp(payload) => match payload.as_revert_data() {
                Some(data) => NodeError::Reverted(Revert::decode(&data)),
                None => NodeError::Refused(format!("{} (code {})", payload.message, payload.code)),
            },
            _ => NodeError::Unreachable(error.to_string()),
        }
    }
}

impl NodeError {
    /// The error with every trace of `url`'s secrets (user info, path, query) removed from its
    /// text: a transport error quotes the URL it failed on.
    pub fn scrubbed(self, url: &RedactedUrl) -> Self {
        match self {
            NodeError::Unreachable(text) => NodeError::Unreachable(url.scrub(&text)),
            NodeError::Refused(text) => NodeError::Refused(url.scrub(&text)),
            NodeError::Missing(text) => NodeError::Missing(url.scrub(&text)),
            reverted @ NodeError::Reverted(_) => reverted,
        }
    }
}
