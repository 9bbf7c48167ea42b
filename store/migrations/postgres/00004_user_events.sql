-- The per-user history that push and prompt limits are computed from:
-- failed prompts, "this wasn't me" answers, pushes and answered pushes. Times
-- are Unix milliseconds. Keep this file and
-- migrations/sqlite/00004_user_events.sql equivalent.

-- +goose Up

-- One row per event. verification_id has no foreign key, so that a user's
-- history outlives the verification it came from; deleting the workspace
-- deletes its events. Rows older than a day are deleted as new events of the
-- workspace are written. Ids increase in insertion order.
CREATE TABLE user_events (
    id              BIGSERIAL PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    verification_id TEXT,
    at              BIGINT NOT NULL
);

-- Counting a user's events of a kind since a time (covering); also serves
-- the cascade from workspaces.
CREATE INDEX user_events_user ON user_events (workspace_id, user_id, kind, at);
-- The clean-up of a workspace's old events, oldest first.
CREATE INDEX user_events_at ON user_events (workspace_id, at);

-- +goose Down
DROP TABLE user_events;
