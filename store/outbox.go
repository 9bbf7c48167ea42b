package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-id/tandem"
)

var (
	_ tandem.OutboxStore        = (*DB)(nil)
	_ tandem.WebhookSecretStore = (*DB)(nil)
)

// How the outbox is stored.
//
// An item is one row of outbox, with the workspace's row id; Commit inserts
// it as pending with no attempts, in the transaction of the change it
// reports. ClaimDue leases due items by moving their next_attempt_at to the
// end of the lease and counting the attempt, in one write transaction, so
// that of two dispatchers (even in two processes on one file) only one gets
// an item until its lease is over. MarkFailed and MarkDead change only
// pending items, so a late answer of a dispatcher whose item was finished
// meanwhile changes nothing. Delivered items are kept outboxRetention after
// their delivery; ClaimDue deletes up to outboxSweep older ones each time.
// Dead items are kept until they are redelivered or their workspace is
// deleted.
//
// Webhook secrets are rows of webhook_secrets, kept byte for byte as given
// (in clear or encrypted by the caller: HMAC needs the secret itself), with
// the same rotation rule as client secrets (see PutSecret).
//
// An item's Bearer (the sealed token of a CIBA notification) is kept byte
// for byte; an empty one is stored as NULL and comes back nil.

// outboxRetention is how long a delivered item is kept.
const outboxRetention = 7 * 24 * time.Hour

// outboxSweep is the most delivered items one ClaimDue deletes.
const outboxSweep = 100

// maxDeadListed is the most dead items ListDead returns.
const maxDeadListed = 1000

// outboxColumns are the columns read for an item, in the order of
// scanOutbox.
const outboxColumns = `o.id, o.kind, w.name, o.application, o.verification_id, o.url, o.payload, o.bearer, o.status,
	o.attempts, o.next_attempt_at, o.last_error, o.created_at, o.delivered_at`

func scanOutbox(row interface{ Scan(...any) error }) (tandem.OutboxItem, error) {
	var it tandem.OutboxItem
	var next, created int64
	var delivered sql.NullInt64
	err := row.Scan(&it.ID, &it.Kind, &it.Workspace, &it.Application, &it.VerificationID, &it.URL, &it.Payload,
		&it.Bearer, &it.Status, &it.Attempts, &next, &it.LastError, &created, &delivered)
	if err != nil {
		return it, err
	}
	it.NextAttemptAt, it.CreatedAt, it.DeliveredAt = fromMillis(next), fromMillis(created), fromNullMillis(delivered)
	if it.Payload == nil {
		it.Payload = []byte{}
	}
	return it, nil
}

// prepareOutbox checks the items of a Commit and completes their times: a
// zero CreatedAt is now, a zero NextAttemptAt is CreatedAt. Errors:
// EINVALID when an item has no ID, Kind, Workspace, URL or Payload.
func prepareOutbox(items []tandem.OutboxItem, now time.Time) ([]tandem.OutboxItem, error) {
	out := make([]tandem.OutboxItem, len(items))
	for i, it := range items {
		if it.ID == "" || it.Kind == "" || it.Workspace == "" || it.URL == "" || len(it.Payload) == 0 {
			return nil, tandem.Errorf(tandem.EINVALID, "outbox item %d needs an id, a kind, a workspace, a URL and a payload", i)
		}
		if it.CreatedAt.IsZero() {
			it.CreatedAt = now
		}
		if it.NextAttemptAt.IsZero() {
			it.NextAttemptAt = it.CreatedAt
		}
		out[i] = it
	}
	return out, nil
}

// insertOutbox writes items as pending, with no attempts. ECONFLICT when an
// item's id exists; ENOTFOUND when its workspace does not. workspaces caches
// workspace ids by name.
func insertOutbox(ctx context.Context, tx *sql.Tx, items []tandem.OutboxItem, workspaces map[string]string) error {
	for _, it := range items {
		wsID, err := workspaceID(ctx, tx, it.Workspace, workspaces)
		if err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO outbox (id, kind, workspace_id, application, verification_id, url,
			payload, bearer, status, attempts, next_attempt_at, last_error, created_at, delivered_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, '', $10, NULL) ON CONFLICT DO NOTHING`,
			it.ID, it.Kind, wsID, it.Application, it.VerificationID, it.URL, it.Payload, nullBytes(it.Bearer),
			millis(it.NextAttemptAt), millis(it.CreatedAt))
		if err := oneRow(r, err); err == errNoRow {
			return tandem.Errorf(tandem.ECONFLICT, "outbox item %s already exists", it.ID)
		} else if err != nil {
			return fmt.Errorf("insert outbox item: %w", err)
		}
	}
	return nil
}

// ClaimDue leases up to limit pending items whose next attempt is at or
// before now, the longest due first (ties by id), in one write transaction:
// each gets one more attempt and a next attempt at now+lease. The items
// come back as stored after the claim. It also deletes up to outboxSweep
// items delivered more than outboxRetention before now. A limit of zero or
// less claims none. The list is empty, not nil, when none is due.
//
// The claim relies on the write transaction being exclusive, as it is on
// SQLite (BEGIN IMMEDIATE); on PostgreSQL the SELECT will need FOR UPDATE
// SKIP LOCKED so that concurrent claims do not pick the same items.
func (db *DB) ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]tandem.OutboxItem, error) {
	items := []tandem.OutboxItem{}
	if limit <= 0 {
		return items, nil
	}
	until := millis(now.Add(lease))
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
			WHERE status = 'delivered' AND delivered_at < $1 ORDER BY delivered_at LIMIT $2)`,
			millis(now.Add(-outboxRetention)), outboxSweep); err != nil {
			return fmt.Errorf("delete delivered items: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+outboxColumns+`
			FROM outbox o JOIN workspaces w ON w.id = o.workspace_id
			WHERE o.status = 'pending' AND o.next_attempt_at <= $1
			ORDER BY o.next_attempt_at, o.id LIMIT $2`, millis(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			it, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		for i := range items {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2
				WHERE id = $1`, items[i].ID, until); err != nil {
				return err
			}
			items[i].Attempts++
			items[i].NextAttemptAt = fromMillis(until)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim due outbox items: %w", err)
	}
	return items, nil
}

// MarkDelivered records that the item id was delivered at at. An item
// already delivered keeps its first delivery time; a dead one becomes
// delivered (a late success counts). ENOTFOUND when there is no such item.
func (db *DB) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	return db.markOutbox(ctx, id, `UPDATE outbox SET status = 'delivered', delivered_at = $2
		WHERE id = $1 AND status <> 'delivered'`, millis(at))
}

// MarkFailed records a failed attempt of the pending item id: its last
// error and its next attempt. An item that is no longer pending is left as
// it is. ENOTFOUND when there is no such item.
func (db *DB) MarkFailed(ctx context.Context, id, lastError string, next time.Time) error {
	return db.markOutbox(ctx, id, `UPDATE outbox SET last_error = $2, next_attempt_at = $3
		WHERE id = $1 AND status = 'pending'`, lastError, millis(next))
}

// MarkDead gives up on the pending item id with its last error. An item
// that is no longer pending is left as it is. ENOTFOUND when there is no
// such item.
func (db *DB) MarkDead(ctx context.Context, id, lastError string) error {
	return db.markOutbox(ctx, id, `UPDATE outbox SET status = 'dead', last_error = $2
		WHERE id = $1 AND status = 'pending'`, lastError)
}

// markOutbox runs the update query (whose $1 is the id) and returns
// ENOTFOUND when it changed nothing because there is no such item.
func (db *DB) markOutbox(ctx context.Context, id, query string, args ...any) error {
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, query, append([]any{id}, args...)...)
		if err := oneRow(r, err); err != errNoRow {
			return err
		}
		if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM outbox WHERE id = $1`, id); err != nil {
			return err
		} else if !ok {
			return tandem.Errorf(tandem.ENOTFOUND, "outbox item %s not found", id)
		}
		return nil
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("update outbox item %s: %w", id, err)
	}
	return nil
}

// ListDead returns up to 1000 dead items of the named workspace, newest
// first (ties by id). The list is empty, not nil, when there are none, also
// when the workspace does not exist.
func (db *DB) ListDead(ctx context.Context, workspace string) ([]tandem.OutboxItem, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+outboxColumns+`
		FROM outbox o JOIN workspaces w ON w.id = o.workspace_id
		WHERE w.name = $1 AND o.status = 'dead'
		ORDER BY o.created_at DESC, o.id LIMIT $2`, workspace, maxDeadListed)
	if err != nil {
		return nil, fmt.Errorf("list dead items of %s: %w", workspace, err)
	}
	defer rows.Close()
	out := []tandem.OutboxItem{}
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("list dead items of %s: %w", workspace, err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list dead items of %s: %w", workspace, err)
	}
	return out, nil
}

// Redeliver makes the dead item id of the named workspace pending again:
// no attempts, no last error, due at now, and sent to url when url is not
// empty. It returns the item as stored. Errors: ENOTFOUND when the
// workspace has no such item; ECONFLICT when the item is not dead.
func (db *DB) Redeliver(ctx context.Context, workspace, id, url string, now time.Time) (*tandem.OutboxItem, error) {
	var it tandem.OutboxItem
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		it, err = scanOutbox(tx.QueryRowContext(ctx, `SELECT `+outboxColumns+`
			FROM outbox o JOIN workspaces w ON w.id = o.workspace_id
			WHERE w.name = $1 AND o.id = $2`, workspace, id))
		if errors.Is(err, sql.ErrNoRows) {
			return tandem.Errorf(tandem.ENOTFOUND, "webhook delivery %q not found in workspace %q", id, workspace)
		} else if err != nil {
			return err
		}
		if it.Status != tandem.OutboxDead {
			return tandem.Errorf(tandem.ECONFLICT, "webhook delivery %q is %s; only dead deliveries can be redelivered", id, it.Status)
		}
		if url != "" {
			it.URL = url
		}
		it.Status, it.Attempts, it.LastError, it.NextAttemptAt = tandem.OutboxPending, 0, "", fromMillis(millis(now))
		_, err = tx.ExecContext(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, last_error = '',
			next_attempt_at = $2, url = $3 WHERE id = $1`, id, millis(now), it.URL)
		return err
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("redeliver %s: %w", id, err)
	}
	return &it, nil
}

// PutWebhookSecret stores secret, byte for byte, as the new webhook secret of the
// application appID, valid from now and without end, in one write
// transaction. Earlier secrets that would still be valid after graceUntil
// stop being valid at graceUntil; secrets that expired at or before now are
// deleted. Errors: EINVALID when secret is empty; ENOTFOUND when there is
// no such application (nothing changes then).
func (db *DB) PutWebhookSecret(ctx context.Context, appID string, secret []byte, now, graceUntil time.Time) error {
	if len(secret) == 0 {
		return tandem.Errorf(tandem.EINVALID, "webhook secret is required")
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM applications WHERE id = $1`, appID); err != nil {
			return err
		} else if !ok {
			return tandem.Errorf(tandem.ENOTFOUND, "application %s not found", appID)
		}
		nowMs, graceMs := millis(now), millis(graceUntil)
		if _, err := tx.ExecContext(ctx, `DELETE FROM webhook_secrets
			WHERE application_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2`, appID, nowMs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_secrets SET expires_at = $1
			WHERE application_id = $2 AND (expires_at IS NULL OR expires_at > $1)`, graceMs, appID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_secrets (id, application_id, secret, created_at, expires_at)
			VALUES ($1, $2, $3, $4, NULL)`, newID(), appID, secret, nowMs)
		return err
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("put webhook secret of application %s: %w", appID, err)
	}
	return nil
}

// WebhookSecrets returns the webhook secrets of the named application of a
// workspace that are valid at now (without expiry, or expiring after now),
// newest first. The list is empty, not nil, when there are none, also when
// the application does not exist.
func (db *DB) WebhookSecrets(ctx context.Context, workspace, app string, now time.Time) ([][]byte, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT s.secret FROM webhook_secrets s
		JOIN applications a ON a.id = s.application_id
		JOIN workspaces w ON w.id = a.workspace_id
		WHERE w.name = $1 AND a.name = $2 AND (s.expires_at IS NULL OR s.expires_at > $3)
		ORDER BY s.created_at DESC, s.id`, workspace, app, millis(now))
	if err != nil {
		return nil, fmt.Errorf("webhook secrets of %s/%s: %w", workspace, app, err)
	}
	defer rows.Close()
	out := [][]byte{}
	for rows.Next() {
		var s []byte
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("webhook secrets of %s/%s: %w", workspace, app, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook secrets of %s/%s: %w", workspace, app, err)
	}
	return out, nil
}
