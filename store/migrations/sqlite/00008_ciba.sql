-- OpenID CIBA (Client-Initiated Backchannel Authentication): the requests
-- clients made and the bearer token of CIBA notifications in the outbox.
-- Times are Unix milliseconds. Keep this file and
-- migrations/postgres/00008_ciba.sql equivalent.

-- +goose Up

-- One row per backchannel authentication request, for one verification.
-- id_hash is the SHA-256 of the auth_req_id (never stored in clear, except
-- sealed in auth_req_id_enc for ping and push, whose notifications carry
-- it). notification_token is the client_notification_token, sealed with a
-- key derived from the operator's secret key (or in clear, behind a zero
-- byte, when the server has none); both are NULL in poll mode.
-- delivery_mode and notification_endpoint are the application's when the
-- request was made. interval_s grows by 5 with every poll that comes too
-- early. consumed_at is set once, when the tokens are issued (or pushed);
-- access_hash is the SHA-256 of the access token issued then. app_id has
-- no foreign key, as for verifications; deleting the verification (or its
-- workspace) deletes the request.
CREATE TABLE ciba_requests (
    id_hash               BLOB PRIMARY KEY,
    workspace_id          TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    app_id                TEXT NOT NULL,
    application           TEXT NOT NULL,
    client_id             TEXT NOT NULL,
    verification_id       TEXT NOT NULL UNIQUE REFERENCES verifications (id) ON DELETE CASCADE,
    delivery_mode         TEXT NOT NULL,
    notification_endpoint TEXT NOT NULL,
    notification_token    BLOB,
    auth_req_id_enc       BLOB,
    interval_s            INTEGER NOT NULL,
    last_poll_at          INTEGER,
    expires_at            INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    consumed_at           INTEGER,
    access_hash           BLOB UNIQUE,
    access_expires_at     INTEGER
) STRICT;

-- The cascade from workspaces.
CREATE INDEX ciba_requests_workspace ON ciba_requests (workspace_id);

-- The bearer token a CIBA notification is sent with (sealed like
-- notification_token); NULL for webhooks, which are signed.
ALTER TABLE outbox ADD COLUMN bearer BLOB;

-- +goose Down
ALTER TABLE outbox DROP COLUMN bearer;
DROP TABLE ciba_requests;
