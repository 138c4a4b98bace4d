-- Who may end an override (issue #13): a teacher ends a teacher's control on
-- one of their classes, never one the referent set. The role it was set
-- with is kept; an override from before this knew no role: the referent's.
ALTER TABLE filter_overrides ADD COLUMN created_role TEXT NOT NULL DEFAULT 'referent';
