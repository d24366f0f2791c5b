-- The receiver's channel manager: one receiver on one channel contract of one chain.
-- Amounts are uint192 as 24-byte big-endian BLOBs (byte order equals numeric order, so the
-- database can compare them); addresses are 20-byte BLOBs; block numbers are INTEGER.

-- Who this store belongs to, and how far the chain has been applied. Exactly one row.
CREATE TABLE receiver_meta (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    chain_id      INTEGER NOT NULL,
    contract      BLOB    NOT NULL,  -- the channel contract
    receiver      BLOB    NOT NULL,  -- the receiver's address
    synced_block  INTEGER,           -- the last confirmed block whose events are applied
    synced_hash   BLOB               -- its hash (a different hash later is a reorg deeper than the confirmations)
);

-- One row per channel to this receiver, created when its opening is confirmed.
CREATE TABLE channels (
    sender           BLOB    NOT NULL,
    open_block       INTEGER NOT NULL,
    deposit          BLOB    NOT NULL,  -- confirmed deposit
    balance          BLOB    NOT NULL,  -- last registered (paid) balance
    balance_sig      BLOB,              -- the sender's proof of that balance; NULL while it is 0
    status           TEXT    NOT NULL CHECK (status IN ('open', 'closing', 'settled')),
    closing_balance  BLOB,              -- the balance of the sender's close request
    settle_block     INTEGER,           -- the block after which the sender may settle
    settled_balance  BLOB,              -- what the settlement paid the receiver
    close_signed     INTEGER NOT NULL DEFAULT 0,  -- 1 once the receiver signed a cooperative close
    created_at       INTEGER NOT NULL,  -- unix seconds
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (sender, open_block)
);

-- Every confirmed log applied, so that applying one twice is a no-op.
CREATE TABLE applied_events (
    block_hash    BLOB    NOT NULL,
    log_index     INTEGER NOT NULL,
    block_number  INTEGER NOT NULL,
    PRIMARY KEY (block_hash, log_index)
);

-- Close transactions the receiver sent (disputes and cash-outs), with their outcome.
CREATE TABLE close_txs (
    tx_hash     BLOB    PRIMARY KEY,
    sender      BLOB    NOT NULL,
    open_block  INTEGER NOT NULL,
    balance     BLOB    NOT NULL,
    nonce       INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'mined', 'reverted', 'replaced')),
    sent_at     INTEGER NOT NULL,
    block       INTEGER
);
