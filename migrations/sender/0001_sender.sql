-- A sender's channels on one channel contract of one chain. Amounts are uint192 as 24-byte
-- big-endian BLOBs; addresses 20-byte BLOBs.

-- Whose store this is. Exactly one row.
CREATE TABLE sender_meta (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    chain_id  INTEGER NOT NULL,
    contract  BLOB    NOT NULL,
    sender    BLOB    NOT NULL
);

CREATE TABLE channels (
    receiver         BLOB    NOT NULL,
    open_block       INTEGER NOT NULL,
    deposit          BLOB    NOT NULL,  -- the deposit on chain
    balance          BLOB    NOT NULL,  -- the last balance the receiver acknowledged
    signed           BLOB    NOT NULL,  -- the highest balance signed (written before a proof is sent)
    status           TEXT    NOT NULL CHECK (status IN ('open', 'closing', 'settled')),
    settle_block     INTEGER,           -- after a close request: when the sender may settle
    PRIMARY KEY (receiver, open_block)
);
