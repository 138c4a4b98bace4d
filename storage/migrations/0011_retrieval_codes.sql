-- People who left take their work away (#8.21): the referent prints a code that
-- opens a download of their spaces until the grace period ends. Only a hash is kept.
CREATE TABLE retrieval_codes (
    code_hash  TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
