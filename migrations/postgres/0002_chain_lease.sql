-- Which server of the receiver leads the chain work (answering close requests): the holder of an
-- unexpired lease, renewed at every poll; another server takes it over once it has expired.
-- At most one row. Times are the database's clock, so the servers' clocks do not matter.
CREATE TABLE chain_lease (
    id          SMALLINT    PRIMARY KEY CHECK (id = 1),
    holder      TEXT        NOT NULL,  -- the leading server's random name (chosen at its start)
    expires_at  TIMESTAMPTZ NOT NULL
);
