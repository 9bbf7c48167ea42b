package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-id/tandem"
)

var _ tandem.CIBAStore = (*DB)(nil)

// How CIBA requests are stored.
//
// A request is one row of ciba_requests, keyed by the hash of its
// auth_req_id, with the verification it started (one request per
// verification). Byte fields are kept byte for byte; empty ones are stored
// as NULL and come back nil. Times are kept to the millisecond and come
// back in UTC; zero LastPollAt, ConsumedAt and AccessExpiresAt are NULL.
// PollCIBA and GrantCIBA each change a request in one write transaction, so
// that of two concurrent polls the second sees the first, and of two
// concurrent grants one wins and the other gets ECONFLICT. Commit applies
// its grants in its own transaction, after the verification's update.

// cibaColumns are the columns read for a request, in the order of scanCIBA.
const cibaColumns = `c.id_hash, w.name, c.app_id, c.application, c.client_id, c.verification_id,
	c.delivery_mode, c.notification_endpoint, c.notification_token, c.auth_req_id_enc, c.interval_s,
	c.last_poll_at, c.expires_at, c.created_at, c.consumed_at, c.access_hash, c.access_expires_at`

func scanCIBA(row interface{ Scan(...any) error }) (*tandem.CIBARequest, error) {
	var r tandem.CIBARequest
	var expires, created int64
	var lastPoll, consumed, accessExpires sql.NullInt64
	err := row.Scan(&r.IDHash, &r.Workspace, &r.AppID, &r.Application, &r.ClientID, &r.VerificationID,
		&r.DeliveryMode, &r.NotificationEndpoint, &r.NotificationToken, &r.AuthReqID, &r.IntervalS,
		&lastPoll, &expires, &created, &consumed, &r.AccessHash, &accessExpires)
	if err != nil {
		return nil, err
	}
	r.LastPollAt, r.ExpiresAt, r.CreatedAt = fromNullMillis(lastPoll), fromMillis(expires), fromMillis(created)
	r.ConsumedAt, r.AccessExpiresAt = fromNullMillis(consumed), fromNullMillis(accessExpires)
	return &r, nil
}

// checkCIBA checks what the store needs of a new request.
func checkCIBA(r *tandem.CIBARequest) error {
	switch {
	case len(r.IDHash) == 0:
		return tandem.Errorf(tandem.EINVALID, "CIBA request has no id hash")
	case r.Workspace == "" || r.AppID == "" || r.Application == "" || r.ClientID == "":
		return tandem.Errorf(tandem.EINVALID, "CIBA request needs a workspace, an application id, an application name and a client id")
	case r.VerificationID == "":
		return tandem.Errorf(tandem.EINVALID, "CIBA request has no verification")
	case r.ExpiresAt.IsZero():
		return tandem.Errorf(tandem.EINVALID, "CIBA request has no expiry")
	case r.IntervalS <= 0:
		return tandem.Errorf(tandem.EINVALID, "CIBA request interval must be positive, not %d", r.IntervalS)
	}
	switch r.DeliveryMode {
	case tandem.CIBAPoll:
	case tandem.CIBAPing, tandem.CIBAPush:
		if r.NotificationEndpoint == "" || len(r.NotificationToken) == 0 || len(r.AuthReqID) == 0 {
			return tandem.Errorf(tandem.EINVALID, "CIBA request in %s mode needs a notification endpoint, a notification token and its auth_req_id", r.DeliveryMode)
		}
	default:
		return tandem.Errorf(tandem.EINVALID, "CIBA delivery mode %q is not poll, ping or push", r.DeliveryMode)
	}
	return nil
}

// CreateCIBARequest stores the new request r. A zero CreatedAt is the
// store's clock. Errors: EINVALID when a field is missing; ENOTFOUND when
// the workspace, or the verification in that workspace, does not exist;
// ECONFLICT when the id hash is taken or the verification has a request.
// On error nothing is written.
func (db *DB) CreateCIBARequest(ctx context.Context, r tandem.CIBARequest) error {
	if err := checkCIBA(&r); err != nil {
		return err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = db.Now()
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		wsID, err := workspaceID(ctx, tx, r.Workspace, map[string]string{})
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM verifications WHERE id = $1 AND workspace_id = $2`,
			r.VerificationID, wsID).Scan(&n); err != nil {
			return err
		} else if n == 0 {
			return tandem.Errorf(tandem.ENOTFOUND, "verification %s not found in workspace %q", r.VerificationID, r.Workspace)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO ciba_requests (id_hash, workspace_id, app_id, application,
			client_id, verification_id, delivery_mode, notification_endpoint, notification_token, auth_req_id_enc,
			interval_s, last_poll_at, expires_at, created_at, consumed_at, access_hash, access_expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL, NULL, NULL)
			ON CONFLICT DO NOTHING`,
			r.IDHash, wsID, r.AppID, r.Application, r.ClientID, r.VerificationID, r.DeliveryMode,
			r.NotificationEndpoint, nullBytes(r.NotificationToken), nullBytes(r.AuthReqID), r.IntervalS,
			nullMillis(r.LastPollAt), millis(r.ExpiresAt), millis(r.CreatedAt))
		if err := oneRow(res, err); err == errNoRow {
			if taken, err := exists(ctx, tx, `SELECT COUNT(*) FROM ciba_requests WHERE id_hash = $1`, r.IDHash); err != nil {
				return err
			} else if taken {
				return tandem.Errorf(tandem.ECONFLICT, "another CIBA request has this auth_req_id")
			}
			return tandem.Errorf(tandem.ECONFLICT, "verification %s already has a CIBA request", r.VerificationID)
		} else if err != nil {
			return fmt.Errorf("insert CIBA request: %w", err)
		}
		return nil
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("create CIBA request of verification %s: %w", r.VerificationID, err)
	}
	return nil
}

// CIBARequest returns the request whose id hash is idHash, or ENOTFOUND.
// Neither error names the hash.
func (db *DB) CIBARequest(ctx context.Context, idHash []byte) (*tandem.CIBARequest, error) {
	if len(idHash) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "CIBA request not found")
	}
	return db.loadCIBA(ctx, `c.id_hash = $1`, idHash, "CIBA request")
}

// CIBARequestByVerification returns the request of the verification
// verificationID, or ENOTFOUND.
func (db *DB) CIBARequestByVerification(ctx context.Context, verificationID string) (*tandem.CIBARequest, error) {
	return db.loadCIBA(ctx, `c.verification_id = $1`, verificationID, "CIBA request of verification "+verificationID)
}

// CIBARequestByAccessToken returns the request whose access token hash is
// accessHash, whatever its expiry, or ENOTFOUND. Neither error names the
// hash.
func (db *DB) CIBARequestByAccessToken(ctx context.Context, accessHash []byte) (*tandem.CIBARequest, error) {
	if len(accessHash) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "access token not found")
	}
	return db.loadCIBA(ctx, `c.access_hash = $1`, accessHash, "access token")
}

func (db *DB) loadCIBA(ctx context.Context, where string, arg any, what string) (*tandem.CIBARequest, error) {
	r, err := scanCIBA(db.reader.QueryRowContext(ctx, `SELECT `+cibaColumns+`
		FROM ciba_requests c JOIN workspaces w ON w.id = c.workspace_id
		WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "%s not found", what)
	} else if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	return r, nil
}

// PollCIBA records a poll of the request idHash at now: a poll less than
// interval_s after the previous one is too early and adds 5 seconds to
// the interval. The first poll is never too early. Errors: ENOTFOUND.
func (db *DB) PollCIBA(ctx context.Context, idHash []byte, now time.Time) (bool, int, error) {
	var tooEarly bool
	var interval int
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var last sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT interval_s, last_poll_at FROM ciba_requests WHERE id_hash = $1`,
			idHash).Scan(&interval, &last)
		if errors.Is(err, sql.ErrNoRows) {
			return tandem.Errorf(tandem.ENOTFOUND, "CIBA request not found")
		} else if err != nil {
			return err
		}
		if last.Valid && millis(now) < last.Int64+int64(interval)*1000 {
			tooEarly = true
			interval += 5
		}
		_, err = tx.ExecContext(ctx, `UPDATE ciba_requests SET interval_s = $2, last_poll_at = $3 WHERE id_hash = $1`,
			idHash, interval, millis(now))
		return err
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return false, 0, err
		}
		return false, 0, fmt.Errorf("poll CIBA request: %w", err)
	}
	return tooEarly, interval, nil
}

// GrantCIBA consumes the request g.IDHash (see grantCIBA).
func (db *DB) GrantCIBA(ctx context.Context, g tandem.CIBAGrant) error {
	if err := checkGrant(&g, db.Now()); err != nil {
		return err
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error { return grantCIBA(ctx, tx, g) })
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("grant CIBA request: %w", err)
	}
	return nil
}

// checkGrant checks a grant; a zero At becomes now.
func checkGrant(g *tandem.CIBAGrant, now time.Time) error {
	if len(g.IDHash) == 0 {
		return tandem.Errorf(tandem.EINVALID, "CIBA grant has no request id hash")
	}
	if len(g.AccessHash) > 0 && g.AccessExpiresAt.IsZero() {
		return tandem.Errorf(tandem.EINVALID, "CIBA grant with an access token needs its expiry")
	}
	if g.At.IsZero() {
		g.At = now
	}
	return nil
}

// grantCIBA marks the request consumed at g.At with the access token hash
// of g. Errors: ECONFLICT when it was consumed already, ENOTFOUND when there
// is no such request.
func grantCIBA(ctx context.Context, tx *sql.Tx, g tandem.CIBAGrant) error {
	r, err := tx.ExecContext(ctx, `UPDATE ciba_requests SET consumed_at = $2, access_hash = $3, access_expires_at = $4
		WHERE id_hash = $1 AND consumed_at IS NULL`,
		g.IDHash, millis(g.At), nullBytes(g.AccessHash), nullMillis(g.AccessExpiresAt))
	if err := oneRow(r, err); err != errNoRow {
		return err
	}
	if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM ciba_requests WHERE id_hash = $1`, g.IDHash); err != nil {
		return err
	} else if ok {
		return tandem.Errorf(tandem.ECONFLICT, "the CIBA request was used already")
	}
	return tandem.Errorf(tandem.ENOTFOUND, "CIBA request not found")
}
