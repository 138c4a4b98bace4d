-- DNS filtering: who is on which address (filled by the captive portal),
-- teachers' timed overrides (#9.2, #9.6), compiled lists, privacy-first
-- counters and blocked-query records keyed by group, never by address.
CREATE TABLE network_clients (
    address    TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL,
    role       TEXT NOT NULL,
    class_name TEXT NOT NULL DEFAULT '',
    level      TEXT NOT NULL DEFAULT '',
    expires_at REAL NOT NULL
);

CREATE TABLE filter_overrides (
    id          INTEGER PRIMARY KEY,
    target_kind TEXT NOT NULL CHECK (target_kind IN ('class', 'group', 'clients')),
    target      TEXT NOT NULL,
    action      TEXT NOT NULL
                CHECK (action IN ('block_all', 'allowlist_only', 'block_domains', 'tighten')),
    domains     TEXT NOT NULL DEFAULT '[]',
    categories  TEXT NOT NULL DEFAULT '[]',
    reason      TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    ended_at    REAL
);
CREATE INDEX filter_overrides_active ON filter_overrides (expires_at) WHERE ended_at IS NULL;

CREATE TABLE filter_lists (
    name           TEXT PRIMARY KEY,
    format         TEXT NOT NULL,
    source         TEXT NOT NULL,
    path           TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    domains        INTEGER NOT NULL,
    categories     TEXT NOT NULL,
    not_enforceable TEXT NOT NULL,
    compiled_at    TEXT NOT NULL
);

CREATE TABLE filter_counters (
    hour       TEXT NOT NULL,
    group_name TEXT NOT NULL,
    category   TEXT NOT NULL,
    queries    INTEGER NOT NULL DEFAULT 0,
    blocked    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, group_name, category)
);

CREATE TABLE filter_blocked (
    hour       TEXT NOT NULL,
    group_name TEXT NOT NULL,
    domain     TEXT NOT NULL,
    category   TEXT NOT NULL,
    count      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, group_name, domain)
);

CREATE TABLE filter_unblock_requests (
    id         INTEGER PRIMARY KEY,
    domain     TEXT NOT NULL,
    category   TEXT NOT NULL,
    group_name TEXT NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'allowed', 'refused'))
);

-- Figures a service publishes for /metrics when it runs in another process.
CREATE TABLE service_metrics (
    service    TEXT NOT NULL,
    name       TEXT NOT NULL,
    labels     TEXT NOT NULL DEFAULT '',
    value      REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (service, name, labels)
);

-- Domains the referent allowed from the block page's requests, per group.
CREATE TABLE filter_local_allow (
    domain     TEXT NOT NULL,
    group_name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (domain, group_name)
);
