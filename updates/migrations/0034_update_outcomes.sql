-- What became of each system update (issue #17): kept, reverted by the
-- health gate or by failed boots, refused before anything was touched.
-- Written once per outcome file of /var/lib/preau-update (updates.record);
-- no person's identifier, the same row goes to the centre.
CREATE TABLE update_outcomes (
    id           TEXT PRIMARY KEY,
    outcome      TEXT NOT NULL,
    to_version   TEXT NOT NULL,
    from_version TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    at           REAL NOT NULL
);
CREATE INDEX update_outcomes_at ON update_outcomes (at);
