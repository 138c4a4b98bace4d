-- A control can target a virtual group of a class (issue #13 scope 6, CARMO
-- #9.9): target_kind 'subgroup', target the group's id. SQLite cannot change
-- a CHECK constraint, so the table is rebuilt with the same rows (the whole
-- migration runs in one transaction: a crash leaves the old table whole).
CREATE TABLE filter_overrides_new (
    id           INTEGER PRIMARY KEY,
    target_kind  TEXT NOT NULL
                 CHECK (target_kind IN ('class', 'group', 'clients', 'subgroup')),
    target       TEXT NOT NULL,
    action       TEXT NOT NULL
                 CHECK (action IN ('block_all', 'allowlist_only', 'block_domains', 'tighten')),
    domains      TEXT NOT NULL DEFAULT '[]',
    categories   TEXT NOT NULL DEFAULT '[]',
    reason       TEXT NOT NULL DEFAULT '',
    created_by   TEXT NOT NULL,
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL,
    ended_at     REAL,
    created_role TEXT NOT NULL DEFAULT 'referent'
);
INSERT INTO filter_overrides_new (id, target_kind, target, action, domains, categories, reason,
                                  created_by, created_at, expires_at, ended_at, created_role)
    SELECT id, target_kind, target, action, domains, categories, reason, created_by,
           created_at, expires_at, ended_at, created_role
    FROM filter_overrides;
DROP TABLE filter_overrides;
ALTER TABLE filter_overrides_new RENAME TO filter_overrides;
CREATE INDEX filter_overrides_active ON filter_overrides (expires_at) WHERE ended_at IS NULL;
