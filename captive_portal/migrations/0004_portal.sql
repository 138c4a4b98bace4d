-- Captive portal: sessions owned by accounts, devices as sub-records (#5.17),
-- and charter acceptances with their version (#7.48, #7.49).
CREATE TABLE portal_sessions (
    user       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    started_at REAL NOT NULL,
    ends_at    REAL NOT NULL,
    bytes_used INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE portal_devices (
    mac         TEXT NOT NULL,
    ip          TEXT NOT NULL,
    user        TEXT NOT NULL REFERENCES portal_sessions (user) ON DELETE CASCADE,
    attached_at REAL NOT NULL,
    last_active REAL NOT NULL,
    randomised  INTEGER NOT NULL,
    PRIMARY KEY (mac, ip)
);

CREATE TABLE portal_charter (
    user        TEXT NOT NULL,
    version     TEXT NOT NULL,
    device_mac  TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    PRIMARY KEY (user, version)
);

-- Per-device daily usage sampled from the kernel's set counters (scope 7).
CREATE TABLE portal_usage (
    day        TEXT NOT NULL,
    user       TEXT NOT NULL,
    mac        TEXT NOT NULL,
    up_bytes   INTEGER NOT NULL DEFAULT 0,
    down_bytes INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, user, mac)
);
