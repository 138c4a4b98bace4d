-- PERSONNEL escrow for judicial requests (issue #5 scope 2): the escrow identity is
-- split between custodians (SLIP-39 Shamir shares, printed once) and never stored;
-- only its recipient is kept, and each person's key sealed to it.
ALTER TABLE personnel_keys ADD COLUMN by_escrow TEXT;

CREATE TABLE personnel_escrow (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    recipient  TEXT NOT NULL,
    custodians INTEGER NOT NULL,
    threshold  INTEGER NOT NULL,
    created_at REAL NOT NULL
);
