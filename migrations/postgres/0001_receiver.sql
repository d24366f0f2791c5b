-- The receiver's channel manager: one receiver on one channel contract of one chain.
-- Amounts are uint192 as 24-byte big-endian BYTEA values (byte order equals numeric order, so the
-- database can compare them); addresses are 20-byte BYTEA values; block numbers are BIGINT.

-- Who this store belongs to, and how far the chain has been applied. Exactly one row.
CREATE TABLE receiver_meta (
    id            SMALLINT PRIMARY KEY CHECK (id = 1),
    chain_id      BIGINT NOT NULL,
    contract      BYTEA    NOT NULL,  -- the channel contract
    receiver      BYTEA    NOT NULL,  -- the receiver's address
    synced_block  BIGINT,           -- the last confirmed block whose events are applied
    synced_hash   BYTEA               -- its hash (a different hash later is a reorg deeper than the confirmations)
);

-- One row per channel to this receiver, created when its opening is confirmed.
CREATE TABLE channels (
    sender           BYTEA    NOT NULL,
    open_block       BIGINT NOT NULL,
    deposit          BYTEA    NOT NULL,  -- confirmed deposit
    balance          BYTEA    NOT NULL,  -- last registered (paid) balance
    balance_sig      BYTEA,              -- the sender's proof of that balance; NULL while it is 0
    status           TEXT    NOT NULL CHECK (status IN ('open', 'closing', 'settled')),
    closing_balance  BYTEA,              -- the balance of the sender's close request
    settle_block     BIGINT,           -- the block after which the sender may settle
    settled_balance  BYTEA,              -- what the settlement paid the receiver
    close_signed     BIGINT NOT NULL DEFAULT 0,  -- 1 once the receiver signed a cooperative close
    created_at       BIGINT NOT NULL,  -- unix seconds
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (sender, open_block)
);

-- Every confirmed log applied, so that applying one twice is a no-op.
CREATE TABLE applied_events (
    block_hash    BYTEA    NOT NULL,
    log_index     BIGINT NOT NULL,
    block_number  BIGINT NOT NULL,
    PRIMARY KEY (block_hash, log_index)
);

-- Close transactions the receiver sent (disputes and cash-outs), with their outcome.
CREATE TABLE close_txs (
    tx_hash     BYTEA    PRIMARY KEY,
    sender      BYTEA    NOT NULL,
    open_block  BIGINT NOT NULL,
    balance     BYTEA    NOT NULL,
    nonce       BIGINT NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'mined', 'reverted', 'replaced')),
    sent_at     BIGINT NOT NULL,
    block       BIGINT
);
