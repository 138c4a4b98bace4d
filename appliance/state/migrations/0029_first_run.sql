-- The first run of a box installed by the package (issue #15, scope 3). One
-- row, written by `preau first-run begin` (the package's postinst) with the
-- install code's digest; the first-run page sets done_at. No row: nothing is
-- pending (the demo, a box set up before this migration, the tests).
CREATE TABLE first_run (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    code_hash  TEXT NOT NULL,
    opened_at  REAL NOT NULL,
    done_at    REAL,
    done_by    TEXT NOT NULL DEFAULT ''
);
