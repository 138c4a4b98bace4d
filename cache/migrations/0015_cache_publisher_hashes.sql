-- Publishers' SHA-256 of files the cache may hold, read from the indexes that
-- pass through it (apt's Packages): a completed object that differs is dropped.
CREATE TABLE cache_publisher_hashes (
    cache_key TEXT PRIMARY KEY,
    sha256    TEXT NOT NULL,
    seen_at   REAL NOT NULL
) WITHOUT ROWID;
