-- Night pre-staging (#6.2, #7.21, #11.12): lists of URLs the cache fetches inside
-- the maintenance window, so the morning's devices find them on site; and the
-- report of each night's run (what was fetched before school opens).
CREATE TABLE cache_prestage_items (
    id         INTEGER PRIMARY KEY,
    plan       TEXT NOT NULL,
    url        TEXT NOT NULL,
    sha256     TEXT NOT NULL DEFAULT '',
    added_by   TEXT NOT NULL,
    added_at   REAL NOT NULL,
    status     TEXT NOT NULL DEFAULT 'pending',
    bytes      INTEGER NOT NULL DEFAULT 0,
    error      TEXT NOT NULL DEFAULT '',
    checked_at REAL,
    UNIQUE (plan, url)
);

CREATE TABLE cache_prestage_runs (
    id            INTEGER PRIMARY KEY,
    requested_at  REAL NOT NULL,
    deadline      REAL NOT NULL,
    started_at    REAL,
    finished_at   REAL,
    status        TEXT NOT NULL DEFAULT 'requested',
    items_done    INTEGER NOT NULL DEFAULT 0,
    items_failed  INTEGER NOT NULL DEFAULT 0,
    items_left    INTEGER NOT NULL DEFAULT 0,
    fetched_bytes INTEGER NOT NULL DEFAULT 0
);
