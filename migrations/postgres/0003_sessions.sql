-- Prepaid sessions: one payment bought `requests` requests at `price` on `scope`. The row is
-- written in the payment's own transaction, so a session exists exactly when its payment does.
-- `claimed`: requests some server took to serve (in blocks); `used`: requests served, written
-- lazily (it can lag by the last few uses; a refund reads it, so a lag costs the receiver).
CREATE TABLE sessions (
    id          BYTEA   PRIMARY KEY,  -- the first 16 bytes of the credential's MAC
    sender      BYTEA   NOT NULL,
    open_block  BIGINT  NOT NULL,
    scope       TEXT    NOT NULL,
    price       BYTEA   NOT NULL,     -- 24-byte big-endian, as amounts in channels
    requests    BIGINT  NOT NULL,
    balance     BYTEA   NOT NULL,     -- the balance that bought it
    expires_at  BIGINT  NOT NULL,     -- unix seconds
    claimed     BIGINT  NOT NULL,
    used        BIGINT  NOT NULL,
    CHECK (used <= requests AND claimed <= requests)
);
CREATE INDEX sessions_by_channel ON sessions (sender, open_block);
