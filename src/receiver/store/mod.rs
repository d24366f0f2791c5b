//! The receiver's durable state: SQLite (one process) or PostgreSQL (several servers sharing one
//! receiver), chosen by URL.
//!
//! Both run the same SQL (migrations in `migrations/sqlite` and `migrations/postgres`). Every
//! write that could race with another writer is one conditional statement: a payment is
//! `UPDATE … WHERE balance = <the balance it extends> AND status = 'open' AND deposit >= <new>`,
//! so two servers (or two tasks) can never both extend the same balance; a confirmed log is
//! applied only if its `(block_hash, log_index)` was not applied before, in the same transaction,
//! and its channel's next state ([`ChannelState::after`]) is computed from the row read in that
//! transaction with the row locked (PostgreSQL `FOR UPDATE`; SQLite's single writer).
//!
//! The store is the crate's: outside it, [`StoreView`] reads it.
//!
//! Durability: a payment is acknowledged only after its transaction committed. SQLite runs in
//! WAL mode with `synchronous=FULL` (each commit is fsynced; a batch of payments shares one
//! commit); PostgreSQL with its default `synchronous_commit=on`.

mod lease;
mod sessions;
mod sqlite;

use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B256, Bytes, aliases::U192};
use sqlx::{PgPool, SqlitePool};

mod view;

pub(crate) use sessions::SessionRow;
pub use view::StoreView;

use super::{
    config::POOL_WAIT,
    error::StoreError,
    types::{ChainEvent, ChannelRecord, ChannelStatus},
};
use crate::channel::{ChannelEvent, ChannelId, ChannelState};

/// Whom a store belongs to: checked against the configuration at every start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreIdentity {
    /// The chain id.
    pub chain_id: u64,
    /// The channel contract.
    pub contract: Address,
    /// The receiver.
    pub receiver: Address,
}

/// The last confirmed block whose events are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// Its number.
    pub block: u64,
    /// Its hash.
    pub hash: B256,
}

/// A payment to write: `balance` replaces `previous` (and only `previous`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PaymentWrite {
    /// The channel.
    pub id: ChannelId,
    /// The balance it extends.
    pub previous: U192,
    /// The new balance.
    pub balance: U192,
    /// The sender's proof of it.
    pub signature: Bytes,
    /// The prepaid session it buys, written in the same transaction.
    pub session: Option<SessionRow>,
}

/// A close transaction the receiver sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseTx {
    /// Its hash.
    pub tx_hash: B256,
    /// The channel it closes.
    pub id: ChannelId,
    /// The balance it closes with.
    pub balance: U192,
    /// Its nonce (a replacement has the same).
    pub nonce: u64,
    /// Where it stands.
    pub state: CloseTxState,
    /// The block it was mined in.
    pub block: Option<u64>,
}

/// Where a close transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseTxState {
    /// Sent, no receipt yet.
    Pending,
    /// Mined and successful.
    Mined,
    /// Mined and reverted.
    Reverted,
    /// Another transaction of the same nonce (a re-send with higher fees) was mined instead.
    Replaced,
}

impl CloseTxState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseTxState::Pending => "pending",
            CloseTxState::Mined => "mined",
            CloseTxState::Reverted => "reverted",
            CloseTxState::Replaced => "replaced",
        }
    }

    /// The state named `name`, as [`CloseTxState::as_str`] writes it.
    pub fn parse(name: &str) -> Option<Self> {
        [CloseTxState::Pending, CloseTxState::Mined, CloseTxState::Reverted, CloseTxState::Replaced]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// The receiver's store.
#[derive(Debug, Clone)]
pub(crate) enum Store {
    /// SQLite, one process (the file is locked).
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL, shared by several processes.
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever database it is: the SQL is the
/// same for both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite(store) => {
                let $pool: &SqlitePool = &store.pool;
                $body
            }
            Store::Postgres(pool) => {
                let $pool: &PgPool = pool;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// A channel's chain-derived columns, read for [`Store::apply_confirmed`].
const SELECT_CHAIN_STATE: &str = "SELECT deposit, status, closing_balance, settle_block, settled_balance FROM channels";

/// Writes a channel's chain-derived columns ($3-$7) and when they changed ($8).
const UPDATE_CHAIN_STATE: &str = "UPDATE channels SET deposit = $3, status = $4, closing_balance = $5, \
     settle_block = $6, settled_balance = $7, updated_at = $8 WHERE sender = $1 AND open_block = $2";

/// A channel whose opening is confirmed: its chain-derived columns ($3-$7), nothing paid ($9).
const INSERT_CHANNEL: &str = "INSERT INTO channels (sender, open_block, deposit, status, closing_balance, \
     settle_block, settled_balance, created_at, updated_at, balance) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) \
     ON CONFLICT (sender, open_block) DO UPDATE SET deposit = excluded.deposit, updated_at = excluded.updated_at";

const SELECT_CHANNELS: &str = "SELECT sender, open_block, deposit, balance, balance_sig, status, closing_balance, \
     settle_block, settled_balance, close_signed, created_at, updated_at FROM channels";

impl Store {
    /// Opens (creating and migrating if needed) the store at `url` (`sqlite://PATH` or
    /// `postgres://…`) for `identity`; refuses a store made for another chain, contract or
    /// receiver, and (SQLite) a file another process holds or other users can read.
    pub(crate) async fn open(url: &str, identity: StoreIdentity) -> Result<Self, StoreError> {
        let store = if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            Store::Sqlite(sqlite::SqliteStore::open(path).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool =
                sqlx::postgres::PgPoolOptions::new().max_connections(8).acquire_timeout(POOL_WAIT).connect(url).await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            Store::Postgres(pool)
        } else {
            // The URL may carry a password: shown as the node's URLs are, without it.
            return Err(StoreError::UnsupportedUrl(crate::chain::RedactedUrl::new(url).to_string()));
        };
        store.check_identity(identity).await?;
        Ok(store)
    }

    /// Whether other processes may write to this store (PostgreSQL): records held in memory may
    /// then be stale, and are reloaded before they decide anything.
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    async fn check_identity(&self, identity: StoreIdentity) -> Result<(), StoreError> {
        let chain_id =
            i64::try_from(identity.chain_id).map_err(|_| StoreError::Corrupt("chain id above 2^63".into()))?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO receiver_meta (id, chain_id, contract, receiver) VALUES (1, $1, $2, $3) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(chain_id)
            .bind(identity.contract.as_slice())
            .bind(identity.receiver.as_slice())
            .execute(pool)
            .await?;
            let (stored_chain, contract, receiver): (i64, Vec<u8>, Vec<u8>) =
                sqlx::query_as("SELECT chain_id, contract, receiver FROM receiver_meta WHERE id = 1")
                    .fetch_one(pool)
                    .await?;
            let mismatch = |what, stored: String, configured: String| StoreError::Mismatch { what, stored, configured };
            if stored_chain != chain_id {
                return Err(mismatch("chain id", stored_chain.to_string(), identity.chain_id.to_string()));
            }
            let contract = address(&contract)?;
            if contract != identity.contract {
                return Err(mismatch("contract", contract.to_string(), identity.contract.to_string()));
            }
            let receiver = address(&receiver)?;
            if receiver != identity.receiver {
                return Err(mismatch("receiver", receiver.to_string(), identity.receiver.to_string()));
            }
            Ok(())
        })
    }

    /// The last confirmed block applied, if any.
    pub(crate) async fn cursor(&self) -> Result<Option<Cursor>, StoreError> {
        let row: (Option<i64>, Option<Vec<u8>>) = with_pool!(self, pool =>
            sqlx::query_as("SELECT synced_block, synced_hash FROM receiver_meta WHERE id = 1").fetch_one(pool).await?
        );
        match row {
            (Some(block), Some(hash)) => Ok(Some(Cursor { block: block as u64, hash: b256(&hash)? })),
            _ => Ok(None),
        }
    }

    /// Every channel record.
    pub(crate) async fn channels(&self, receiver: Address) -> Result<Vec<ChannelRecord>, StoreError> {
        let rows: Vec<RawRecord> = with_pool!(self, pool =>
            sqlx::query_as(SELECT_CHANNELS).fetch_all(pool).await?
        );
        rows.into_iter().map(|row| row.decode(receiver)).collect()
    }

    /// One channel's record.
    pub(crate) async fn channel(&self, id: &ChannelId) -> Result<Option<ChannelRecord>, StoreError> {
        let sql = format!("{SELECT_CHANNELS} WHERE sender = $1 AND open_block = $2");
        let row: Option<RawRecord> = with_pool!(self, pool =>
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(id.sender.as_slice())
                .bind(i64::from(id.open_block))
                .fetch_optional(pool)
                .await?
        );
        row.map(|row| row.decode(id.receiver)).transpose()
    }

    /// Applies confirmed events and moves the cursor to `cursor`, in one transaction. An event
    /// already applied (same block hash and log index) is skipped. Each event's channel is read
    /// (its row locked on PostgreSQL; on SQLite the event's key, written first, holds the write
    /// lock already), its next state computed by [`ChannelState::after`], and written back.
    /// Rows are stamped `now` (the caller's clock read, so that its in-memory records carry
    /// the same stamps). Returns the events that were applied now.
    pub(crate) async fn apply_confirmed(
        &self,
        events: &[ChainEvent],
        cursor: Cursor,
        now: i64,
    ) -> Result<Vec<ChainEvent>, StoreError> {
        let select = match self {
            Store::Sqlite(_) => format!("{SELECT_CHAIN_STATE} WHERE sender = $1 AND open_block = $2"),
            Store::Postgres(_) => format!("{SELECT_CHAIN_STATE} WHERE sender = $1 AND open_block = $2 FOR UPDATE"),
        };
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut applied = Vec::new();
            for event in events {
                let fresh = sqlx::query(
                    "INSERT INTO applied_events (block_hash, log_index, block_number) VALUES ($1, $2, $3) \
                     ON CONFLICT (block_hash, log_index) DO NOTHING",
                )
                .bind(event.block_hash.as_slice())
                .bind(event.log_index as i64)
                .bind(event.block as i64)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if !fresh {
                    continue;
                }
                let id = event.id;
                let row: Option<RawChainState> = sqlx::query_as(sqlx::AssertSqlSafe(select.as_str()))
                    .bind(id.sender.as_slice())
                    .bind(i64::from(id.open_block))
                    .fetch_optional(&mut *tx)
                    .await?;
                let (insert, next) = match (row, event.change) {
                    (Some(row), change) => (false, row.decode()?.after(&change)),
                    (None, ChannelEvent::Opened { deposit }) => (true, ChannelState::opened(deposit)),
                    // An event for a channel never opened here changes nothing.
                    (None, _) => {
                        applied.push(*event);
                        continue;
                    }
                };
                let query = sqlx::query(if insert { INSERT_CHANNEL } else { UPDATE_CHAIN_STATE })
                    .bind(id.sender.as_slice())
                    .bind(i64::from(id.open_block))
                    .bind(amount(next.deposit))
                    .bind(next.status.as_str())
                    .bind(next.closing_balance.map(amount))
                    .bind(next.settle_block.map(|b| b as i64))
                    .bind(next.settled_balance.map(amount))
                    .bind(now);
                let query = if insert { query.bind(amount(U192::ZERO)) } else { query };
                query.execute(&mut *tx).await?;
                applied.push(*event);
            }
            sqlx::query(
                "UPDATE receiver_meta SET synced_block = $1, synced_hash = $2 \
                 WHERE id = 1 AND (synced_block IS NULL OR synced_block <= $1)",
            )
            .bind(cursor.block as i64)
            .bind(cursor.hash.as_slice())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(applied)
        })
    }

    /// Writes a batch of payments in one transaction (one commit, one fsync). Each is written
    /// only if the stored balance is still the one it extends, the channel is open and the
    /// deposit covers it; the answer says, for each, whether it was written.
    ///
    /// The rows are updated in channel order (a channel's payments in their batch order): two
    /// servers' batches on a shared PostgreSQL store then lock rows in the same order and
    /// cannot deadlock.
    pub(crate) async fn commit_payments(&self, payments: &[PaymentWrite]) -> Result<Vec<bool>, StoreError> {
        let now = unix_now();
        if let Store::Postgres(pool) = self
            && let Some(chains) = chains_by_channel(payments)
        {
            return commit_chains(pool, payments, &chains, now).await;
        }
        let mut order: Vec<usize> = (0..payments.len()).collect();
        order.sort_by_key(|&i| (payments[i].id.sender, payments[i].id.open_block));
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut written = vec![false; payments.len()];
            for &i in &order {
                let p = &payments[i];
                let rows = sqlx::query(
                    "UPDATE channels SET balance = $1, balance_sig = $2, updated_at = $3 \
                     WHERE sender = $4 AND open_block = $5 AND balance = $6 AND status = 'open' AND deposit >= $1",
                )
                .bind(amount(p.balance))
                .bind(p.signature.as_ref())
                .bind(now)
                .bind(p.id.sender.as_slice())
                .bind(i64::from(p.id.open_block))
                .bind(amount(p.previous))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                written[i] = rows == 1;
                if let (true, Some(session)) = (written[i], &p.session) {
                    sessions::bind_insert!(sqlx::query(sessions::INSERT_SESSION), session).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok(written)
        })
    }

    /// Marks the channel closing for a cooperative close of `balance` proven by `signature`,
    /// only if those are the last registered payment and the channel is open or closing.
    /// Returns whether it matched.
    pub(crate) async fn sign_close(&self, id: &ChannelId, balance: U192, signature: &[u8]) -> Result<bool, StoreError> {
        let rows = with_pool!(self, pool =>
            sqlx::query(
                "UPDATE channels SET status = 'closing', close_signed = 1, updated_at = $5 \
                 WHERE sender = $1 AND open_block = $2 AND balance = $3 AND balance_sig = $4 AND status <> 'settled'",
            )
            .bind(id.sender.as_slice())
            .bind(i64::from(id.open_block))
            .bind(amount(balance))
            .bind(signature)
            .bind(unix_now())
            .execute(pool)
            .await?
            .rows_affected()
        );
        Ok(rows == 1)
    }

    /// Records a close transaction, or its new state.
    pub(crate) async fn record_close_tx(&self, close: &CloseTx) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO close_txs (tx_hash, sender, open_block, balance, nonce, state, sent_at, block) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (tx_hash) DO UPDATE SET state = excluded.state, block = excluded.block",
            )
            .bind(close.tx_hash.as_slice())
            .bind(close.id.sender.as_slice())
            .bind(i64::from(close.id.open_block))
            .bind(amount(close.balance))
            .bind(close.nonce as i64)
            .bind(close.state.as_str())
            .bind(unix_now())
            .bind(close.block.map(|b| b as i64))
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Forgets everything the store derived from the chain, keeping what the receiver alone
    /// knows: every channel keeps its paid balance and the sender's proof of it, and a signed
    /// cooperative close; deposits become 0, statuses `open` (`closing` if the receiver signed a
    /// cooperative close), close requests and settlements are forgotten, the applied-log keys
    /// and the cursor are cleared. The follower then re-reads the chain from the deployment
    /// block and rebuilds the rest (see `docs/receiver.md`). One transaction. Returns the
    /// number of channels kept.
    pub(crate) async fn resync(&self) -> Result<u64, StoreError> {
        let now = unix_now();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let kept = sqlx::query(
                "UPDATE channels SET deposit = $1, \
                 status = CASE WHEN close_signed <> 0 THEN 'closing' ELSE 'open' END, \
                 closing_balance = NULL, settle_block = NULL, settled_balance = NULL, updated_at = $2",
            )
            .bind(amount(U192::ZERO))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM applied_events").execute(&mut *tx).await?;
            sqlx::query("UPDATE receiver_meta SET synced_block = NULL, synced_hash = NULL WHERE id = 1")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(kept)
        })
    }

    /// The close transactions sent for a channel, oldest first.
    pub(crate) async fn close_txs(&self, id: &ChannelId) -> Result<Vec<CloseTx>, StoreError> {
        let rows: Vec<RawCloseTx> = with_pool!(self, pool =>
            sqlx::query_as(
                "SELECT tx_hash, balance, nonce, state, block FROM close_txs \
                 WHERE sender = $1 AND open_block = $2 ORDER BY sent_at, nonce",
            )
            .bind(id.sender.as_slice())
            .bind(i64::from(id.open_block))
            .fetch_all(pool)
            .await?
        );
        rows.into_iter().map(|row| row.decode(*id)).collect()
    }
}

/// The batch's payments grouped by channel, in channel order, each group in batch order; `None`
/// unless each payment of a channel extends the one before it in the batch (as the writer's
/// batches do).
fn chains_by_channel(payments: &[PaymentWrite]) -> Option<Vec<Vec<usize>>> {
    let mut chains: std::collections::BTreeMap<(Address, u32), Vec<usize>> = std::collections::BTreeMap::new();
    for (i, p) in payments.iter().enumerate() {
        let chain = chains.entry((p.id.sender, p.id.open_block)).or_default();
        if let Some(&last) = chain.last()
            && payments[last].balance != p.previous
        {
            return None;
        }
        chain.push(i);
    }
    Some(chains.into_values().collect())
}

/// PostgreSQL: a batch in two statements rather than one round trip per payment. Each
/// channel's chain of payments is one row update from the balance its first payment extends to
/// its last payment's (the conditions hold for all of them or none: balances only grow). The
/// rows are locked first in channel order, so two servers' batches cannot deadlock.
async fn commit_chains(
    pool: &PgPool,
    payments: &[PaymentWrite],
    chains: &[Vec<usize>],
    now: i64,
) -> Result<Vec<bool>, StoreError> {
    let first = |chain: &Vec<usize>| &payments[chain[0]];
    let last = |chain: &Vec<usize>| &payments[chain[chain.len() - 1]];
    let senders: Vec<Vec<u8>> = chains.iter().map(|c| first(c).id.sender.to_vec()).collect();
    let open_blocks: Vec<i64> = chains.iter().map(|c| i64::from(first(c).id.open_block)).collect();
    let previous: Vec<Vec<u8>> = chains.iter().map(|c| amount(first(c).previous)).collect();
    let balances: Vec<Vec<u8>> = chains.iter().map(|c| amount(last(c).balance)).collect();
    let signatures: Vec<Vec<u8>> = chains.iter().map(|c| last(c).signature.to_vec()).collect();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "SELECT 1 FROM channels c JOIN UNNEST($1::bytea[], $2::bigint[]) AS v(sender, open_block)          ON c.sender = v.sender AND c.open_block = v.open_block ORDER BY c.sender, c.open_block FOR UPDATE OF c",
    )
    .bind(&senders)
    .bind(&open_blocks)
    .execute(&mut *tx)
    .await?;
    let updated: Vec<(Vec<u8>, i64)> = sqlx::query_as(
        "UPDATE channels AS c SET balance = v.balance, balance_sig = v.sig, updated_at = $1          FROM UNNEST($2::bytea[], $3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[])               AS v(sender, open_block, previous, balance, sig)          WHERE c.sender = v.sender AND c.open_block = v.open_block AND c.balance = v.previous            AND c.status = 'open' AND c.deposit >= v.balance          RETURNING c.sender, c.open_block",
    )
    .bind(now)
    .bind(&senders)
    .bind(&open_blocks)
    .bind(&previous)
    .bind(&balances)
    .bind(&signatures)
    .fetch_all(&mut *tx)
    .await?;
    let updated: std::collections::HashSet<(Vec<u8>, i64)> = updated.into_iter().collect();
    for p in payments {
        if let Some(session) = &p.session
            && updated.contains(&(p.id.sender.to_vec(), i64::from(p.id.open_block)))
        {
            sessions::bind_insert!(sqlx::query(sessions::INSERT_SESSION), session).execute(&mut *tx).await?;
        }
    }
    tx.commit().await?;
    let mut written = vec![false; payments.len()];
    for (chain, key) in chains.iter().zip(senders.into_iter().zip(open_blocks)) {
        if updated.contains(&key) {
            for &i in chain {
                written[i] = true;
            }
        }
    }
    Ok(written)
}

/// A `close_txs` row as stored.
#[derive(sqlx::FromRow)]
struct RawCloseTx {
    tx_hash: Vec<u8>,
    balance: Vec<u8>,
    nonce: i64,
    state: String,
    block: Option<i64>,
}

impl RawCloseTx {
    fn decode(self, id: ChannelId) -> Result<CloseTx, StoreError> {
        let state = CloseTxState::parse(&self.state)
            .ok_or_else(|| StoreError::Corrupt(format!("close tx state {:?}", self.state)))?;
        Ok(CloseTx {
            tx_hash: b256(&self.tx_hash)?,
            id,
            balance: decode_amount(&self.balance)?,
            nonce: self.nonce as u64,
            state,
            block: self.block.map(|b| b as u64),
        })
    }
}

/// A `channels` row's chain-derived columns as stored.
#[derive(sqlx::FromRow)]
struct RawChainState {
    deposit: Vec<u8>,
    status: String,
    closing_balance: Option<Vec<u8>>,
    settle_block: Option<i64>,
    settled_balance: Option<Vec<u8>>,
}

impl RawChainState {
    fn decode(self) -> Result<ChannelState, StoreError> {
        Ok(ChannelState {
            deposit: decode_amount(&self.deposit)?,
            status: ChannelStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("channel status {:?}", self.status)))?,
            closing_balance: self.closing_balance.as_deref().map(decode_amount).transpose()?,
            settle_block: self.settle_block.map(|b| b as u64),
            settled_balance: self.settled_balance.as_deref().map(decode_amount).transpose()?,
        })
    }
}

/// A `channels` row as stored.
#[derive(sqlx::FromRow)]
struct RawRecord {
    sender: Vec<u8>,
    open_block: i64,
    deposit: Vec<u8>,
    balance: Vec<u8>,
    balance_sig: Option<Vec<u8>>,
    status: String,
    closing_balance: Option<Vec<u8>>,
    settle_block: Option<i64>,
    settled_balance: Option<Vec<u8>>,
    close_signed: i64,
    created_at: i64,
    updated_at: i64,
}

impl RawRecord {
    fn decode(self, receiver: Address) -> Result<ChannelRecord, StoreError> {
        let open_block = u32::try_from(self.open_block)
            .map_err(|_| StoreError::Corrupt(format!("open block {}", self.open_block)))?;
        Ok(ChannelRecord {
            id: ChannelId { sender: address(&self.sender)?, receiver, open_block },
            deposit: decode_amount(&self.deposit)?,
            balance: decode_amount(&self.balance)?,
            balance_sig: self.balance_sig.map(Bytes::from),
            status: ChannelStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Corrupt(format!("channel status {:?}", self.status)))?,
            closing_balance: self.closing_balance.as_deref().map(decode_amount).transpose()?,
            settle_block: self.settle_block.map(|b| b as u64),
            settled_balance: self.settled_balance.as_deref().map(decode_amount).transpose()?,
            close_signed: self.close_signed != 0,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A uint192 as 24 big-endian bytes: byte order is numeric order, so SQL can compare amounts.
pub(crate) fn amount(value: U192) -> Vec<u8> {
    value.to_be_bytes::<24>().to_vec()
}

pub(crate) fn decode_amount(bytes: &[u8]) -> Result<U192, StoreError> {
    let bytes: [u8; 24] =
        bytes.try_into().map_err(|_| StoreError::Corrupt(format!("an amount of {} bytes", bytes.len())))?;
    Ok(U192::from_be_bytes(bytes))
}

pub(crate) fn address(bytes: &[u8]) -> Result<Address, StoreError> {
    Address::try_from(bytes).map_err(|_| StoreError::Corrupt(format!("an address of {} bytes", bytes.len())))
}

fn b256(bytes: &[u8]) -> Result<B256, StoreError> {
    B256::try_from(bytes).map_err(|_| StoreError::Corrupt(format!("a hash of {} bytes", bytes.len())))
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::CloseTxState;

    #[test]
    fn each_close_tx_state_reads_back_from_its_stored_name() {
        for state in [CloseTxState::Pending, CloseTxState::Mined, CloseTxState::Reverted, CloseTxState::Replaced] {
            assert_eq!(CloseTxState::parse(state.as_str()), Some(state));
        }
        assert_eq!(CloseTxState::parse("sent"), None);
    }
}
