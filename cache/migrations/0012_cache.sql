-- Update cache (#6.2): bytes served to devices and fetched upstream per day and
-- content class (the "bandwidth saved" chart), and a snapshot of the objects
-- devices use most. No address, no device, no person: content classes and CDN URLs.
CREATE TABLE cache_traffic (
    day           TEXT NOT NULL,
    content_class TEXT NOT NULL,
    served_bytes  INTEGER NOT NULL DEFAULT 0,
    fetched_bytes INTEGER NOT NULL DEFAULT 0,
    hits          INTEGER NOT NULL DEFAULT 0,
    misses        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, content_class)
) WITHOUT ROWID;

CREATE TABLE cache_objects (
    digest        TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    content_class TEXT NOT NULL,
    length        INTEGER NOT NULL,
    present_bytes INTEGER NOT NULL,
    served_bytes  INTEGER NOT NULL,
    last_used     REAL NOT NULL,
    pinned        TEXT NOT NULL DEFAULT ''
);
