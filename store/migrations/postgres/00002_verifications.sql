-- Verifications, their steps, and the audit log. Times are Unix milliseconds;
-- documents are JSON text (TEXT rather than JSONB, so that they come back
-- byte for byte). Keep this file and migrations/sqlite/00002_verifications.sql
-- equivalent.

-- +goose Up

-- One run of an application's workflow for one user. app_id, application,
-- workflow and modules are a snapshot taken at creation: app_id has no
-- foreign key, so that the history of a verification survives the removal
-- of its application; deleting the workspace deletes its verifications.
CREATE TABLE verifications (
    id               TEXT PRIMARY KEY,
    workspace_id     TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    app_id           TEXT NOT NULL,
    application      TEXT NOT NULL,
    workflow         TEXT NOT NULL,
    modules          TEXT NOT NULL,  -- JSON array of module instances
    user_id          TEXT NOT NULL,
    allow_new_device BOOLEAN NOT NULL,
    metadata         TEXT NOT NULL,  -- JSON object, or null
    redirect_url     TEXT NOT NULL,
    web              TEXT NOT NULL,  -- JSON object
    status           TEXT NOT NULL,
    claims           TEXT NOT NULL,  -- JSON object, or null
    reason           TEXT NOT NULL,
    link_hash        BYTEA NOT NULL UNIQUE,
    browser_hash     BYTEA,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    version          BIGINT NOT NULL
);

-- The expiry sweep: only verifications that can still expire are indexed,
-- in the order the sweep takes them. The status list must stay literal (and
-- identical in the sweep's query) for the planner to use the index.
CREATE INDEX verifications_expiry ON verifications (expires_at, id)
    WHERE status IN ('pending', 'in_progress');

-- Per-user queries, newest first; also serves the workspace cascade.
CREATE INDEX verifications_user ON verifications (workspace_id, user_id, created_at);

-- One row per module of the snapshot, idx being its position.
CREATE TABLE verification_steps (
    verification_id TEXT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,
    type            TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    status          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    started_at      BIGINT,
    finished_at     BIGINT,
    PRIMARY KEY (verification_id, idx)
);

-- Transitions and refusals. No foreign keys: refusals are recorded for
-- requests that created no verification (verification_id NULL) or name an
-- unknown one, and the log outlives what it describes. Ids increase in
-- insertion order.
CREATE TABLE audit_events (
    id              BIGSERIAL PRIMARY KEY,
    workspace       TEXT NOT NULL,
    verification_id TEXT,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    detail          TEXT,            -- JSON, or NULL
    addr            TEXT NOT NULL,
    at              BIGINT NOT NULL
);

CREATE INDEX audit_events_verification_id ON audit_events (verification_id);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE verification_steps;
DROP TABLE verifications;
