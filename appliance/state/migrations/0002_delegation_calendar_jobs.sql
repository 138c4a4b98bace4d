-- Per-school role delegation (#5.25), extra closed days (#5.22) and job state
-- so that missed runs catch up and interrupted jobs resume (#7.21, #11.12).
CREATE TABLE role_grants (
    person_id  TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('teacher', 'staff', 'referent')),
    school_uai TEXT NOT NULL,
    granted_by TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (person_id, role, school_uai)
);

CREATE TABLE closed_days (
    day        TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE job_runs (
    job_id       TEXT PRIMARY KEY,
    last_started TEXT,
    last_success TEXT,
    last_error   TEXT NOT NULL DEFAULT '',
    checkpoint   TEXT NOT NULL DEFAULT ''
);

CREATE TABLE job_schedule (
    job_id      TEXT PRIMARY KEY,
    next_run    TEXT,
    computed_at TEXT NOT NULL
);
