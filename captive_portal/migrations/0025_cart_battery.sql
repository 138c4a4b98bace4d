-- A cart device's battery, as an MDM reports it (issue #13 scope 5, CARMO
-- #9.7): only devices of the configured carts (school equipment, no person),
-- the last report only; shown on the teacher's page while it is recent.
CREATE TABLE portal_cart_reports (
    mac         TEXT PRIMARY KEY,
    battery     INTEGER NOT NULL CHECK (battery BETWEEN 0 AND 100),
    reported_at REAL NOT NULL
);
