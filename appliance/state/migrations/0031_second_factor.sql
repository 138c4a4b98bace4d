-- A second factor for the people who run the box (issue #16, scope 9).
-- The shared secret has to be read back to check a code, so it is kept as
-- the authenticator app has it; the state DB is readable by root only.
-- confirmed_at stays NULL until a first code proved the app has the secret:
-- only then does login ask for a code. last_step refuses a code's replay.
CREATE TABLE second_factors (
    person_id    TEXT PRIMARY KEY,
    secret       TEXT NOT NULL,
    created_at   REAL NOT NULL,
    confirmed_at REAL,
    last_step    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Ten single-use recovery codes a person, stored as argon2id hashes only.
CREATE TABLE second_factor_recovery (
    person_id TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    used_at   REAL,
    PRIMARY KEY (person_id, code_hash)
) WITHOUT ROWID;

-- Tokens for scripts and the central MDM: a name, a scope, an owner; only
-- the token's SHA-256 is kept. A token opens the API routes of its scope and
-- nothing that manages accounts, second factors or tokens.
CREATE TABLE api_tokens (
    token_hash   TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    person_id    TEXT NOT NULL,
    role         TEXT NOT NULL,
    scope        TEXT NOT NULL,
    created_at   REAL NOT NULL,
    expires_at   REAL NOT NULL,
    last_used_at REAL,
    revoked_at   REAL
) WITHOUT ROWID;
CREATE INDEX api_tokens_person ON api_tokens (person_id);

-- How a session's login was proved beyond the password: '' (none), 'totp'
-- or 'recovery'. A referent required to use a second factor and without one
-- reaches only the page that sets it up.
ALTER TABLE sessions ADD COLUMN second_factor TEXT NOT NULL DEFAULT '';
