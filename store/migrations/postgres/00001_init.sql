-- The first schema of Tandem. Times are Unix milliseconds; documents are JSON
-- text. Keep this file and migrations/sqlite/00001_init.sql equivalent.

-- +goose Up
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE workspaces (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE applications (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    client_id    TEXT UNIQUE,
    doc          TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE workflows (
    id           TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    doc          TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE app_secrets (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    secret_hash    BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT
);

CREATE INDEX app_secrets_application_id ON app_secrets (application_id);

-- +goose Down
DROP TABLE app_secrets;
DROP TABLE workflows;
DROP TABLE applications;
DROP TABLE workspaces;
DROP TABLE settings;
