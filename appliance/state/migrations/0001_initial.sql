-- People, groups and accounts: only the fields of CARMO table 9 (#7.53, #7.55).
CREATE TABLE people (
    id           TEXT PRIMARY KEY,
    source       TEXT NOT NULL CHECK (source IN ('local', 'ldap')),
    display_name TEXT NOT NULL,
    given_name   TEXT NOT NULL DEFAULT '',
    surname      TEXT NOT NULL DEFAULT '',
    role         TEXT NOT NULL CHECK (role IN ('pupil', 'teacher', 'staff', 'referent')),
    school_uai   TEXT NOT NULL,
    class_name   TEXT NOT NULL DEFAULT '',
    level        TEXT NOT NULL DEFAULT '',
    departed_at  TEXT,
    updated_at   TEXT NOT NULL
);

CREATE TABLE local_accounts (
    person_id     TEXT PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    changed_at    TEXT NOT NULL
);

CREATE TABLE groups (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('class', 'group')),
    school_uai TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('local', 'ldap'))
);

CREATE TABLE memberships (
    group_id  TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, person_id)
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    person_id   TEXT NOT NULL,
    role        TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    expires_at  REAL NOT NULL,
    idle_limit  REAL NOT NULL,
    revoked_at  REAL
);
CREATE INDEX sessions_person ON sessions (person_id);

CREATE TABLE known_devices (
    token_hash TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    source  TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at);

CREATE TABLE change_log (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    at    REAL NOT NULL
);

CREATE TABLE service_health (
    service    TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    pid        INTEGER NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
