//! Why the sender's client stopped.

use alloy_primitives::{Address, aliases::U192};

use crate::{contract::Revert, node::NodeError};

/// A failure of the sender's client. Nothing was sent on chain unless the variant says so.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// The transaction would revert: it was not sent.
    #[error("would revert: {0} (nothing was sent)")]
    WouldRevert(Revert),
    /// The transaction was mined and reverted.
    #[error("transaction {tx} reverted")]
    Reverted {
        /// Its hash.
        tx: alloy_primitives::B256,
    },
    /// The node failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A later transaction of a sequence failed after the earlier ones were mined (the chain
    /// changed between the simulation and the sending).
    #[error("{} transaction(s) were mined ({mined:?}), then the next one failed: {source}", mined.len())]
    PartlySent {
        /// The transactions that were mined.
        mined: Vec<alloy_primitives::B256>,
        /// Why the next one failed.
        source: Box<SenderError>,
    },
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] SenderStoreError),
    /// Not enough tokens for the deposit: the token would revert it with
    /// `ERC20InsufficientBalance`, so nothing was sent.
    #[error(
        "the sender holds {held} tokens, {needed} are needed: the deposit would revert with ERC20InsufficientBalance (nothing was sent)"
    )]
    InsufficientTokens {
        /// What the sender holds.
        held: alloy_primitives::U256,
        /// What the operation needs.
        needed: alloy_primitives::U256,
    },
    /// No such channel in the local store.
    #[error("no channel to {receiver} opened in block {open_block}")]
    UnknownChannel {
        /// The receiver.
        receiver: Address,
        /// The open block.
        open_block: u32,
    },
    /// The receiver's cooperative close answer was refused or not a valid closing signature.
    #[error("cooperative close refused: {0}")]
    CloseRefused(String),
    /// The channel is not open.
    #[error("the channel is {0}")]
    NotOpen(&'static str),
    /// The challenge period is not over.
    #[error(
        "the challenge period ends after block {settle_block}: settle would revert with ChallengePeriodNotOver (nothing was sent)"
    )]
    ChallengePeriod {
        /// The block after which settling works.
        settle_block: u64,
    },
    /// A payment would cost more than allowed.
    #[error("the server asks {price} per request; the cap is {cap} (max price per request)")]
    PriceAboveCap {
        /// The price asked.
        price: U192,
        /// The cap.
        cap: U192,
    },
    /// The deposit to a receiver would pass its cap.
    #[error("paying needs {needed} tokens deposited to {receiver}; the cap is {cap} (max deposit per receiver)")]
    DepositCap {
        /// The receiver.
        receiver: Address,
        /// The deposits it would need.
        needed: U192,
        /// The cap.
        cap: U192,
    },
    /// The program's approval callback refused the payment.
    #[error("the payment of {price} to {receiver} was not approved")]
    NotApproved {
        /// The receiver.
        receiver: Address,
        /// The price.
        price: U192,
    },
    /// The server's payment terms are for another chain or contract.
    #[error("the server asks for payment on {what}, not this client's")]
    OtherTerms {
        /// What differs.
        what: String,
    },
    /// A request made to an `https://` URL was redirected to a plain `http://` URL that asks
    /// for payment: nothing is paid in clear text.
    #[error("the https request was redirected to {url}, which asks for payment over plain http: not paid")]
    Downgraded {
        /// The `http://` URL that answered 402.
        url: String,
    },
    /// The server's 402 could not be read.
    #[error("the server's 402 is unreadable: {0}")]
    BadChallenge(String),
    /// The server refused the payment and no retry is left or allowed.
    #[error("the server refused the payment: {0}")]
    Refused(String),
    /// The server sent a corrective refusal whose state the sender did not sign.
    #[error("the server claims the last balance is {balance}, without the sender's signature of it")]
    UnsignedCorrection {
        /// The balance the server claims.
        balance: U192,
    },
    /// The server broke the payment protocol: e.g. it reports a balance the sender did not sign
    /// (above the payment just made, or without the sender's signature). The client stops; the
    /// receiver holds nothing more than the proof just sent.
    #[error("protocol error from {url}: {reason}")]
    Protocol {
        /// The server's URL.
        url: String,
        /// What it did wrong.
        reason: String,
    },
    /// The server refused the payment because of the deposit, though the client's own account
    /// of the channel says it covers the payment: no top-up is made on a server's word.
    #[error(
        "the server says the deposit is insufficient, but channel {open_block} has {deposit} deposited and the payment signs {balance}: not topping up on the server's word"
    )]
    FundsDisputed {
        /// The channel's open block.
        open_block: u32,
        /// Its deposit, as the sender knows it from the chain.
        deposit: U192,
        /// The balance paid.
        balance: U192,
    },
    /// A deposit sent by an earlier run is still pending on chain: nothing more is deposited to
    /// its receiver until it is mined (or dropped), so the caps always count it.
    #[error(
        "a deposit of {amount} to {receiver} sent earlier (nonce {nonce}) is still pending: nothing more is deposited to {receiver} until it is mined; run again then"
    )]
    PendingDeposit {
        /// The receiver.
        receiver: Address,
        /// The pending amount.
        amount: U192,
        /// The nonce of its (first) transaction.
        nonce: u64,
    },
    /// An HTTP call got no answer in time.
    #[error("{what}: no answer in {seconds} s")]
    TimedOut {
        /// The call.
        what: String,
        /// The limit.
        seconds: u64,
    },
    /// The request body cannot be sent twice (a stream), so it cannot be retried with a payment.
    #[error("the request cannot be retried (a streaming body): buffer it or pay before sending")]
    NotRetryable,
    /// The HTTP request failed.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
}

/// A failure of the sender's local store (the SQLite file of [`SenderStore`](super::SenderStore)).
#[derive(Debug, thiserror::Error)]
pub enum SenderStoreError {
    /// The database failed.
    #[error("the sender's store: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrating the database failed.
    #[error("migrating the sender's store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value does not decode.
    #[error("corrupt sender store: {0}")]
    Corrupt(String),
    /// File system error.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The failure.
        source: std::io::Error,
    },
}
