//! The sender's local record of its channels: one SQLite file per (chain, contract, sender)
//! under a data directory, mode 0600. A proof's balance is written before the proof is sent, so
//! a crash never lets the sender forget what it signed.

use std::{
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

use alloy_primitives::{Address, aliases::U192};
use sqlx::{
    SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
};

use super::error::{SenderError, SenderStoreError};
use crate::channel::ChannelStatus;

/// One of the sender's channels, as it knows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SenderChannel {
    /// The receiver.
    pub receiver: Address,
    /// The block the channel was opened in.
    pub open_block: u32,
    /// The deposit on chain.
    #[serde(serialize_with = "decimal")]
    pub deposit: U192,
    /// The last balance the receiver acknowledged.
    #[serde(serialize_with = "decimal")]
    pub balance: U192,
    /// The highest balance signed.
    #[serde(serialize_with = "decimal")]
    pub signed: U192,
    /// Open, closing or settled.
    pub status: ChannelStatus,
    /// After a close request: the block after which the sender may settle.
    pub settle_block: Option<u64>,
}

fn decimal<S: serde::Serializer>(value: &U192, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// A deposit sent by this sender and not yet seen mined (see [`SenderStore::add_pending`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingDeposit {
    /// The sender's nonce of its first transaction.
    pub nonce: u64,
    /// How many transactions it takes.
    pub txs: u64,
    /// The receiver.
    pub receiver: Address,
    /// The channel topped up, or `None` for an open.
    pub open_block: Option<u32>,
    /// The amount.
    pub amount: U192,
}

impl SenderChannel {
    /// What can still be paid: the deposit less the highest balance signed.
    pub fn room(&self) -> U192 {
        self.deposit.saturating_sub(self.signed.max(self.balance))
    }
}

/// The sender's store.
#[derive(Clone, Debug)]
pub struct SenderStore {
    pool: SqlitePool,
    path: PathBuf,
}

#[derive(sqlx::FromRow)]
struct Row {
    receiver: Vec<u8>,
    open_block: i64,
    deposit: Vec<u8>,
    balance: Vec<u8>,
    signed: Vec<u8>,
    status: String,
    settle_block: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    nonce: i64,
    txs: i64,
    receiver: Vec<u8>,
    open_block: Option<i64>,
    amount: Vec<u8>,
}

impl PendingRow {
    fn decode(self) -> Result<PendingDeposit, SenderStoreError> {
        Ok(PendingDeposit {
            nonce: self.nonce as u64,
            txs: self.txs as u64,
            receiver: address(&self.receiver)?,
            open_block: self
                .open_block
                .map(|b| u32::try_from(b).map_err(|_| SenderStoreError::Corrupt("open block".into())))
                .transpose()?,
            amount: decode_amount(&self.amount)?,
        })
    }
}

impl Row {
    fn decode(self) -> Result<SenderChannel, SenderStoreError> {
        Ok(SenderChannel {
            receiver: address(&self.receiver)?,
            open_block: u32::try_from(self.open_block).map_err(|_| SenderStoreError::Corrupt("open block".into()))?,
            deposit: decode_amount(&self.deposit)?,
            balance: decode_amount(&self.balance)?,
            signed: decode_amount(&self.signed)?,
            status: ChannelStatus::parse(&self.status)
                .ok_or_else(|| SenderStoreError::Corrupt(format!("status {:?}", self.status)))?,
            settle_block: self.settle_block.map(|b| b as u64),
        })
    }
}

impl SenderStore {
    /// The store of `sender` on `contract` of chain `chain_id`, under `dir`.
    pub async fn open(dir: &Path, chain_id: u64, contract: Address, sender: Address) -> Result<Self, SenderError> {
        let path = dir.join(format!("sender-{chain_id}-{contract}-{sender}.db"));
        let create = path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(parent) = create.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&create) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
                _ => Ok(()),
            }
        })
        .await
        .map_err(|e| {
            SenderError::Store(SenderStoreError::Io {
                context: "creating the store".into(),
                source: std::io::Error::other(e),
            })
        })?
        .map_err(|source| {
            SenderError::Store(SenderStoreError::Io { context: format!("creating {}", path.display()), source })
        })?;
        // The first runs of two processes at once would both migrate (SQLite's migrator takes
        // no lock: one fails with "table already exists"): an exclusive lock on a file next to
        // the store serialises opening and migrating.
        let lock_path = dir.join(format!("sender-{chain_id}-{contract}-{sender}.lock"));
        let lock = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let file =
                std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(&lock_path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| {
            SenderError::Store(SenderStoreError::Io {
                context: "locking the store".into(),
                source: std::io::Error::other(e),
            })
        })?
        .map_err(|source| SenderError::Store(SenderStoreError::Io { context: "locking the store".into(), source }))?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
        let pool = SqlitePool::connect_with(options).await.map_err(SenderStoreError::from)?;
        sqlx::migrate!("migrations/sender").run(&pool).await.map_err(SenderStoreError::from)?;
        sqlx::query("INSERT INTO sender_meta (id, chain_id, contract, sender) VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING")
            .bind(chain_id as i64)
            .bind(contract.as_slice())
            .bind(sender.as_slice())
            .execute(&pool)
            .await
            .map_err(SenderStoreError::from)?;
        drop(lock);
        Ok(Self { pool, path })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every channel, by receiver and open block.
    pub async fn channels(&self) -> Result<Vec<SenderChannel>, SenderError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT receiver, open_block, deposit, balance, signed, status, settle_block FROM channels \
             ORDER BY receiver, open_block",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(SenderStoreError::from)?;
        Ok(rows.into_iter().map(Row::decode).collect::<Result<_, _>>()?)
    }

    /// Inserts or replaces what the chain says of a channel (deposit, status, settle block),
    /// keeping the balances already known.
    pub async fn upsert_chain(&self, channel: &SenderChannel) -> Result<(), SenderError> {
        sqlx::query(
            "INSERT INTO channels (receiver, open_block, deposit, balance, signed, status, settle_block) \
             VALUES ($1, $2, $3, $4, $4, $5, $6) \
             ON CONFLICT (receiver, open_block) DO UPDATE SET deposit = excluded.deposit, \
             status = excluded.status, settle_block = excluded.settle_block",
        )
        .bind(channel.receiver.as_slice())
        .bind(i64::from(channel.open_block))
        .bind(amount(channel.deposit))
        .bind(amount(channel.balance))
        .bind(channel.status.as_str())
        .bind(channel.settle_block.map(|b| b as i64))
        .execute(&self.pool)
        .await
        .map_err(SenderStoreError::from)?;
        Ok(())
    }

    /// Records the balances of a channel: `balance` acknowledged, `signed` the highest signed.
    pub async fn set_balances(&self, channel: &SenderChannel) -> Result<(), SenderError> {
        sqlx::query("UPDATE channels SET balance = $3, signed = $4 WHERE receiver = $1 AND open_block = $2")
            .bind(channel.receiver.as_slice())
            .bind(i64::from(channel.open_block))
            .bind(amount(channel.balance))
            .bind(amount(channel.signed))
            .execute(&self.pool)
            .await
            .map_err(SenderStoreError::from)?;
        Ok(())
    }

    /// Records a deposit about to be sent, before its first transaction is: a run killed while
    /// it is pending leaves it here.
    pub async fn add_pending(&self, deposit: &PendingDeposit) -> Result<(), SenderError> {
        sqlx::query(
            "INSERT INTO pending_deposits (nonce, txs, receiver, open_block, amount) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (nonce) DO UPDATE SET txs = excluded.txs, receiver = excluded.receiver, \
             open_block = excluded.open_block, amount = excluded.amount",
        )
        .bind(deposit.nonce as i64)
        .bind(deposit.txs as i64)
        .bind(deposit.receiver.as_slice())
        .bind(deposit.open_block.map(i64::from))
        .bind(amount(deposit.amount))
        .execute(&self.pool)
        .await
        .map_err(SenderStoreError::from)?;
        Ok(())
    }

    /// Forgets a pending deposit (mined, refused before sending, or replaced).
    pub async fn remove_pending(&self, nonce: u64) -> Result<(), SenderError> {
        sqlx::query("DELETE FROM pending_deposits WHERE nonce = $1")
            .bind(nonce as i64)
            .execute(&self.pool)
            .await
            .map_err(SenderStoreError::from)?;
        Ok(())
    }

    /// Every pending deposit, by nonce.
    pub async fn pending(&self) -> Result<Vec<PendingDeposit>, SenderError> {
        let rows: Vec<PendingRow> =
            sqlx::query_as("SELECT nonce, txs, receiver, open_block, amount FROM pending_deposits ORDER BY nonce")
                .fetch_all(&self.pool)
                .await
                .map_err(SenderStoreError::from)?;
        Ok(rows.into_iter().map(PendingRow::decode).collect::<Result<_, _>>()?)
    }
}

/// An amount as stored: 24 bytes, big-endian (a uint192).
fn amount(value: U192) -> Vec<u8> {
    value.to_be_bytes::<24>().to_vec()
}

fn decode_amount(bytes: &[u8]) -> Result<U192, SenderStoreError> {
    let bytes: [u8; 24] =
        bytes.try_into().map_err(|_| SenderStoreError::Corrupt(format!("an amount of {} bytes", bytes.len())))?;
    Ok(U192::from_be_bytes(bytes))
}

fn address(bytes: &[u8]) -> Result<Address, SenderStoreError> {
    Address::try_from(bytes).map_err(|_| SenderStoreError::Corrupt(format!("an address of {} bytes", bytes.len())))
}
