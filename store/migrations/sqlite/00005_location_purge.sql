-- Purging raw coordinates after a workspace's location retention time, and
-- the workspace settings that set it. Times are Unix milliseconds; documents
-- are JSON text. Keep this file and
-- migrations/postgres/00005_location_purge.sql equivalent.

-- +goose Up

-- A workspace's own settings: a JSON object, {} for none.
ALTER TABLE workspaces ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

-- When the raw coordinates of the browser's location (web.location, not
-- purged) were recorded; NULL when the verification holds none. Only rows
-- that still hold coordinates are indexed, so the purge sweep reads few
-- rows. Verifications stored before this migration that hold coordinates
-- get their updated_at.
ALTER TABLE verifications ADD COLUMN location_at INTEGER;

UPDATE verifications SET location_at = updated_at
    WHERE json_type(web, '$.location') = 'object'
    AND coalesce(json_extract(web, '$.location.purged'), 0) = 0;

CREATE INDEX verifications_location ON verifications (workspace_id, location_at)
    WHERE location_at IS NOT NULL;

-- +goose Down
DROP INDEX verifications_location;
ALTER TABLE verifications DROP COLUMN location_at;
ALTER TABLE workspaces DROP COLUMN settings;
