//! Prepaid sessions: one payment buys `n` requests of a route; a credential (a MAC'd grant, see
//! [`crate::protocol::session`]) spends them without a signature check or a store read.
//!
//! - The credential's MAC key is derived from the receiver's key, so every server of the
//!   receiver checks every credential.
//! - The session's row is written in its payment's transaction: it exists exactly when the
//!   payment does.
//! - A server serves a session's requests from a block it claimed in the store (all of them on
//!   SQLite, whose one process holds every claim; [`SHARED_BLOCK`] at a time on PostgreSQL), so
//!   servers sharing a store never serve more requests than were bought, and counts down in
//!   memory. What it served is written lazily ([`FLUSH_EVERY`]) as `used`.
//! - A crash loses the uses not written yet: on SQLite the restarted server serves them again
//!   (requests given free, the receiver's loss, at most those of one flush interval); a refund
//!   reads `used`, so it can give back those requests too (the receiver's loss again). A crashed
//!   PostgreSQL server's unserved claims are not served by another; they are refunded at a
//!   cooperative close, since only `used` is charged.
//! - A cooperative close refunds what the channel's sessions did not use: the receiver agrees
//!   to close at the last balance less the unused requests' prices, and ends the sessions.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::{Address, aliases::U192};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{
    error::{SessionError, StoreError},
    store::{SessionRow, Store},
};
use crate::{
    channel::ChannelId,
    proof::Signer,
    protocol::session::{Credential, Grant, MAC_LEN},
};

/// Requests a server of a shared store claims at a time.
pub const SHARED_BLOCK: u32 = 64;
/// How often served requests are written to the store.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Sessions held in memory at most; the oldest expired ones go first.
const MAX_SLOTS: usize = 100_000;

/// A route's terms for sessions, as the paywall sells them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTerms {
    /// The path a credential is good for (a prefix ending in `/`, or one path).
    pub scope: String,
    /// The most requests one payment may buy.
    pub max_requests: u32,
    /// How long a session lasts.
    pub ttl: Duration,
}

/// A request served from a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionUse {
    /// The session's id.
    id: [u8; 16],
    /// Requests it has left after this one (this server's count).
    pub remaining: u32,
    /// When it ends (unix seconds).
    pub expires: u64,
}

/// A session in memory: what this server may still serve of it.
#[derive(Debug)]
struct Slot {
    channel: ChannelId,
    requests: u32,
    expires: u64,
    /// Claimed by this server, not served yet.
    available: u32,
    /// Claimed in all, as of this server's last claim.
    claimed: u32,
    /// Served here and not written to the store yet.
    unwritten: u32,
    /// Ended by a cooperative close.
    ended: bool,
}

/// The receiver's sessions.
pub(crate) struct Sessions {
    /// HMAC-SHA256 keyed with the MAC key, cloned for each MAC (the key's two blocks hashed once).
    keyed: Hmac<Sha256>,
    receiver: Address,
    chain_id: u64,
    contract: Address,
    /// Requests claimed at a time.
    block: u32,
    slots: Mutex<HashMap<[u8; 16], Slot>>,
    /// One claim or load from the store at a time per server (a flood of unknown credentials
    /// does not become a flood of reads).
    loads: tokio::sync::Semaphore,
    /// One write of the uses at a time, and none while a refund is counted: uses taken for
    /// writing are in the store before anyone reads what is unused.
    writing: tokio::sync::Mutex<()>,
}

impl Sessions {
    /// The sessions of `receiver` (whose key derives the MAC key) on `contract` of `chain_id`,
    /// on a store `shared` with other servers or not.
    pub(crate) fn new(receiver: &Signer, chain_id: u64, contract: Address, shared: bool) -> Self {
        let mut derive =
            <Hmac<Sha256> as Mac>::new_from_slice(&receiver.signing_key().to_bytes()).expect("any key length");
        derive.update(b"uraiden session credential v1");
        let key = derive.finalize().into_bytes();
        Self {
            keyed: <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("any key length"),
            receiver: receiver.address(),
            chain_id,
            contract,
            block: if shared { SHARED_BLOCK } else { u32::MAX },
            slots: Mutex::default(),
            loads: tokio::sync::Semaphore::new(4),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    fn keyed(&self, grant: &Grant) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(&grant.to_bytes());
        mac
    }

    fn mac(&self, grant: &Grant) -> [u8; MAC_LEN] {
        self.keyed(grant).finalize().into_bytes().into()
    }

    /// The credential and the store row of a session a payment of `balance` buys: `requests`
    /// requests at `price` on `terms.scope`, the buying one served.
    pub(crate) fn sell(
        &self,
        channel: ChannelId,
        terms: &SessionTerms,
        price: U192,
        requests: u32,
        balance: U192,
    ) -> (Credential, SessionRow) {
        let expires = unix_now().saturating_add(terms.ttl.as_secs());
        let (chain_id, contract) = (self.chain_id, self.contract);
        let grant =
            Grant { chain_id, contract, channel, scope: terms.scope.clone(), price, requests, balance, expires };
        let credential = Credential { mac: self.mac(&grant), grant };
        let row = SessionRow {
            id: credential.id(),
            channel,
            scope: terms.scope.clone(),
            price,
            requests,
            balance,
            expires,
            claimed: requests.min(self.block),
            used: 1,
        };
        (credential, row)
    }

    /// A sold session's payment is durable: it is served from here on.
    pub(crate) fn sold(&self, row: &SessionRow) -> SessionUse {
        let slot = Slot {
            channel: row.channel,
            requests: row.requests,
            expires: row.expires,
            available: row.claimed - 1,
            claimed: row.claimed,
            unwritten: 0,
            ended: false,
        };
        let remaining = remaining(&slot);
        let mut slots = self.slots.lock().expect("sessions lock");
        make_room(&mut slots);
        slots.insert(row.id, slot);
        SessionUse { id: row.id, remaining, expires: row.expires }
    }

    /// Reads and checks a credential for a request on `scope` costing `price`, from a client
    /// naming `channel` (if it named one): the grant, then the MAC, then the expiry. The
    /// channel's state is the caller's to check.
    pub(crate) fn check(
        &self,
        text: &str,
        scope: &str,
        price: U192,
        channel: Option<ChannelId>,
    ) -> Result<Credential, SessionError> {
        let credential = Credential::decode(text).ok_or(SessionError::Unknown)?;
        let grant = &credential.grant;
        if grant.channel.receiver != self.receiver || grant.contract != self.contract || grant.chain_id != self.chain_id
        {
            return Err(SessionError::Mismatch(format!(
                "receiver {} on contract {} of chain {}",
                grant.channel.receiver, grant.contract, grant.chain_id
            )));
        }
        // In constant time.
        if self.keyed(grant).verify_slice(&credential.mac).is_err() {
            return Err(SessionError::Forged);
        }
        if grant.scope != scope {
            return Err(SessionError::Mismatch(format!("the route {:?}, not {scope:?}", grant.scope)));
        }
        if grant.price != price {
            return Err(SessionError::Mismatch(format!("requests at {}, not at {price}", grant.price)));
        }
        if let Some(channel) = channel
            && channel != grant.channel
        {
            return Err(SessionError::Mismatch(format!(
                "the channel of {} opened in block {}",
                grant.channel.sender, grant.channel.open_block
            )));
        }
        if grant.expires <= unix_now() {
            return Err(SessionError::Expired { expires: grant.expires });
        }
        Ok(credential)
    }

    /// Spends one request of a checked credential's session: from this server's claim, else
    /// from a new claim in the store.
    pub(crate) async fn spend(&self, store: &Store, credential: &Credential) -> Result<SessionUse, SpendError> {
        let id = credential.id();
        if let Some(spent) = self.take(&id)? {
            return Ok(spent);
        }
        let _load = self.loads.acquire().await.map_err(|_| SpendError::Store("shutting down".into()))?;
        if let Some(spent) = self.take(&id)? {
            return Ok(spent);
        }
        let known = self.slots.lock().expect("sessions lock").contains_key(&id);
        if !known {
            let row = store.session(&id, self.receiver).await.map_err(SpendError::store)?;
            let row = row.ok_or(SessionError::Unknown)?;
            let slot = Slot {
                channel: row.channel,
                requests: row.requests,
                expires: row.expires,
                available: 0,
                claimed: row.claimed,
                unwritten: 0,
                ended: false,
            };
            let mut slots = self.slots.lock().expect("sessions lock");
            make_room(&mut slots);
            slots.entry(id).or_insert(slot);
        }
        let (granted, claimed) = store.claim_session(&id, self.block).await.map_err(SpendError::store)?;
        {
            let mut slots = self.slots.lock().expect("sessions lock");
            if let Some(slot) = slots.get_mut(&id) {
                slot.available += granted;
                slot.claimed = slot.claimed.max(claimed);
            }
        }
        self.take(&id)?.ok_or(SpendError::Session(SessionError::Exhausted { requests: credential.grant.requests }))
    }

    /// One request from this server's claim, if it has one left.
    fn take(&self, id: &[u8; 16]) -> Result<Option<SessionUse>, SessionError> {
        let mut slots = self.slots.lock().expect("sessions lock");
        let Some(slot) = slots.get_mut(id) else { return Ok(None) };
        if slot.ended {
            return Err(SessionError::Exhausted { requests: slot.requests });
        }
        if slot.available == 0 {
            return Ok(None);
        }
        slot.available -= 1;
        slot.unwritten += 1;
        Ok(Some(SessionUse { id: *id, remaining: remaining(slot), expires: slot.expires }))
    }

    /// A request spent from a session was not charged (its handler did not answer 2xx): it is
    /// given back.
    pub(crate) fn give_back(&self, spent: &SessionUse) {
        if let Some(slot) = self.slots.lock().expect("sessions lock").get_mut(&spent.id)
            && slot.unwritten > 0
        {
            slot.unwritten -= 1;
            slot.available += 1;
        }
    }

    /// Writes the requests served since the last write.
    pub(crate) async fn write_uses(&self, store: &Store) -> Result<(), StoreError> {
        let _one_at_a_time = self.writing.lock().await;
        self.write_taken_uses(store).await
    }

    /// [`write_uses`](Self::write_uses), its caller holding `writing`.
    async fn write_taken_uses(&self, store: &Store) -> Result<(), StoreError> {
        let uses: Vec<([u8; 16], u32)> = {
            let mut slots = self.slots.lock().expect("sessions lock");
            slots
                .iter_mut()
                .filter(|(_, s)| s.unwritten > 0)
                .map(|(id, s)| (*id, std::mem::take(&mut s.unwritten)))
                .collect()
        };
        if uses.is_empty() {
            return Ok(());
        }
        if let Err(error) = store.add_session_uses(&uses).await {
            // Counted again at the next write.
            let mut slots = self.slots.lock().expect("sessions lock");
            for (id, n) in uses {
                if let Some(slot) = slots.get_mut(&id) {
                    slot.unwritten += n;
                }
            }
            return Err(error);
        }
        Ok(())
    }

    /// What the channel's sessions did not use, in tokens, of the sessions `balance` paid for
    /// (this server's uses written first; another server's last unwritten uses are not seen).
    pub(crate) async fn unused(&self, store: &Store, channel: &ChannelId, balance: U192) -> Result<U192, StoreError> {
        // Held until the rows are read: a periodic write that took uses and has not committed
        // them yet would otherwise make them look unused (and refunded: the receiver's loss).
        let _one_at_a_time = self.writing.lock().await;
        self.write_taken_uses(store).await?;
        let rows = store.sessions_of(channel).await?;
        Ok(rows
            .iter()
            .filter(|row| row.balance <= balance)
            .fold(U192::ZERO, |sum, row| sum.saturating_add(row.price * U192::from(row.requests - row.used))))
    }

    /// Ends the channel's sessions (a cooperative close refunds what they did not use).
    pub(crate) async fn end(&self, store: &Store, channel: &ChannelId) -> Result<(), StoreError> {
        for slot in self.slots.lock().expect("sessions lock").values_mut() {
            if slot.channel == *channel {
                slot.ended = true;
            }
        }
        store.end_sessions(channel).await
    }

    /// At a clean shutdown: the uses written, the unserved claims given back.
    pub(crate) async fn close(&self, store: &Store) -> Result<(), StoreError> {
        self.write_uses(store).await?;
        let claims: Vec<([u8; 16], u32)> = {
            let mut slots = self.slots.lock().expect("sessions lock");
            slots
                .iter_mut()
                .filter(|(_, s)| s.available > 0 && !s.ended)
                .map(|(id, s)| (*id, std::mem::take(&mut s.available)))
                .collect()
        };
        store.release_session_claims(&claims).await
    }
}

/// A spend refused, or the store failed.
#[derive(Debug)]
pub(crate) enum SpendError {
    Session(SessionError),
    Store(String),
}

impl SpendError {
    fn store(error: StoreError) -> Self {
        SpendError::Store(error.to_string())
    }
}

impl From<SessionError> for SpendError {
    fn from(error: SessionError) -> Self {
        SpendError::Session(error)
    }
}

/// Requests left as this server counts them: what no server has claimed, and its own claim.
fn remaining(slot: &Slot) -> u32 {
    slot.requests.saturating_sub(slot.claimed) + slot.available
}

/// Keeps the slots under [`MAX_SLOTS`]: expired sessions go first, then (a flood of valid
/// credentials) everything that has nothing unwritten (reloaded from the store when used).
fn make_room(slots: &mut HashMap<[u8; 16], Slot>) {
    if slots.len() < MAX_SLOTS {
        return;
    }
    let now = unix_now();
    slots.retain(|_, s| s.expires > now || s.unwritten > 0);
    if slots.len() >= MAX_SLOTS {
        slots.retain(|_, s| s.unwritten > 0 || s.available > 0);
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
