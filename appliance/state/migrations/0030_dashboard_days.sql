-- The dashboard's figures that are states rather than counts (space used,
-- requests waiting), noted once a night so their 30-day charts fill in
-- (issue #16, scope 1). A row a figure a local day; never a person.
CREATE TABLE dashboard_days (
    day   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (key, day)
) WITHOUT ROWID;
