-- Prepaid sessions: one payment bought `requests` requests at `price` on `scope`. The row is
-- written in the payment's own transaction, so a session exists exactly when its payment does.
-- `claimed`: requests some server took to serve (in blocks); `used`: requests served, written
-- lazily (it can lag by the last few uses; a refund reads it, so a lag costs the receiver).
CREATE TABLE sessions (
    id          BLOB    PRIMARY KEY,  -- the first 16 bytes of the credential's MAC
    sender      BLOB    NOT NULL,
    open_block  INTEGER NOT NULL,
    scope       TEXT    NOT NULL,
    price       BLOB    NOT NULL,     -- 24-byte big-endian, as amounts in channels
    requests    INTEGER NOT NULL,
    balance     BLOB    NOT NULL,     -- the balance that bought it
    expires_at  INTEGER NOT NULL,     -- unix seconds
    claimed     INTEGER NOT NULL,
    used        INTEGER NOT NULL,
    CHECK (used <= requests AND claimed <= requests)
);
CREATE INDEX sessions_by_channel ON sessions (sender, open_block);
