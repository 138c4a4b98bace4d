-- The link with the collectivité's centre (issue #14): one row of state, kept
-- as JSON because only the sync service writes it and pages only read it
-- whole (box id, UAI, URLs, policy in force, last exchange, alerts).
CREATE TABLE sync_link (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL
);

-- Reports waiting to go up, in order. The sequence number is the report's
-- idempotency key (with the box id): AUTOINCREMENT never reuses one, even
-- after the oldest rows are dropped or the box restarts, so the centre
-- keeps each report exactly once. Bounded in bytes and age by the service.
CREATE TABLE sync_spool (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    size       INTEGER NOT NULL,
    payload    TEXT NOT NULL
);
