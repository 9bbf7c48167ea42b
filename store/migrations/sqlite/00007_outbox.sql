-- The transactional outbox (webhook deliveries) and the secrets that sign
-- webhooks. Times are Unix milliseconds. Keep this file and
-- migrations/postgres/00007_outbox.sql equivalent. (Version 00006 belongs to
-- the signed result tokens.)

-- +goose Up

-- One row per message to deliver, written in the transaction of the change
-- it reports. id is "msg_" + 128 random bits (the webhook-id, the same on
-- every attempt); payload is the body, sent byte for byte. status is
-- pending, delivered or dead. A claimed item has next_attempt_at moved to
-- the end of its lease, so that two dispatchers never send it at once.
-- verification_id and application have no foreign key: the message
-- outlives them; deleting the workspace deletes its messages.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    application     TEXT NOT NULL,
    verification_id TEXT NOT NULL,
    url             TEXT NOT NULL,
    payload         BLOB NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
) STRICT;

-- The dispatcher's claim: due pending items, the longest due first.
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
-- A workspace's dead items, newest first; also serves the cascade from
-- workspaces.
CREATE INDEX outbox_workspace ON outbox (workspace_id, status, created_at);
-- The clean-up of delivered items.
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE status = 'delivered';

-- The secrets that sign an application's webhooks ("whsec_" + base64 of 32
-- random bytes). HMAC needs the secret itself, so unlike client secrets it
-- is not hashed: secret holds it in clear, or encrypted with a key derived
-- from the operator's secret key when the server has one. A rotated secret
-- gets an expires_at (the end of its grace period); the current one has
-- none.
CREATE TABLE webhook_secrets (
    id             TEXT PRIMARY KEY,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    secret         BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER
) STRICT;

CREATE INDEX webhook_secrets_application_id ON webhook_secrets (application_id);

-- +goose Down
DROP TABLE webhook_secrets;
DROP TABLE outbox;
