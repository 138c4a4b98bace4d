-- Captive portal, admin side: who a session is for (class, for a teacher's
-- "block all"), the fair-use state, charter versions edited in the UI,
-- guest vouchers (only a hash of each code is kept), usage alerts, and the
-- DHCP device inventory (scopes 2, 4, 6, 7, 10 of issue #4).
ALTER TABLE portal_sessions ADD COLUMN throttled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE portal_sessions ADD COLUMN class_name TEXT NOT NULL DEFAULT '';
ALTER TABLE portal_sessions ADD COLUMN level TEXT NOT NULL DEFAULT '';

CREATE TABLE portal_charters (
    version    TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE portal_vouchers (
    id            INTEGER PRIMARY KEY,
    code_hash     TEXT NOT NULL UNIQUE,
    label         TEXT NOT NULL DEFAULT '',
    minutes       INTEGER NOT NULL,
    max_devices   INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    REAL NOT NULL,
    valid_until   REAL NOT NULL,
    first_used_at REAL,
    revoked_at    REAL
);

CREATE TABLE portal_alerts (
    day        TEXT NOT NULL,
    user       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (day, user, kind)
);

CREATE TABLE portal_dhcp_devices (
    mac          TEXT PRIMARY KEY,
    ip           TEXT NOT NULL,
    hostname     TEXT NOT NULL DEFAULT '',
    vendor_class TEXT NOT NULL DEFAULT '',
    fingerprint  TEXT NOT NULL DEFAULT '',
    first_seen   REAL NOT NULL,
    last_seen    REAL NOT NULL
);

CREATE INDEX portal_usage_day ON portal_usage (day);

-- "Continue as …" after a MAC change: a device cookie's hash, until the session ends.
CREATE TABLE portal_resume (
    token_hash TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    expires_at REAL NOT NULL
);
