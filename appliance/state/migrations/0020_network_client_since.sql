-- Since when a device is on (issue #13 scope 5, CARMO #9.7): the teacher's
-- page shows which of the class's pupils are connected, and since when;
-- never what they do (#9.18). The portal writes it with the address.
ALTER TABLE network_clients ADD COLUMN since REAL NOT NULL DEFAULT 0;
