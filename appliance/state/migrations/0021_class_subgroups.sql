-- Virtual groups inside a class (issue #13 scope 6, CARMO #9.9): "Groupe A",
-- "Tiers-temps", "Îlot 3". A teacher of the class (or the referent) makes
-- them from the class's pupils; every control, hand-out and assignment can
-- target one instead of the whole class. A pupil who leaves the class or
-- the school leaves its groups (the directory sync and the checks here).
CREATE TABLE class_subgroups (
    id         INTEGER PRIMARY KEY,
    class_name TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (class_name, name)
);
CREATE TABLE class_subgroup_members (
    subgroup_id INTEGER NOT NULL REFERENCES class_subgroups (id) ON DELETE CASCADE,
    person_id   TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    PRIMARY KEY (subgroup_id, person_id)
);
CREATE INDEX class_subgroup_members_person ON class_subgroup_members (person_id);
