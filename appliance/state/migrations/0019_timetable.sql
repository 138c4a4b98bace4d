-- Teachers' lessons, dated (issue #13 scope 2): from an iCalendar export
-- (EDT, Pronote, WebUntis), the STS-Web timetable or the weekly grid. The
-- teacher's page opens on the class of the lesson under way, and a control
-- ends with it. Each import replaces one teacher's lessons from one source.
CREATE TABLE timetable (
    id         INTEGER PRIMARY KEY,
    person_id  TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    class_name TEXT NOT NULL,
    starts_at  REAL NOT NULL,
    ends_at    REAL NOT NULL,
    room       TEXT NOT NULL DEFAULT '',
    source     TEXT NOT NULL CHECK (source IN ('ics', 'sts', 'grid'))
);
CREATE INDEX timetable_by_teacher ON timetable (person_id, starts_at);
