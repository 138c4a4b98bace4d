-- An assignment may be for one virtual group of its class (issue #13 scope 6,
-- CARMO #9.9): only its pupils see it and hand in. No foreign key: a deleted
-- group leaves its assignments (and the work handed in) to the teachers, with
-- nobody left to hand in.
ALTER TABLE assignments ADD COLUMN subgroup_id INTEGER;
