-- Replacing a dead box (issue #14, scope 9): the last replacement backup the
-- centre acknowledged, and a restore this box asked for. One row, written by
-- the backup job, the referent's request and the sync service's restore;
-- each writes only its own columns.
CREATE TABLE sync_pra (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    backup_at            REAL NOT NULL DEFAULT 0,
    backup_bytes         INTEGER NOT NULL DEFAULT 0,
    restore_requested_at REAL NOT NULL DEFAULT 0,
    restored_at          REAL NOT NULL DEFAULT 0,
    -- What the last restore did, or why it failed: a message id and its values.
    restore_outcome      TEXT NOT NULL DEFAULT '',
    restore_values       TEXT NOT NULL DEFAULT '{}'
);
