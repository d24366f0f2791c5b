//! Prepaid sessions in the store: a row per session, written in its payment's transaction
//! ([`Store::commit_payments`](super::Store::commit_payments)), claimed in blocks by the servers
//! that serve it, and told lazily how many requests were served.

use alloy_primitives::aliases::U192;

use sqlx::{PgPool, SqlitePool};

use super::{Store, StoreError, address, decode_amount, with_pool};
use crate::channel::ChannelId;

/// A session as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SessionRow {
    /// The first 16 bytes of its credential's MAC.
    pub id: [u8; 16],
    /// The channel that paid for it.
    pub channel: ChannelId,
    /// The path it is good for.
    pub scope: String,
    /// What each request costs.
    pub price: U192,
    /// Requests bought.
    pub requests: u32,
    /// The balance that bought them.
    pub balance: U192,
    /// When it ends (unix seconds).
    pub expires: u64,
    /// Requests some server took to serve.
    pub claimed: u32,
    /// Requests served, as far as written.
    pub used: u32,
}

#[derive(sqlx::FromRow)]
struct RawSession {
    id: Vec<u8>,
    sender: Vec<u8>,
    open_block: i64,
    scope: String,
    price: Vec<u8>,
    requests: i64,
    balance: Vec<u8>,
    expires_at: i64,
    claimed: i64,
    used: i64,
}

impl RawSession {
    fn decode(self, receiver: alloy_primitives::Address) -> Result<SessionRow, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("session {what}"));
        Ok(SessionRow {
            id: self.id.as_slice().try_into().map_err(|_| corrupt("id"))?,
            channel: ChannelId {
                sender: address(&self.sender)?,
                receiver,
                open_block: u32::try_from(self.open_block).map_err(|_| corrupt("open block"))?,
            },
            scope: self.scope,
            price: decode_amount(&self.price)?,
            requests: u32::try_from(self.requests).map_err(|_| corrupt("requests"))?,
            balance: decode_amount(&self.balance)?,
            expires: u64::try_from(self.expires_at).map_err(|_| corrupt("expiry"))?,
            claimed: u32::try_from(self.claimed).map_err(|_| corrupt("claimed"))?,
            used: u32::try_from(self.used).map_err(|_| corrupt("used"))?,
        })
    }
}

/// The statement writing a new session (bound by [`bind_insert`]).
pub(super) const INSERT_SESSION: &str = "INSERT INTO sessions \
     (id, sender, open_block, scope, price, requests, balance, expires_at, claimed, used) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// Binds a session to [`INSERT_SESSION`], for either database.
macro_rules! bind_insert {
    ($query:expr, $row:expr) => {{
        let row = $row;
        $query
            .bind(row.id.as_slice())
            .bind(row.channel.sender.as_slice())
            .bind(i64::from(row.channel.open_block))
            .bind(row.scope.as_str())
            .bind(amount(row.price))
            .bind(i64::from(row.requests))
            .bind(amount(row.balance))
            .bind(i64::try_from(row.expires).unwrap_or(i64::MAX))
            .bind(i64::from(row.claimed))
            .bind(i64::from(row.used))
    }};
}
pub(super) use bind_insert;

impl Store {
    /// The session `id`, if it was bought.
    pub(crate) async fn session(
        &self,
        id: &[u8; 16],
        receiver: alloy_primitives::Address,
    ) -> Result<Option<SessionRow>, StoreError> {
        let raw: Option<RawSession> = with_pool!(self, pool =>
            sqlx::query_as(
                "SELECT id, sender, open_block, scope, price, requests, balance, expires_at, claimed, used \
                 FROM sessions WHERE id = $1",
            ).bind(id.as_slice()).fetch_optional(pool).await?
        );
        raw.map(|r| r.decode(receiver)).transpose()
    }

    /// The sessions a channel bought.
    pub(crate) async fn sessions_of(&self, channel: &ChannelId) -> Result<Vec<SessionRow>, StoreError> {
        let raw: Vec<RawSession> = with_pool!(self, pool =>
            sqlx::query_as(
                "SELECT id, sender, open_block, scope, price, requests, balance, expires_at, claimed, used \
                 FROM sessions WHERE sender = $1 AND open_block = $2",
            )
                .bind(channel.sender.as_slice())
                .bind(i64::from(channel.open_block))
                .fetch_all(pool)
                .await?
        );
        raw.into_iter().map(|r| r.decode(channel.receiver)).collect()
    }

    /// Takes up to `want` more of session `id`'s requests to serve (one conditional statement
    /// per try, so servers sharing the store never take more than were bought). Returns how
    /// many were taken and how many are claimed in all now.
    pub(crate) async fn claim_session(&self, id: &[u8; 16], want: u32) -> Result<(u32, u32), StoreError> {
        let mut want = i64::from(want);
        for _ in 0..3 {
            if want == 0 {
                break;
            }
            let claimed: Option<(i64,)> = with_pool!(self, pool =>
                sqlx::query_as(
                    "UPDATE sessions SET claimed = claimed + $2 WHERE id = $1 AND claimed + $2 <= requests \
                     RETURNING claimed",
                )
                .bind(id.as_slice())
                .bind(want)
                .fetch_optional(pool)
                .await?
            );
            if let Some((claimed,)) = claimed {
                let total = u32::try_from(claimed).map_err(|_| StoreError::Corrupt("session claimed".into()))?;
                return Ok((u32::try_from(want).unwrap_or(0), total));
            }
            // Fewer left than wanted: take what is left.
            let left: Option<(i64,)> = with_pool!(self, pool =>
                sqlx::query_as("SELECT requests - claimed FROM sessions WHERE id = $1")
                    .bind(id.as_slice())
                    .fetch_optional(pool)
                    .await?
            );
            want = left.map_or(0, |(left,)| left.min(want).max(0));
        }
        Ok((0, 0))
    }

    /// Adds requests served to sessions (`(id, served)`), in one transaction.
    pub(crate) async fn add_session_uses(&self, uses: &[([u8; 16], u32)]) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (id, served) in uses {
                sqlx::query("UPDATE sessions SET used = used + $2 WHERE id = $1")
                    .bind(id.as_slice())
                    .bind(i64::from(*served))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Gives back requests claimed but not served (`(id, unserved)`), at a clean shutdown.
    pub(crate) async fn release_session_claims(&self, claims: &[([u8; 16], u32)]) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (id, unserved) in claims {
                sqlx::query("UPDATE sessions SET claimed = claimed - $2 WHERE id = $1 AND claimed >= $2")
                    .bind(id.as_slice())
                    .bind(i64::from(*unserved))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Ends a channel's sessions (its cooperative close refunds what they did not use): no
    /// server can claim another of their requests.
    pub(crate) async fn end_sessions(&self, channel: &ChannelId) -> Result<(), StoreError> {
        with_pool!(self, pool =>
            sqlx::query("UPDATE sessions SET claimed = requests WHERE sender = $1 AND open_block = $2")
                .bind(channel.sender.as_slice())
                .bind(i64::from(channel.open_block))
                .execute(pool)
                .await?
                .rows_affected()
        );
        Ok(())
    }

    /// SQLite only (its one process holds every claim): forgets the claims a crashed process
    /// held, so that its sessions can be served again from what was written as used.
    pub(crate) async fn reset_session_claims(&self) -> Result<(), StoreError> {
        if let Store::Sqlite(store) = self {
            sqlx::query("UPDATE sessions SET claimed = used").execute(&store.pool).await?;
        }
        Ok(())
    }
}
