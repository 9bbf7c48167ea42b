package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-id/tandem"
)

// GetApplication returns the reference of the named application of a
// workspace. It returns an ENOTFOUND error naming the workspace when the
// workspace does not exist, and one naming the application when the
// workspace has no such application.
func (db *DB) GetApplication(ctx context.Context, workspace, app string) (*tandem.AppRef, error) {
	var appID, clientID sql.NullString
	err := db.reader.QueryRowContext(ctx, `SELECT a.id, a.client_id FROM workspaces w
		LEFT JOIN applications a ON a.workspace_id = w.id AND a.name = $2
		WHERE w.name = $1`, workspace, app).Scan(&appID, &clientID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "workspace %q not found", workspace)
	} else if err != nil {
		return nil, fmt.Errorf("get application %s/%s: %w", workspace, app, err)
	}
	if !appID.Valid {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "application %q not found in workspace %q", app, workspace)
	}
	return &tandem.AppRef{ID: appID.String, Workspace: workspace, Name: app, ClientID: clientID.String}, nil
}

// PutSecret stores secretHash as a new secret of the application appID,
// valid from now and without end, in one write transaction.
//
// The first call sets the application's client id to clientID; later calls
// must pass the same client id. Secrets of the application that would still
// be valid after graceUntil stop being valid at graceUntil; secrets that
// expired at or before now are deleted. Errors: EINVALID when clientID or
// secretHash is empty, ENOTFOUND when there is no such application, and
// ECONFLICT when clientID belongs to another application or the application
// already has a different client id; in every error case nothing changes.
func (db *DB) PutSecret(ctx context.Context, appID, clientID string, secretHash []byte, now, graceUntil time.Time) error {
	if clientID == "" {
		return tandem.Errorf(tandem.EINVALID, "client id is required")
	}
	if len(secretHash) == 0 {
		return tandem.Errorf(tandem.EINVALID, "secret hash is required")
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var cur sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT client_id FROM applications WHERE id = $1`, appID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return tandem.Errorf(tandem.ENOTFOUND, "application %s not found", appID)
		} else if err != nil {
			return err
		}
		switch cur.String {
		case clientID:
		case "":
			var other string
			err := tx.QueryRowContext(ctx, `SELECT id FROM applications WHERE client_id = $1`, clientID).Scan(&other)
			if err == nil {
				return tandem.Errorf(tandem.ECONFLICT, "client id %q is already in use", clientID)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE applications SET client_id = $1 WHERE id = $2`, clientID, appID); err != nil {
				return err
			}
		default:
			return tandem.Errorf(tandem.ECONFLICT, "application %s already has a different client id", appID)
		}

		nowMs, graceMs := millis(now), millis(graceUntil)
		if _, err := tx.ExecContext(ctx, `DELETE FROM app_secrets
			WHERE application_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2`, appID, nowMs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE app_secrets SET expires_at = $1
			WHERE application_id = $2 AND (expires_at IS NULL OR expires_at > $1)`, graceMs, appID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO app_secrets (id, application_id, secret_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, NULL)`, newID(), appID, secretHash, nowMs)
		return err
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("put secret of application %s: %w", appID, err)
	}
	return nil
}

// ApplicationByClientID returns the application whose client id is clientID
// and the hashes of its secrets that are valid at now (without expiry, or
// expiring after now), newest first; the list is empty when none is valid.
// It returns an ENOTFOUND error when no application has that client id.
func (db *DB) ApplicationByClientID(ctx context.Context, clientID string, now time.Time) (*tandem.AppRef, [][]byte, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT a.id, w.name, a.name, s.secret_hash
		FROM applications a
		JOIN workspaces w ON w.id = a.workspace_id
		LEFT JOIN app_secrets s ON s.application_id = a.id AND (s.expires_at IS NULL OR s.expires_at > $2)
		WHERE a.client_id = $1
		ORDER BY s.created_at DESC, s.id`, clientID, millis(now))
	if err != nil {
		return nil, nil, fmt.Errorf("application by client id %s: %w", clientID, err)
	}
	defer rows.Close()
	var ref *tandem.AppRef
	hashes := [][]byte{}
	for rows.Next() {
		var r tandem.AppRef
		var hash []byte
		if err := rows.Scan(&r.ID, &r.Workspace, &r.Name, &hash); err != nil {
			return nil, nil, fmt.Errorf("application by client id %s: %w", clientID, err)
		}
		if ref == nil {
			r.ClientID = clientID
			ref = &r
		}
		if hash != nil {
			hashes = append(hashes, hash)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("application by client id %s: %w", clientID, err)
	}
	if ref == nil {
		return nil, nil, tandem.Errorf(tandem.ENOTFOUND, "no application has client id %q", clientID)
	}
	return ref, hashes, nil
}
