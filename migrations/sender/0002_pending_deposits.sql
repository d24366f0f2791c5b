-- Deposits (opens and top-ups) sent and not yet seen mined: written before the first of their
-- transactions is sent, removed once the sender's nonce has moved past them (mined, or
-- replaced). A run killed while its deposit was pending finds it here, counts it against the
-- caps and reconciles with the chain's events before depositing again.
CREATE TABLE pending_deposits (
    nonce       INTEGER PRIMARY KEY,  -- the sender's nonce of the first transaction
    txs         INTEGER NOT NULL,     -- how many transactions (approve + call on the ERC20 path)
    receiver    BLOB    NOT NULL,
    open_block  INTEGER,              -- the channel topped up; NULL for an open
    amount      BLOB    NOT NULL
);
