-- Uploads held while clamd is down (productions.antivirus.when_clamd_down = "hold"):
-- stored aside, unseen, until a scan lets them in or throws them away (#8.12).
CREATE TABLE held_uploads (
    id            INTEGER PRIMARY KEY,
    owner         TEXT NOT NULL,
    target_folder TEXT NOT NULL,
    target_path   TEXT NOT NULL,
    held_name     TEXT NOT NULL,
    size          INTEGER NOT NULL,
    created_at    REAL NOT NULL
);
