package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tandem-id/tandem"
)

var _ tandem.KeyStore = (*DB)(nil)

const keyColumns = `kid, alg, public_jwk, private_enc, created_at, retire_at`

// ActiveKey returns the active signing key of a workspace, or ENOTFOUND
// when the workspace has none or does not exist.
func (db *DB) ActiveKey(ctx context.Context, workspace string) (*tandem.SigningKey, error) {
	row := db.reader.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM signing_keys
		WHERE workspace_id = (SELECT id FROM workspaces WHERE name = $1) AND retire_at IS NULL`, workspace)
	k, err := scanKey(row.Scan, workspace)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "workspace %q has no active signing key", workspace)
	} else if err != nil {
		return nil, fmt.Errorf("get active key of %s: %w", workspace, err)
	}
	return k, nil
}

// ListKeys returns the keys of a workspace published at now (active, or
// retiring after now), newest first, as of one snapshot. Keys created at
// the same millisecond are ordered by kid.
func (db *DB) ListKeys(ctx context.Context, workspace string, now time.Time) ([]tandem.SigningKey, error) {
	var out []tandem.SigningKey
	err := db.read(ctx, func(tx *sql.Tx) error {
		wsID, err := workspaceID(ctx, tx, workspace, map[string]string{})
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+keyColumns+` FROM signing_keys
			WHERE workspace_id = $1 AND (retire_at IS NULL OR retire_at > $2)
			ORDER BY created_at DESC, kid`, wsID, millis(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanKey(rows.Scan, workspace)
			if err != nil {
				return err
			}
			out = append(out, *k)
		}
		return rows.Err()
	})
	if err != nil {
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, err
		}
		return nil, fmt.Errorf("list keys of %s: %w", workspace, err)
	}
	return out, nil
}

// PutKey stores a new signing key, as tandem.KeyStore documents. The one
// active key per workspace is a unique index, so the check holds on engines
// with concurrent writers too: the losing insert does nothing and reports
// ECONFLICT.
func (db *DB) PutKey(ctx context.Context, k tandem.SigningKey) error {
	if err := validKey(k); err != nil {
		return err
	}
	var retire any
	if !k.RetireAt.IsZero() {
		retire = millis(k.RetireAt)
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		wsID, err := workspaceID(ctx, tx, k.Workspace, map[string]string{})
		if err != nil {
			return err
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+keyColumns+`, workspace_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			k.KID, k.Alg, string(k.PublicJWK), k.PrivateEnc, millis(k.CreatedAt), retire, wsID)
		if err := oneRow(r, err); err == errNoRow {
			if k.Active() {
				return tandem.Errorf(tandem.ECONFLICT, "workspace %q already has an active signing key (or key id %q is taken)", k.Workspace, k.KID)
			}
			return tandem.Errorf(tandem.ECONFLICT, "signing key id %q is taken", k.KID)
		} else if err != nil {
			return fmt.Errorf("insert signing key: %w", err)
		}
		return nil
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("put key %s of %s: %w", k.KID, k.Workspace, err)
	}
	return nil
}

// RetireKeys schedules the retirement of a workspace's keys other than
// keepKID, as tandem.KeyStore documents.
func (db *DB) RetireKeys(ctx context.Context, workspace, keepKID string, retireAt time.Time) error {
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		wsID, err := workspaceID(ctx, tx, workspace, map[string]string{})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE signing_keys SET retire_at = $1
			WHERE workspace_id = $2 AND kid <> $3 AND (retire_at IS NULL OR retire_at > $1)`,
			millis(retireAt), wsID, keepKID)
		return err
	})
	if err != nil {
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return err
		}
		return fmt.Errorf("retire keys of %s: %w", workspace, err)
	}
	return nil
}

// validKey returns an EINVALID error naming the missing or malformed fields
// of k.
func validKey(k tandem.SigningKey) error {
	var errs []tandem.FieldError
	if k.KID == "" {
		errs = append(errs, tandem.FieldError{Path: "kid", Message: "is required"})
	}
	if k.Workspace == "" {
		errs = append(errs, tandem.FieldError{Path: "workspace", Message: "is required"})
	}
	if k.Alg == "" {
		errs = append(errs, tandem.FieldError{Path: "alg", Message: "is required"})
	}
	if !json.Valid(k.PublicJWK) {
		errs = append(errs, tandem.FieldError{Path: "public_jwk", Message: "must be a JSON Web Key"})
	}
	if len(k.PrivateEnc) == 0 {
		errs = append(errs, tandem.FieldError{Path: "private_enc", Message: "is required"})
	}
	if k.CreatedAt.IsZero() {
		errs = append(errs, tandem.FieldError{Path: "created_at", Message: "is required"})
	}
	return tandem.Invalid("The signing key is not valid.", errs)
}

// scanKey scans the keyColumns of one row.
func scanKey(scan func(...any) error, workspace string) (*tandem.SigningKey, error) {
	k := &tandem.SigningKey{Workspace: workspace}
	var jwk string
	var created int64
	var retire sql.NullInt64
	if err := scan(&k.KID, &k.Alg, &jwk, &k.PrivateEnc, &created, &retire); err != nil {
		return nil, err
	}
	k.PublicJWK = json.RawMessage(jwk)
	k.CreatedAt = fromMillis(created)
	if retire.Valid {
		k.RetireAt = fromMillis(retire.Int64)
	}
	return k, nil
}
