-- The school's private app store (#6.4, #7.36, #7.37, #7.38): packages the school
-- bought or made (APK, IPA, MSI…), stored by SHA-256, and who may install them.
CREATE TABLE store_packages (
    id           INTEGER PRIMARY KEY,
    platform     TEXT NOT NULL,
    name         TEXT NOT NULL,
    package_id   TEXT NOT NULL,
    version_name TEXT NOT NULL,
    version_code INTEGER NOT NULL DEFAULT 0,
    filename     TEXT NOT NULL,
    size         INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    certificates TEXT NOT NULL DEFAULT '[]',
    description  TEXT NOT NULL DEFAULT '',
    mdm_token    TEXT NOT NULL UNIQUE,
    uploaded_by  TEXT NOT NULL,
    uploaded_at  REAL NOT NULL
);

-- kind: school (everyone), role (pupil, teacher, staff), class, group, person.
CREATE TABLE store_assignments (
    package_id INTEGER NOT NULL REFERENCES store_packages (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (package_id, kind, target)
) WITHOUT ROWID;
