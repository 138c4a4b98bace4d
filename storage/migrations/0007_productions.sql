-- Productions storage (issue #5): PERSONNEL keys sealed by the password and by a
-- recovery code (never the key itself), and what each space takes on disk (the
-- capacity an administrator manages without seeing the content, #7.30, #7.31).
CREATE TABLE personnel_keys (
    user        TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    by_password TEXT NOT NULL,
    by_recovery TEXT,
    created_at  REAL NOT NULL,
    sealed_at   REAL NOT NULL
);

CREATE TABLE storage_usage (
    user       TEXT NOT NULL,
    space      TEXT NOT NULL CHECK (space IN ('pedagogical', 'personnel')),
    bytes      INTEGER NOT NULL,
    files      INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (user, space)
);
