-- The keys each workspace signs its result tokens with (ES256). Times are
-- Unix milliseconds. Keep this file and
-- migrations/sqlite/00006_signing_keys.sql equivalent.

-- +goose Up

-- One row per key. kid is the RFC 7638 thumbprint of the public key;
-- public_jwk is the public key as a JSON Web Key; private_enc is the private
-- key encrypted with AES-256-GCM under a key derived from the operator's
-- secret (never stored in the clear). retire_at is NULL for the active key,
-- the one that signs, and otherwise the time the key leaves the published
-- key set. Deleting the workspace deletes its keys.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    alg          TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    private_enc  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    retire_at    BIGINT
);

-- At most one active key per workspace: of two concurrent first uses, one
-- insert wins and the other finds the key it lost to.
CREATE UNIQUE INDEX signing_keys_active ON signing_keys (workspace_id)
    WHERE retire_at IS NULL;

-- The published keys of a workspace, newest first; also serves the cascade
-- from workspaces.
CREATE INDEX signing_keys_workspace ON signing_keys (workspace_id, created_at);

-- +goose Down
DROP TABLE signing_keys;
