-- What features send up to the collectivité's central team, besides the site
-- reports (issue #16 scope 2: help requests the referent forwards). The sync
-- service sends the rows oldest first and deletes each once the centre has
-- acknowledged it. A row is what its sender chose to send: never a person's
-- identifier (ground rule 6).
CREATE TABLE central_outbox (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at REAL NOT NULL
);
