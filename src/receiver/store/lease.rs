//! The chain-work lease: which of the servers sharing a store answers close requests.
//!
//! Every server follows the chain (applying an event twice is a no-op), but only the holder of
//! the lease sends transactions for close requests, so that a close request is not disputed by
//! each server with its own nonce (the second transaction would revert and cost its gas). The
//! lease is a row with an expiry on the database's clock, renewed at every poll of its holder;
//! once it has expired (its holder died or lost the database), the next server to poll takes
//! it. A store only one process writes (SQLite) needs no lease: its process always leads.

use std::time::Duration;

use super::{Store, StoreError};

impl Store {
    /// Takes or renews the lease for `holder` for `ttl`, if it is free, expired or already
    /// `holder`'s. Returns whether `holder` holds it now.
    pub(crate) async fn claim_chain_work(&self, holder: &str, ttl: Duration) -> Result<bool, StoreError> {
        let Store::Postgres(pool) = self else { return Ok(true) };
        let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        // `clock_timestamp()`: the time of this statement, not of its transaction.
        let claimed: Option<(String,)> = sqlx::query_as(
            "INSERT INTO chain_lease (id, holder, expires_at) \
             VALUES (1, $1, clock_timestamp() + $2 * INTERVAL '1 millisecond') \
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE chain_lease.holder = excluded.holder OR chain_lease.expires_at < clock_timestamp() \
             RETURNING holder",
        )
        .bind(holder)
        .bind(millis)
        .fetch_optional(pool)
        .await?;
        Ok(claimed.is_some())
    }

    /// Whether `holder` holds an unexpired lease now (checked before a close is sent).
    pub(crate) async fn holds_chain_work(&self, holder: &str) -> Result<bool, StoreError> {
        let Store::Postgres(pool) = self else { return Ok(true) };
        let held: Option<(i32,)> =
            sqlx::query_as("SELECT 1 FROM chain_lease WHERE holder = $1 AND expires_at > clock_timestamp()")
                .bind(holder)
                .fetch_optional(pool)
                .await?;
        Ok(held.is_some())
    }

    /// Gives the lease up (at a clean shutdown), so that another server takes it at its next
    /// poll rather than once it has expired.
    pub(crate) async fn release_chain_work(&self, holder: &str) -> Result<(), StoreError> {
        let Store::Postgres(pool) = self else { return Ok(()) };
        sqlx::query("DELETE FROM chain_lease WHERE holder = $1").bind(holder).execute(pool).await?;
        Ok(())
    }
}
