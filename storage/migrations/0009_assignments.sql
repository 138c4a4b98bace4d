-- Class areas (issue #5 scope 1): a Distribution folder per class (teachers to
-- pupils, #9.1) and assignments whose Rendus pupils hand in (#9.17).
CREATE TABLE assignments (
    id         INTEGER PRIMARY KEY,
    class_name TEXT NOT NULL,
    title      TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    due_at     REAL
);
CREATE INDEX assignments_class ON assignments (class_name);
