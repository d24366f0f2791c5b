//! Prepaid sessions: one balance proof buys `n` requests of a route, and the server answers with
//! a credential that the next requests carry instead of a proof. `docs/http-protocol.md`
//! ("Prepaid sessions") is the specification.
//!
//! - The 402 offers them: [`MAX`] (the most requests one proof may buy), [`SCOPE`] (the path the
//!   credential is good for) and [`TTL`]; x402 says the same in `extra.session` ([`Offer`]).
//! - A payment buys them: [`REQUESTS`] beside the `RDN-*` payment, or x402's
//!   `payload.sessionRequests`; its balance is the last one plus `n` prices.
//! - The answer carries the credential in [`SESSION`], with [`REMAINING`] and [`EXPIRES`]; a
//!   request carrying [`SESSION`] (and no payment) spends one of the requests bought.
//!
//! The credential ([`Credential`]) names everything it binds (receiver, contract, chain,
//! channel, scope, price, count, bought balance, expiry) and ends with the server's MAC over
//! those bytes, so any server of the receiver checks it without a store read or a signature
//! check. The MAC's key is the server's; this module only reads and writes the bytes.

use alloy_primitives::{Address, aliases::U192};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::channel::ChannelId;

/// Request: the credential of a prepaid session (in place of a payment); response: the
/// credential a payment just bought.
pub const SESSION: &str = "rdn-session";
/// Request, beside a payment: how many requests it buys (this one included).
pub const REQUESTS: &str = "rdn-session-requests";
/// Response: requests the session has left after this one.
pub const REMAINING: &str = "rdn-session-remaining";
/// Response: when the session ends (unix seconds).
pub const EXPIRES: &str = "rdn-session-expires";
/// 402: the most requests one payment may buy.
pub const MAX: &str = "rdn-session-max";
/// 402: the path (a prefix ending in `/`, or one path) a credential is good for.
pub const SCOPE: &str = "rdn-session-scope";
/// 402: how long a session lasts, in seconds.
pub const TTL: &str = "rdn-session-ttl";
/// Refusal of a credential (value: the reason, as [`crate::protocol::Reason`] names it).
pub const INVALID_SESSION: &str = "rdn-invalid-session";

/// Every session header.
pub const HEADERS: [&str; 8] = [SESSION, REQUESTS, REMAINING, EXPIRES, MAX, SCOPE, TTL, INVALID_SESSION];

/// The longest credential read (bytes).
pub const MAX_CREDENTIAL: usize = 1024;
/// The longest scope a server may name (bytes).
pub const MAX_SCOPE: usize = 256;
/// The MAC's length (HMAC-SHA256).
pub const MAC_LEN: usize = 32;

/// The version prefix of the credentials this module writes.
const VERSION: &str = "v1";
/// The bytes before the scope: receiver, contract, chain id, sender, open block, price,
/// requests, balance, expiry.
const FIXED: usize = 20 + 20 + 8 + 20 + 4 + 24 + 4 + 24 + 8;

/// A route's offer of sessions (x402's `extra.session`; the RDN headers say the same).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    /// The most requests one payment may buy (at least 2).
    pub max_requests: u32,
    /// The path a credential is good for: a prefix ending in `/`, or one exact path.
    pub scope: String,
    /// How long a session lasts, in seconds.
    pub ttl_seconds: u64,
}

impl Offer {
    /// Whether a request for `path` is in this offer's scope.
    pub fn covers(&self, path: &str) -> bool {
        in_scope(&self.scope, path)
    }
}

/// Whether `path` is in `scope` (a prefix ending in `/`, or one exact path).
pub fn in_scope(scope: &str, path: &str) -> bool {
    if scope.ends_with('/') { path.starts_with(scope) } else { path == scope }
}

/// What a credential says, MAC apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The chain id.
    pub chain_id: u64,
    /// The channel contract.
    pub contract: Address,
    /// The channel (its receiver is the server's).
    pub channel: ChannelId,
    /// The path it is good for.
    pub scope: String,
    /// What each request costs.
    pub price: U192,
    /// How many requests were bought (the buying one included).
    pub requests: u32,
    /// The balance that bought them: the last one plus `requests` prices.
    pub balance: U192,
    /// When it ends (unix seconds).
    pub expires: u64,
}

impl Grant {
    /// The bytes the MAC covers (and the credential carries).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED + self.scope.len());
        out.extend_from_slice(self.channel.receiver.as_slice());
        out.extend_from_slice(self.contract.as_slice());
        out.extend_from_slice(&self.chain_id.to_be_bytes());
        out.extend_from_slice(self.channel.sender.as_slice());
        out.extend_from_slice(&self.channel.open_block.to_be_bytes());
        out.extend_from_slice(&self.price.to_be_bytes::<24>());
        out.extend_from_slice(&self.requests.to_be_bytes());
        out.extend_from_slice(&self.balance.to_be_bytes::<24>());
        out.extend_from_slice(&self.expires.to_be_bytes());
        out.extend_from_slice(self.scope.as_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < FIXED || bytes.len() > FIXED + MAX_SCOPE {
            return None;
        }
        let (fixed, scope) = bytes.split_at(FIXED);
        let mut at = 0;
        let mut take = |n: usize| {
            let part = &fixed[at..at + n];
            at += n;
            part
        };
        let receiver = Address::from_slice(take(20));
        let contract = Address::from_slice(take(20));
        let chain_id = u64::from_be_bytes(take(8).try_into().ok()?);
        let sender = Address::from_slice(take(20));
        let open_block = u32::from_be_bytes(take(4).try_into().ok()?);
        let price = U192::from_be_slice(take(24));
        let requests = u32::from_be_bytes(take(4).try_into().ok()?);
        let balance = U192::from_be_slice(take(24));
        let expires = u64::from_be_bytes(take(8).try_into().ok()?);
        let scope = std::str::from_utf8(scope).ok()?.to_string();
        Some(Self {
            chain_id,
            contract,
            channel: ChannelId { sender, receiver, open_block },
            scope,
            price,
            requests,
            balance,
            expires,
        })
    }
}

/// A session credential: a [`Grant`] and the server's MAC over it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// What it grants.
    pub grant: Grant,
    /// The server's MAC over [`Grant::to_bytes`].
    pub mac: [u8; MAC_LEN],
}

impl Credential {
    /// The header value: `v1.<base64url grant>.<base64url MAC>`.
    pub fn encode(&self) -> String {
        format!("{VERSION}.{}.{}", URL_SAFE_NO_PAD.encode(self.grant.to_bytes()), URL_SAFE_NO_PAD.encode(self.mac))
    }

    /// Reads a header value; `None` if it is not a credential this version writes.
    pub fn decode(text: &str) -> Option<Self> {
        if text.len() > MAX_CREDENTIAL {
            return None;
        }
        let mut parts = text.trim().split('.');
        let (Some(VERSION), Some(grant), Some(mac), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let grant = Grant::from_bytes(&URL_SAFE_NO_PAD.decode(grant).ok()?)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?.try_into().ok()?;
        Some(Self { grant, mac })
    }

    /// The session's id: the first 16 bytes of its MAC (unique per grant).
    pub fn id(&self) -> [u8; 16] {
        self.mac[..16].try_into().expect("16 of 32 bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            chain_id: 31337,
            contract: Address::repeat_byte(1),
            channel: ChannelId { sender: Address::repeat_byte(2), receiver: Address::repeat_byte(3), open_block: 77 },
            scope: "/api/".into(),
            price: U192::from(1000),
            requests: 50,
            balance: U192::from(51_000),
            expires: 1_800_000_000,
        }
    }

    #[test]
    fn a_credential_reads_back_and_anything_else_does_not() {
        let credential = Credential { grant: grant(), mac: [7; 32] };
        let text = credential.encode();
        assert_eq!(Credential::decode(&text), Some(credential.clone()));
        assert!(text.len() < 300, "{}", text.len());
        for bad in ["", "v1", "v2.AA.AA", "v1.AA.AA", &text.replacen("v1.", "v2.", 1), &format!("{text}.x")] {
            assert_eq!(Credential::decode(bad), None, "{bad}");
        }
        let mut short = credential.clone();
        short.grant.scope = "x".repeat(MAX_SCOPE + 1);
        assert_eq!(Credential::decode(&short.encode()), None, "a scope over the limit");
    }

    #[test]
    fn scopes_are_prefixes_ending_in_a_slash_or_exact_paths() {
        assert!(in_scope("/api/", "/api/x"));
        assert!(!in_scope("/api/", "/apix"));
        assert!(in_scope("/one", "/one"));
        assert!(!in_scope("/one", "/one/two"));
    }
}
