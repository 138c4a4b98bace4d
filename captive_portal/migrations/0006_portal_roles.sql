-- Per-role portal rules changed in the admin UI, over preau.toml's (issue #4 scope 10).
CREATE TABLE portal_role_settings (
    role       TEXT PRIMARY KEY,
    settings   TEXT NOT NULL,  -- JSON: only the keys changed in the UI
    updated_by TEXT NOT NULL,
    updated_at REAL NOT NULL
);
