-- Which classes a teacher teaches (issue #13, CARMO #9.2, #9.17). A teacher
-- acts on these only: their internet controls, their class areas, the work
-- handed in. The links come from the directory (its teachers' groups or
-- attribute), the STS-Web timetable export, or the referent's own edits;
-- each source replaces only its own rows.
CREATE TABLE teaching (
    person_id  TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    school_uai TEXT NOT NULL,
    class_name TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('ldap', 'sts', 'local')),
    PRIMARY KEY (person_id, school_uai, class_name, source)
);
CREATE INDEX teaching_by_class ON teaching (school_uai, class_name);
