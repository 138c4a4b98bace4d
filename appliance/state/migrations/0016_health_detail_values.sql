-- A service's health detail is a message id of the catalogues (French) and the
-- values it names, so the dashboard shows it in the reader's language (#12).
ALTER TABLE service_health ADD COLUMN detail_values TEXT NOT NULL DEFAULT '{}';
