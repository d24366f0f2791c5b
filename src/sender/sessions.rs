//! The paying client's prepaid sessions: credentials it bought, by origin and scope, and what
//! each has left. Kept in memory (a session outlives no process; what it did not use is
//! refunded at a cooperative close, which asks the receiver what that is).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, aliases::U192};
use reqwest::Url;

use crate::protocol::session::{self, Credential};

/// A credential bought, and what it has left as the server last said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Held {
    /// The header value.
    pub credential: String,
    /// Requests left.
    pub remaining: u32,
    /// When it ends (unix seconds).
    pub expires: u64,
}

/// Credentials by (origin, scope).
#[derive(Debug, Default)]
pub(crate) struct SessionWallet {
    held: Mutex<HashMap<(String, String), Held>>,
}

impl SessionWallet {
    /// A live credential for `url`, if one was bought with requests left.
    pub(crate) fn for_url(&self, url: &Url) -> Option<(String, Held)> {
        let origin = url.origin().ascii_serialization();
        let now = unix_now();
        let held = self.held.lock().expect("sessions lock");
        held.iter()
            .filter(|((o, scope), h)| {
                *o == origin && session::in_scope(scope, url.path()) && h.remaining > 0 && h.expires > now
            })
            .max_by_key(|((_, scope), _)| scope.len())
            .map(|((_, scope), h)| (scope.clone(), h.clone()))
    }

    /// Keeps a credential bought at `url` for `scope`.
    pub(crate) fn keep(&self, url: &Url, scope: String, held: Held) {
        self.held.lock().expect("sessions lock").insert((url.origin().ascii_serialization(), scope), held);
    }

    /// What the server said is left after a request served from the session of `scope`.
    pub(crate) fn used(&self, url: &Url, scope: &str, remaining: u32) {
        if let Some(held) =
            self.held.lock().expect("sessions lock").get_mut(&(url.origin().ascii_serialization(), scope.to_string()))
        {
            held.remaining = held.remaining.min(remaining);
        }
    }

    /// Forgets the session of `scope` at `url`'s origin (the server refused it).
    pub(crate) fn forget(&self, url: &Url, scope: &str) {
        self.held.lock().expect("sessions lock").remove(&(url.origin().ascii_serialization(), scope.to_string()));
    }
}

/// Checks a credential the server answered a purchase with: it must grant what was bought
/// (this sender's channel with `receiver` opened in `open_block`, `requests` at `price` for
/// `scope`, bought with `balance`). A server's credential is its own business (the client never
/// reads its MAC), but one granting something else is a broken server.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_bought(
    text: &str,
    sender: Address,
    receiver: Address,
    open_block: u32,
    scope: &str,
    price: U192,
    requests: u32,
    balance: U192,
) -> Result<Credential, String> {
    let credential = Credential::decode(text).ok_or("the session credential cannot be read")?;
    let grant = &credential.grant;
    let expected = (sender, receiver, open_block, scope, price, requests, balance);
    let got = (
        grant.channel.sender,
        grant.channel.receiver,
        grant.channel.open_block,
        grant.scope.as_str(),
        grant.price,
        grant.requests,
        grant.balance,
    );
    if got != expected {
        return Err(format!("the session credential grants {got:?}, not what was bought ({expected:?})"));
    }
    Ok(credential)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
