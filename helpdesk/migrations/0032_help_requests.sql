-- Requests for help (issue #16, scope 2; CARMO #10.5). A person asks, the
-- referent answers; the asker reads the answer on the help page. The text is
-- the asker's own words; only the account id identifies them (CARMO table 9),
-- and a request is erased a year after it was closed.
CREATE TABLE help_requests (
    id          INTEGER PRIMARY KEY,
    person_id   TEXT NOT NULL,
    role        TEXT NOT NULL,
    topic       TEXT NOT NULL,
    message     TEXT NOT NULL,
    from_page   TEXT NOT NULL DEFAULT '',
    created_at  REAL NOT NULL,
    answer      TEXT NOT NULL DEFAULT '',
    answered_by TEXT NOT NULL DEFAULT '',
    answered_at REAL,
    closed_at   REAL,
    -- When the referent sent it on to the collectivité's central team.
    forwarded_at REAL
);
CREATE INDEX help_requests_person ON help_requests (person_id, created_at);
CREATE INDEX help_requests_open ON help_requests (closed_at, created_at);
