//! The receiver's errors: why a payment or a close was refused, and what stops the manager.

use alloy_primitives::{Address, Bytes, aliases::U192};

use crate::{proof::VerifyError, protocol::Reason};

/// Why a payment was refused. Each carries what an honest client needs to recover; a refused
/// payment changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// No channel from this sender opened in this block is known to the receiver.
    #[error("no channel from {sender} opened in block {open_block}")]
    UnknownChannel {
        /// The sender named by the payment.
        sender: Address,
        /// The open block named by the payment.
        open_block: u32,
    },
    /// The channel's opening is not confirmed yet.
    #[error("the channel needs {missing} more confirmation(s)")]
    Unconfirmed {
        /// Blocks still to be mined before it can be spent.
        missing: u64,
    },
    /// The channel is closing (a close request, or a signed cooperative close): no more payments.
    #[error("the channel is closing")]
    Closing,
    /// The channel was settled.
    #[error("the channel is settled")]
    Settled,
    /// The balance proof is not the sender's signature of this balance, as the contract sees it.
    #[error("invalid balance proof: {0}")]
    InvalidProof(VerifyError),
    /// The new balance is not the last registered balance plus the price. The last registered
    /// balance and its proof (the sender's own signature) let an honest client resynchronise.
    #[error("the balance should be {expected} (last registered {last_balance} plus the price)")]
    AmountMismatch {
        /// The balance that would have been accepted.
        expected: U192,
        /// The last registered balance.
        last_balance: U192,
        /// The sender's proof of it (`None` while nothing was paid).
        last_signature: Option<Bytes>,
    },
    /// The new balance is above the confirmed deposit: top up first.
    #[error("the balance {balance} exceeds the confirmed deposit {deposit}")]
    InsufficientFunds {
        /// The balance asked for.
        balance: U192,
        /// The confirmed deposit.
        deposit: U192,
    },
    /// The node has been unreachable for longer than the configured share of the challenge
    /// period: the receiver could miss a close request and not dispute it in time, so it takes
    /// no payments until the node answers again.
    #[error(
        "payments are suspended: the node has been unreachable for {for_secs} s, longer than {limit_secs} s \
         (a share of the challenge period)"
    )]
    NodeUnreachable {
        /// Seconds since the last successful poll of the node.
        for_secs: u64,
        /// The configured limit, in seconds.
        limit_secs: u64,
    },
    /// The receiver cannot take payments now (a reorg deeper than the confirmations, a store
    /// failure, a shutdown). The payment was not registered.
    #[error("payments are suspended: {0}")]
    Unavailable(String),
    /// A prepaid session's credential was refused.
    #[error("{0}")]
    Session(SessionError),
}

/// Why a prepaid session's credential was refused (the request may pay with a proof instead).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not a credential, or one for a session this receiver never sold.
    #[error("unknown session credential")]
    Unknown,
    /// A credential whose MAC is not this receiver's.
    #[error("the session credential was not issued by this receiver")]
    Forged,
    /// A credential past its expiry.
    #[error("the session expired at {expires} (unix seconds)")]
    Expired {
        /// When it expired.
        expires: u64,
    },
    /// Every request the session bought was spent.
    #[error("the session's {requests} requests are spent")]
    Exhausted {
        /// Requests it bought.
        requests: u32,
    },
    /// A credential for another receiver, contract, chain, channel, route or price.
    #[error("the session credential is for {0}")]
    Mismatch(String),
}

impl SessionError {
    /// The reason, as the wire protocols name it.
    pub fn reason(&self) -> Reason {
        match self {
            SessionError::Unknown => Reason::SessionUnknown,
            SessionError::Forged => Reason::SessionForged,
            SessionError::Expired { .. } => Reason::SessionExpired,
            SessionError::Exhausted { .. } => Reason::SessionExhausted,
            SessionError::Mismatch(_) => Reason::SessionMismatch,
        }
    }
}

impl PaymentError {
    /// The reason, as the wire protocols name it (metrics, logs, the paywall's answers).
    pub fn reason(&self) -> Reason {
        match self {
            PaymentError::UnknownChannel { .. } => Reason::ChannelNotFound,
            PaymentError::Unconfirmed { .. } => Reason::InsufficientConfirmations,
            PaymentError::Closing | PaymentError::Settled => Reason::ChannelClosing,
            PaymentError::InvalidProof(_) => Reason::InvalidSignature,
            PaymentError::AmountMismatch { .. } => Reason::AmountMismatch,
            PaymentError::InsufficientFunds { .. } => Reason::BalanceExceedsDeposit,
            PaymentError::NodeUnreachable { .. } => Reason::NodeUnreachable,
            PaymentError::Unavailable(_) => Reason::Unavailable,
            PaymentError::Session(error) => error.reason(),
        }
    }
}

/// Why the receiver refused to sign a cooperative close.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CloseError {
    /// No such channel is known (or its opening is not confirmed).
    #[error("no confirmed channel from {sender} opened in block {open_block}")]
    UnknownChannel {
        /// The sender.
        sender: Address,
        /// The open block.
        open_block: u32,
    },
    /// The channel is settled.
    #[error("the channel is settled")]
    Settled,
    /// Nothing was paid: there is no proof to close with.
    #[error("nothing was paid on this channel")]
    NothingPaid,
    /// The balance or the signature is not the last registered one.
    #[error("the balance and signature are not the last registered payment")]
    NotLatest,
    /// The balance is below the last registered one by more than the prepaid requests not used.
    #[error("the balance {balance} is below {lowest}: the last registered balance less the prepaid requests not used")]
    BelowUnused {
        /// The balance asked for.
        balance: U192,
        /// The lowest balance the receiver agrees to close at.
        lowest: U192,
    },
    /// The balance proof is not the sender's signature of the balance.
    #[error("the balance signature is not the sender's")]
    InvalidProof,
    /// The receiver cannot act now.
    #[error("closing is suspended: {0}")]
    Unavailable(String),
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store URL is not `sqlite://PATH` or `postgres://…`.
    #[error("unsupported store URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// Another process holds the SQLite file.
    #[error("the store {0} is in use by another process")]
    Locked(String),
    /// The state file can be read by other users.
    #[error("the store {path} is readable by other users (mode {mode:o}); chmod 600 it")]
    Permissions {
        /// The file.
        path: String,
        /// Its mode.
        mode: u32,
    },
    /// The store belongs to another chain, contract or receiver.
    #[error("the store was made for {what} {stored}, not {configured}")]
    Mismatch {
        /// `chain id`, `contract` or `receiver`.
        what: &'static str,
        /// What the store holds.
        stored: String,
        /// What the configuration says.
        configured: String,
    },
    /// A stored value does not decode.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// No database connection came free in time (PostgreSQL): the store is overloaded.
    #[error("the store is busy: no database connection within {0:?}")]
    Busy(std::time::Duration),
    /// Opening or migrating the database failed.
    #[error("database: {0}")]
    Database(sqlx::Error),
    /// Migrations failed.
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// File system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the database could not be reached or is not taking connections yet (refused,
    /// reset, starting up, shutting down, out of connections): worth trying again later, unlike
    /// a store that answered with something wrong.
    pub fn is_unreachable(&self) -> bool {
        fn unreachable(error: &sqlx::Error) -> bool {
            match error {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
                // cannot_connect_now (starting up), admin_shutdown, crash_shutdown,
                // too_many_connections.
                sqlx::Error::Database(db) => {
                    matches!(db.code().as_deref(), Some("57P03" | "57P01" | "57P02" | "53300"))
                }
                _ => false,
            }
        }
        match self {
            StoreError::Busy(_) => true,
            StoreError::Database(error) => unreachable(error),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(error)) => unreachable(error),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut => StoreError::Busy(super::config::POOL_WAIT),
            error => StoreError::Database(error),
        }
    }
}

/// Why the manager could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node failed (after retries).
    #[error("node: {0}")]
    Node(String),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A reorg replaced a block the manager had already confirmed.
    #[error(
        "reorg deeper than the confirmations: block {block} was {stored} and is now {now}; \
         payments are stopped until the chain is re-read from the deployment block (automatic unless \
         disabled; `uraiden receiver resync` otherwise); consider more confirmations"
    )]
    DeepReorg {
        /// The confirmed block that changed.
        block: u64,
        /// Its hash as applied.
        stored: alloy_primitives::B256,
        /// Its hash on the node now.
        now: alloy_primitives::B256,
    },
}
