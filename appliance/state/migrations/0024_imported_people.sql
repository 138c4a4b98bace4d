-- People from the national files where no LDAP exists (issue #13 scope 1):
-- the AAF's XML or SIECLE's CSV become local accounts. Which accounts came
-- from which file is kept, so a new import marks departed only those it no
-- longer lists, never an account the referent made by hand. Their teachers'
-- classes are the 'aaf' source of the teaching links (SQLite cannot change a
-- CHECK constraint: the table is rebuilt with its rows, in one transaction).
CREATE TABLE imported_people (
    person_id   TEXT PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    source      TEXT NOT NULL CHECK (source IN ('aaf', 'siecle')),
    imported_at REAL NOT NULL
);
CREATE TABLE teaching_new (
    person_id  TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    school_uai TEXT NOT NULL,
    class_name TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('ldap', 'sts', 'local', 'aaf')),
    PRIMARY KEY (person_id, school_uai, class_name, source)
);
INSERT INTO teaching_new (person_id, school_uai, class_name, source)
    SELECT person_id, school_uai, class_name, source FROM teaching;
DROP TABLE teaching;
ALTER TABLE teaching_new RENAME TO teaching;
CREATE INDEX teaching_by_class ON teaching (school_uai, class_name);
