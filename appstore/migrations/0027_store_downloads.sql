-- How many times each package was fetched from its start (an install begun on a
-- device): the site report's installs per app (#6.4, issue #14). A count, no device.
CREATE TABLE store_downloads (
    package_id INTEGER PRIMARY KEY REFERENCES store_packages (id) ON DELETE CASCADE,
    count      INTEGER NOT NULL DEFAULT 0
);
