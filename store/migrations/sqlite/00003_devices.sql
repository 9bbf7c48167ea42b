-- Devices (phones and the command-line authenticator), their pairing tokens,
-- challenges and push inboxes, and what a verification keeps of the hand-over
-- to a device. Times are Unix milliseconds; documents are JSON text. Keep this
-- file and migrations/postgres/00003_devices.sql equivalent.

-- +goose Up

-- side is "web" or "device"; grp is the index of the web_to_device step that
-- hands a device step over (-1 for none); state is the module's private
-- state of the step, or NULL. Steps stored before this migration become web
-- steps of no group.
ALTER TABLE verification_steps ADD COLUMN side TEXT NOT NULL DEFAULT 'web';
ALTER TABLE verification_steps ADD COLUMN grp INTEGER NOT NULL DEFAULT -1;
ALTER TABLE verification_steps ADD COLUMN state BLOB;

-- The device that paired for the hand-over: a JSON object, {} for none.
ALTER TABLE verifications ADD COLUMN device TEXT NOT NULL DEFAULT '{}';

-- One row per device key. cred_id is random and assigned at the first
-- pairing; public_key is the JWK as JSON text and thumbprint its RFC 7638
-- thumbprint, unique in a workspace. Deleting the workspace deletes its
-- devices.
CREATE TABLE devices (
    cred_id      TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    platform     TEXT NOT NULL,
    public_key   TEXT NOT NULL,  -- JSON Web Key
    thumbprint   TEXT NOT NULL,
    state        TEXT NOT NULL,  -- pending, active or revoked
    push_type    TEXT NOT NULL,
    push_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_seen_at INTEGER,
    revoked_at   INTEGER,
    UNIQUE (workspace_id, thumbprint)
) STRICT;

-- The devices of a user, and the revocation of a user's other devices.
CREATE INDEX devices_user ON devices (workspace_id, user_id);

-- Single-use pairing tokens, by the SHA-256 of the token. A used token keeps
-- its row (used_at set) until its verification is deleted.
CREATE TABLE pairings (
    hash            BLOB PRIMARY KEY,
    verification_id TEXT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    step            INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
) STRICT;

-- Serves the cascade from verifications.
CREATE INDEX pairings_verification_id ON pairings (verification_id);

-- Single-use nonces a device signs. No foreign keys: a challenge may be
-- issued to a device that is not stored yet, and rows are deleted some time
-- after they expire.
CREATE TABLE challenges (
    value           TEXT PRIMARY KEY,
    cred_id         TEXT NOT NULL,
    verification_id TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
) STRICT;

-- The clean-up of expired challenges.
CREATE INDEX challenges_expires_at ON challenges (expires_at);

-- Push-mode prompts waiting for a device. AUTOINCREMENT keeps ids
-- increasing even after deletions.
CREATE TABLE inbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    cred_id         TEXT NOT NULL REFERENCES devices (cred_id) ON DELETE CASCADE,
    verification_id TEXT NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    step            INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
) STRICT;

-- A device's unexpired items.
CREATE INDEX inbox_cred_id ON inbox (cred_id, expires_at);
-- Withdrawing the items of a verification, and the cascade from
-- verifications.
CREATE INDEX inbox_verification_id ON inbox (verification_id);

-- +goose Down
DROP TABLE inbox;
DROP TABLE challenges;
DROP TABLE pairings;
DROP TABLE devices;
ALTER TABLE verifications DROP COLUMN device;
ALTER TABLE verification_steps DROP COLUMN state;
ALTER TABLE verification_steps DROP COLUMN grp;
ALTER TABLE verification_steps DROP COLUMN side;
