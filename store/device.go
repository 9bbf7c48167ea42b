package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
)

var _ tandem.DeviceStore = (*DB)(nil)

// How devices are stored.
//
// A device is one row of devices, keyed by its credential id, with the
// workspace's row id and the public key as JSON text, kept byte for byte.
// Its key (PublicKey and Thumbprint), workspace and CreatedAt are fixed when
// the device is first stored; every other field may change. Pairings,
// challenges and inbox items are rows of their own tables. Times are kept
// to the millisecond and come back in UTC; a zero LastSeenAt or RevokedAt
// is stored as NULL and comes back zero.
//
// Single use is one conditional UPDATE ... RETURNING: of several requests
// racing for the same token, exactly one sees the row. It is the same in a
// Commit (UsePairing, UseChallenge), so a request may read its token first
// (PeekPairing, PeekChallenge) and use it up with the rest of its changes:
// of several such commits, exactly one succeeds. No error message
// names a token, hash, challenge, credential id or thumbprint.
//
// User events are rows of user_events, with the workspace's row id; they
// are never updated. They are kept for userEventRetention: each Commit that
// writes events of a workspace then deletes up to userEventSweep events of
// that workspace that are more than userEventRetention older than the newest
// event it wrote, the oldest first. The day is counted from the events'
// own times, not from the store's clock, and only a Commit with events
// deletes any. A count over a window longer than userEventRetention may
// therefore miss events: the limits computed from the history must look
// back a day at most.

// challengeRetention is how long a challenge is kept after it expired
// before CreateChallenge deletes it.
const challengeRetention = time.Hour

// challengeSweep is the most expired challenges one CreateChallenge
// deletes, so that its cost is bounded even after a long pause.
const challengeSweep = 100

// userEventRetention is how long before the newest event a Commit writes
// the older events of the workspace are kept.
const userEventRetention = 24 * time.Hour

// userEventSweep is the most old user events one Commit deletes per
// workspace, so that its cost is bounded even after a long pause.
const userEventSweep = 100

// Commit stores c in one write transaction, in this order: the use of
// c.UsePairing and of c.UseChallenge (each one conditional UPDATE, so that
// of several commits racing for the same token exactly one succeeds); the
// versioned update of c.Verification exactly as by UpdateVerification; the upsert of
// c.Devices; c.RevokeOthers; the removal of the inbox items of c.Withdraw;
// the insertion of c.Inbox; the insertion of c.UserEvents, followed for each
// of their workspaces by the deletion of up to userEventSweep (100) events
// of that workspace more than userEventRetention (24 h) older than the
// newest event written for it; the insertion of c.Outbox as pending items
// with no attempts (see outbox.go); and c.Audit, completed as by
// UpdateVerification (with c.Verification's workspace and id when it is
// set); and c.Challenges, as by CreateChallenge (with its deletion of
// expired challenges). As the revocation follows the upserts, a device of this very commit
// that is not the kept one ends up revoked, and the kept one is never
// touched by it.
//
// A device is inserted when its CredID is new. Otherwise its UserID, Name,
// Platform, State, PushType, PushToken, UpdatedAt, LastSeenAt and RevokedAt
// are written; its workspace, key and CreatedAt stay as first stored. A
// zero CreatedAt or UpdatedAt is the store's clock, as is a zero
// RevokeOthers.At, the zero CreatedAt of an inbox item or an outbox item
// and the zero At of a user event; an outbox item's zero NextAttemptAt is
// its CreatedAt. A user event's Kind is not checked against the known kinds;
// an empty VerificationID is stored as NULL.
//
// Errors: EINVALID when the verification is invalid as for
// UpdateVerification, when a device has no CredID, Workspace or Thumbprint,
// an unknown State or a PublicKey that is not JSON, when RevokeOthers has no
// Workspace or UserID, when an inbox item has no expiry, when a user event
// has no Workspace, UserID or Kind, when an outbox item has no ID, Kind,
// Workspace, URL or Payload, when a CIBA grant has no IDHash (or an
// AccessHash without expiry), when an audit detail is not JSON, or when a
// challenge has no value, credential id or expiry.
// ENOTFOUND ("pairing code is not valid or was already used", "challenge
// is not valid or was already used") when no unused pairing or challenge of
// the device matches c.UsePairing or c.UseChallenge; EGONE ("pairing code
// expired", "challenge expired") when it expired at or before its At —
// unlike UsePairing and UseChallenge, the failed commit leaves it unused.
// ECONFLICT when the verification's version is stale, when a new device's
// key is already that of another device of the workspace, when a stored
// device has another workspace or key, when an outbox item's ID exists, or
// when a CIBA grant's request was consumed already, or when a challenge
// with the value of one of c.Challenges exists. ENOTFOUND when the
// verification, a device's workspace, the device or verification of an
// inbox item, the workspace of a user event or an outbox item, or the
// request of a CIBA grant does not exist. On error nothing is written and c
// is unchanged. On success, c.Verification's Version and UpdatedAt are set
// as by UpdateVerification, a zero UpdatedAt of a device is set to the
// clock's time, and a device's CreatedAt to its stored creation time unless
// that is the one given; user events are left as given.
func (db *DB) Commit(ctx context.Context, c tandem.Commit) error {
	now := db.Now()
	var u *verificationUpdate
	if c.Verification != nil {
		var err error
		if u, err = prepareUpdate(c.Verification, now); err != nil {
			return err
		}
	}
	devices := make([]deviceRow, len(c.Devices))
	for i, d := range c.Devices {
		if err := checkDevice(d); err != nil {
			return err
		}
		devices[i] = deviceRow{d: d, created: d.CreatedAt, updated: d.UpdatedAt}
		if devices[i].created.IsZero() {
			devices[i].created = now
		}
		if devices[i].updated.IsZero() {
			devices[i].updated = now
		}
	}
	var revoke *tandem.RevokeOthers
	if c.RevokeOthers != nil {
		r := *c.RevokeOthers
		if r.Workspace == "" || r.UserID == "" {
			return tandem.Errorf(tandem.EINVALID, "revoking other devices needs a workspace and a user id")
		}
		if r.At.IsZero() {
			r.At = now
		}
		revoke = &r
	}
	inbox := make([]tandem.InboxItem, len(c.Inbox))
	for i, it := range c.Inbox {
		if it.CredID == "" || it.VerificationID == "" {
			return tandem.Errorf(tandem.EINVALID, "inbox item %d needs a device and a verification", i)
		}
		if it.ExpiresAt.IsZero() {
			return tandem.Errorf(tandem.EINVALID, "inbox item %d has no expiry", i)
		}
		if it.CreatedAt.IsZero() {
			it.CreatedAt = now
		}
		inbox[i] = it
	}
	userEvents := make([]tandem.UserEvent, len(c.UserEvents))
	for i, e := range c.UserEvents {
		if e.Workspace == "" || e.UserID == "" || e.Kind == "" {
			return tandem.Errorf(tandem.EINVALID, "user event %d needs a workspace, a user id and a kind", i)
		}
		if e.At.IsZero() {
			e.At = now
		}
		userEvents[i] = e
	}
	events, err := prepareAudit(c.Audit, c.Verification, now)
	if err != nil {
		return err
	}
	outbox, err := prepareOutbox(c.Outbox, now)
	if err != nil {
		return err
	}
	grants := make([]tandem.CIBAGrant, len(c.CIBAGrants))
	for i, g := range c.CIBAGrants {
		if err := checkGrant(&g, now); err != nil {
			return err
		}
		grants[i] = g
	}
	for _, ch := range c.Challenges {
		if err := checkChallenge(ch); err != nil {
			return err
		}
	}
	if u == nil && len(devices) == 0 && revoke == nil && c.Withdraw == "" && len(inbox) == 0 &&
		len(userEvents) == 0 && len(events) == 0 && len(outbox) == 0 && len(grants) == 0 &&
		c.UsePairing == nil && c.UseChallenge == nil && len(c.Challenges) == 0 {
		return nil
	}

	err = db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if p := c.UsePairing; p != nil {
			if _, err := usePairing(ctx, tx, p.Hash, p.At); err != nil {
				return err
			}
		}
		if ch := c.UseChallenge; ch != nil {
			if _, err := useChallenge(ctx, tx, ch.Value, ch.CredID, ch.At); err != nil {
				return err
			}
		}
		if u != nil {
			if err := u.write(ctx, tx); err != nil {
				return err
			}
		}
		workspaces := map[string]string{} // name → id
		for i := range devices {
			if err := upsertDevice(ctx, tx, &devices[i], workspaces); err != nil {
				return err
			}
		}
		if revoke != nil {
			at := millis(revoke.At)
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET state = 'revoked', revoked_at = $1, updated_at = $1
				WHERE workspace_id = (SELECT id FROM workspaces WHERE name = $2)
				AND user_id = $3 AND state = 'active' AND cred_id <> $4`,
				at, revoke.Workspace, revoke.UserID, revoke.KeepCredID); err != nil {
				return fmt.Errorf("revoke devices: %w", err)
			}
		}
		if c.Withdraw != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM inbox WHERE verification_id = $1`, c.Withdraw); err != nil {
				return fmt.Errorf("withdraw inbox items: %w", err)
			}
		}
		if err := insertInbox(ctx, tx, inbox); err != nil {
			return err
		}
		if err := insertUserEvents(ctx, tx, userEvents, workspaces); err != nil {
			return err
		}
		if err := insertOutbox(ctx, tx, outbox, workspaces); err != nil {
			return err
		}
		for _, g := range grants {
			if err := grantCIBA(ctx, tx, g); err != nil {
				return err
			}
		}
		if err := insertAudit(ctx, tx, events); err != nil {
			return err
		}
		if len(c.Challenges) > 0 {
			return insertChallenges(ctx, tx, c.Challenges, now)
		}
		return nil
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("commit: %w", err)
	}
	if u != nil {
		u.done()
	}
	for _, r := range devices {
		r.d.CreatedAt, r.d.UpdatedAt = r.created, r.updated
	}
	return nil
}

// deviceRow is a device of a Commit with the times to store.
type deviceRow struct {
	d                *tandem.Device
	created, updated time.Time
}

// checkDevice checks what the store needs of a device.
func checkDevice(d *tandem.Device) error {
	switch {
	case d == nil || d.CredID == "":
		return tandem.Errorf(tandem.EINVALID, "device credential id is required")
	case d.Workspace == "":
		return tandem.Errorf(tandem.EINVALID, "device workspace is required")
	case d.Thumbprint == "":
		return tandem.Errorf(tandem.EINVALID, "device key thumbprint is required")
	case !json.Valid(d.PublicKey):
		return tandem.Errorf(tandem.EINVALID, "device public key is not JSON")
	}
	switch d.State {
	case tandem.DevicePending, tandem.DeviceActive, tandem.DeviceRevoked:
	default:
		return tandem.Errorf(tandem.EINVALID, "device state %q is not pending, active or revoked", d.State)
	}
	return nil
}

// workspaceID returns the row id of the workspace name, or an ENOTFOUND
// error. workspaces caches workspace ids by name.
func workspaceID(ctx context.Context, tx *sql.Tx, name string, workspaces map[string]string) (string, error) {
	if id, ok := workspaces[name]; ok {
		return id, nil
	}
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM workspaces WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", tandem.Errorf(tandem.ENOTFOUND, "workspace %q not found", name)
	} else if err != nil {
		return "", fmt.Errorf("find workspace: %w", err)
	}
	workspaces[name] = id
	return id, nil
}

// upsertDevice inserts or updates the device of r and sets r.created to
// the stored creation time. workspaces caches workspace ids by name.
func upsertDevice(ctx context.Context, tx *sql.Tx, r *deviceRow, workspaces map[string]string) error {
	d := r.d
	wsID, err := workspaceID(ctx, tx, d.Workspace, workspaces)
	if err != nil {
		return err
	}
	// The key of a device is unique in its workspace. Checked first, as the
	// upsert below only resolves conflicts of cred_id. (On engines with
	// concurrent writers, a race between this check and the insert ends in
	// a constraint error rather than ECONFLICT.)
	var owner string
	err = tx.QueryRowContext(ctx, `SELECT cred_id FROM devices WHERE workspace_id = $1 AND thumbprint = $2`,
		wsID, d.Thumbprint).Scan(&owner)
	if err == nil && owner != d.CredID {
		return tandem.Errorf(tandem.ECONFLICT, "another device of workspace %q has this key", d.Workspace)
	} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("find device by key: %w", err)
	}

	var created int64
	err = tx.QueryRowContext(ctx, `INSERT INTO devices (cred_id, workspace_id, user_id, name, platform,
		public_key, thumbprint, state, push_type, push_token, created_at, updated_at, last_seen_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (cred_id) DO UPDATE SET user_id = excluded.user_id, name = excluded.name,
		platform = excluded.platform, state = excluded.state, push_type = excluded.push_type,
		push_token = excluded.push_token, updated_at = excluded.updated_at,
		last_seen_at = excluded.last_seen_at, revoked_at = excluded.revoked_at
		WHERE devices.workspace_id = excluded.workspace_id AND devices.thumbprint = excluded.thumbprint
		RETURNING created_at`,
		d.CredID, wsID, d.UserID, d.Name, d.Platform, string(d.PublicKey), d.Thumbprint, d.State,
		d.PushType, d.PushToken, millis(r.created), millis(r.updated), nullMillis(d.LastSeenAt),
		nullMillis(d.RevokedAt)).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return tandem.Errorf(tandem.ECONFLICT, "the stored device has another workspace or key")
	} else if err != nil {
		return fmt.Errorf("store device: %w", err)
	}
	if created != millis(r.created) {
		r.created = fromMillis(created) // an update: the creation time stays
	}
	return nil
}

// inboxColumns is the number of columns insertInbox writes per item.
const inboxColumns = 5

// insertInbox checks that the device and the verification of every item
// exist and writes the items with one statement.
func insertInbox(ctx context.Context, tx *sql.Tx, items []tandem.InboxItem) error {
	if len(items) == 0 {
		return nil
	}
	devices, verifications := map[string]bool{}, map[string]bool{}
	for _, it := range items {
		if !devices[it.CredID] {
			if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM devices WHERE cred_id = $1`, it.CredID); err != nil {
				return err
			} else if !ok {
				return tandem.Errorf(tandem.ENOTFOUND, "device not found")
			}
			devices[it.CredID] = true
		}
		if !verifications[it.VerificationID] {
			if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM verifications WHERE id = $1`, it.VerificationID); err != nil {
				return err
			} else if !ok {
				return tandem.Errorf(tandem.ENOTFOUND, "verification %s not found", it.VerificationID)
			}
			verifications[it.VerificationID] = true
		}
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO inbox (cred_id, verification_id, step, created_at, expires_at) VALUES `)
	writeValues(&q, len(items), inboxColumns)
	args := make([]any, 0, len(items)*inboxColumns)
	for _, it := range items {
		args = append(args, it.CredID, it.VerificationID, it.Step, millis(it.CreatedAt), millis(it.ExpiresAt))
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("insert inbox items: %w", err)
	}
	return nil
}

// userEventColumns is the number of columns insertUserEvents writes per
// event.
const userEventColumns = 5

// insertUserEvents writes events with one statement, then deletes, for each
// of their workspaces, up to userEventSweep events of the workspace more than
// userEventRetention older than the newest event written for it.
// workspaces caches workspace ids by name.
func insertUserEvents(ctx context.Context, tx *sql.Tx, events []tandem.UserEvent, workspaces map[string]string) error {
	if len(events) == 0 {
		return nil
	}
	var order []string           // workspace ids, in order of appearance
	newest := map[string]int64{} // workspace id → newest time written
	var q strings.Builder
	q.WriteString(`INSERT INTO user_events (workspace_id, user_id, kind, verification_id, at) VALUES `)
	writeValues(&q, len(events), userEventColumns)
	args := make([]any, 0, len(events)*userEventColumns)
	for _, e := range events {
		wsID, err := workspaceID(ctx, tx, e.Workspace, workspaces)
		if err != nil {
			return err
		}
		at := millis(e.At)
		if n, ok := newest[wsID]; !ok {
			order = append(order, wsID)
			newest[wsID] = at
		} else if at > n {
			newest[wsID] = at
		}
		var vid any
		if e.VerificationID != "" {
			vid = e.VerificationID
		}
		args = append(args, wsID, e.UserID, e.Kind, vid, at)
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("insert user events: %w", err)
	}
	for _, wsID := range order {
		cutoff := newest[wsID] - userEventRetention.Milliseconds()
		if _, err := tx.ExecContext(ctx, sweepUserEventsQuery, wsID, cutoff, userEventSweep); err != nil {
			return fmt.Errorf("delete old user events: %w", err)
		}
	}
	return nil
}

// sweepUserEventsQuery deletes up to $3 events of the workspace $1 older
// than $2, the oldest first, through the index user_events_at.
const sweepUserEventsQuery = `DELETE FROM user_events WHERE id IN
	(SELECT id FROM user_events WHERE workspace_id = $1 AND at < $2 ORDER BY at LIMIT $3)`

// exists reports whether the COUNT(*) query with one argument counts a row.
func exists(ctx context.Context, tx *sql.Tx, query string, arg any) (bool, error) {
	var n int
	if err := tx.QueryRowContext(ctx, query, arg).Scan(&n); err != nil {
		return false, err
	}
	return n > 0, nil
}

// deviceColumns are the columns read for a device, in the order of
// scanDevice.
const deviceColumns = `d.cred_id, w.name, d.user_id, d.name, d.platform, d.public_key, d.thumbprint,
	d.state, d.push_type, d.push_token, d.created_at, d.updated_at, d.last_seen_at, d.revoked_at`

// scanDevice reads a row of deviceColumns.
func scanDevice(row interface{ Scan(...any) error }) (*tandem.Device, error) {
	var d tandem.Device
	var key string
	var created, updated int64
	var seen, revoked sql.NullInt64
	if err := row.Scan(&d.CredID, &d.Workspace, &d.UserID, &d.Name, &d.Platform, &key, &d.Thumbprint,
		&d.State, &d.PushType, &d.PushToken, &created, &updated, &seen, &revoked); err != nil {
		return nil, err
	}
	d.PublicKey = json.RawMessage(key)
	d.CreatedAt, d.UpdatedAt = fromMillis(created), fromMillis(updated)
	d.LastSeenAt, d.RevokedAt = fromNullMillis(seen), fromNullMillis(revoked)
	return &d, nil
}

// GetDevice returns the device with the credential id credID, or an
// ENOTFOUND error.
func (db *DB) GetDevice(ctx context.Context, credID string) (*tandem.Device, error) {
	return db.device(ctx, `d.cred_id = $1`, credID)
}

// DeviceByThumbprint returns the device of the workspace whose key has the
// thumbprint, or an ENOTFOUND error.
func (db *DB) DeviceByThumbprint(ctx context.Context, workspace, thumbprint string) (*tandem.Device, error) {
	return db.device(ctx, `w.name = $1 AND d.thumbprint = $2`, workspace, thumbprint)
}

// device returns the device selected by where, or an ENOTFOUND error.
func (db *DB) device(ctx context.Context, where string, args ...any) (*tandem.Device, error) {
	row := db.reader.QueryRowContext(ctx, `SELECT `+deviceColumns+`
		FROM devices d JOIN workspaces w ON w.id = d.workspace_id WHERE `+where, args...)
	d, err := scanDevice(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "device not found")
	} else if err != nil {
		return nil, fmt.Errorf("get device: %w", err)
	}
	return d, nil
}

// ListDevices returns the devices of a user of a workspace, whatever their
// state, newest first (ties by credential id). The list is empty, not nil,
// when there are none, also when the workspace does not exist.
func (db *DB) ListDevices(ctx context.Context, workspace, userID string) ([]tandem.Device, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT `+deviceColumns+`
		FROM devices d JOIN workspaces w ON w.id = d.workspace_id
		WHERE w.name = $1 AND d.user_id = $2
		ORDER BY d.created_at DESC, d.cred_id`, workspace, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	out := []tandem.Device{}
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// CreatePairing stores the pairing token p. A zero CreatedAt is the store's
// clock. Errors: EINVALID when p has no hash or expiry; ENOTFOUND when its
// verification does not exist; ECONFLICT when a pairing with this hash
// exists. No error names the hash.
func (db *DB) CreatePairing(ctx context.Context, p tandem.Pairing) error {
	if len(p.Hash) == 0 {
		return tandem.Errorf(tandem.EINVALID, "pairing hash is required")
	}
	if p.ExpiresAt.IsZero() {
		return tandem.Errorf(tandem.EINVALID, "pairing has no expiry")
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = db.Now()
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, `SELECT COUNT(*) FROM verifications WHERE id = $1`, p.VerificationID); err != nil {
			return err
		} else if !ok {
			return tandem.Errorf(tandem.ENOTFOUND, "verification %s not found", p.VerificationID)
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO pairings (hash, verification_id, step, created_at, expires_at, used_at)
			VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT DO NOTHING`,
			p.Hash, p.VerificationID, p.Step, millis(p.CreatedAt), millis(p.ExpiresAt))
		if err := oneRow(r, err); err == errNoRow {
			return tandem.Errorf(tandem.ECONFLICT, "the pairing code already exists")
		}
		return err
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("create pairing of verification %s: %w", p.VerificationID, err)
	}
	return nil
}

// UsePairing marks the pairing with this hash used at now and returns it.
// Errors: ENOTFOUND ("pairing code is not valid or was already used") when
// no unused pairing has this hash; EGONE ("pairing code expired") when it
// expired at or before now, in which case it is used up all the same.
func (db *DB) UsePairing(ctx context.Context, hash []byte, now time.Time) (*tandem.Pairing, error) {
	return useOnce(ctx, db, "pairing", func(ctx context.Context, tx *sql.Tx) (*tandem.Pairing, error) {
		return usePairing(ctx, tx, hash, now)
	}, errPairingExpired)
}

// useOnce runs use, which uses up a single-use token, in a write
// transaction. A token use finds expired (EGONE, nil) is used up all the
// same: the transaction commits and the caller gets expired(). Internal
// errors are wrapped with what.
func useOnce[T any](ctx context.Context, db *DB, what string, use func(context.Context, *sql.Tx) (*T, error), expired func() error) (*T, error) {
	var v *T
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		v, err = use(ctx, tx)
		if tandem.ErrorCode(err) == tandem.EGONE {
			return nil // used up all the same
		}
		return err
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("use %s: %w", what, err)
	}
	if v == nil {
		return nil, expired()
	}
	return v, nil
}

func errPairingNotFound() error {
	return tandem.Errorf(tandem.ENOTFOUND, "pairing code is not valid or was already used")
}

func errPairingExpired() error { return tandem.Errorf(tandem.EGONE, "pairing code expired") }

// usePairing marks the unused pairing with this hash used at now and
// returns it: ENOTFOUND when there is none, EGONE (and a nil pairing) when
// it expired at or before now, in which case it is marked used all the
// same: the caller decides whether to keep that.
func usePairing(ctx context.Context, tx *sql.Tx, hash []byte, now time.Time) (*tandem.Pairing, error) {
	if len(hash) == 0 {
		return nil, errPairingNotFound()
	}
	p := tandem.Pairing{Hash: bytes.Clone(hash)}
	var created, expires int64
	err := tx.QueryRowContext(ctx, `UPDATE pairings SET used_at = $2 WHERE hash = $1 AND used_at IS NULL
		RETURNING verification_id, step, created_at, expires_at`, hash, millis(now)).
		Scan(&p.VerificationID, &p.Step, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errPairingNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("use pairing: %w", err)
	}
	if expires <= millis(now) {
		return nil, errPairingExpired()
	}
	p.CreatedAt, p.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &p, nil
}

// PeekPairing returns the unused pairing with this hash, leaving it unused.
// Errors: ENOTFOUND and EGONE as for UsePairing, except that an expired
// pairing stays unused.
func (db *DB) PeekPairing(ctx context.Context, hash []byte, now time.Time) (*tandem.Pairing, error) {
	if len(hash) == 0 {
		return nil, errPairingNotFound()
	}
	p := tandem.Pairing{Hash: bytes.Clone(hash)}
	var created, expires int64
	err := db.reader.QueryRowContext(ctx, `SELECT verification_id, step, created_at, expires_at FROM pairings
		WHERE hash = $1 AND used_at IS NULL`, hash).Scan(&p.VerificationID, &p.Step, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errPairingNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("peek pairing: %w", err)
	}
	if expires <= millis(now) {
		return nil, errPairingExpired()
	}
	p.CreatedAt, p.ExpiresAt = fromMillis(created), fromMillis(expires)
	return &p, nil
}

// CreateChallenge stores the challenge c, created at the store's clock, and
// deletes some of the challenges that expired more than an hour before.
// Errors: EINVALID when c has no value, credential id or expiry; ECONFLICT
// when a challenge with this value exists. No error names the value.
func (db *DB) CreateChallenge(ctx context.Context, c tandem.Challenge) error {
	if err := checkChallenge(c); err != nil {
		return err
	}
	now := db.Now()
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return insertChallenges(ctx, tx, []tandem.Challenge{c}, now)
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("create challenge: %w", err)
	}
	return nil
}

// checkChallenge checks what the store needs of a new challenge.
func checkChallenge(c tandem.Challenge) error {
	switch {
	case c.Value == "":
		return tandem.Errorf(tandem.EINVALID, "challenge value is required")
	case c.CredID == "":
		return tandem.Errorf(tandem.EINVALID, "challenge credential id is required")
	case c.ExpiresAt.IsZero():
		return tandem.Errorf(tandem.EINVALID, "challenge has no expiry")
	}
	return nil
}

// insertChallenges deletes up to challengeSweep challenges that expired
// more than challengeRetention before now, then stores the challenges
// (checked by checkChallenge), created at now.
func insertChallenges(ctx context.Context, tx *sql.Tx, challenges []tandem.Challenge, now time.Time) error {
	if _, err := tx.ExecContext(ctx, sweepChallengesQuery, millis(now.Add(-challengeRetention)), challengeSweep); err != nil {
		return fmt.Errorf("delete expired challenges: %w", err)
	}
	for _, c := range challenges {
		var vid any
		if c.VerificationID != "" {
			vid = c.VerificationID
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO challenges (value, cred_id, verification_id, created_at, expires_at, used_at)
			VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT DO NOTHING`,
			c.Value, c.CredID, vid, millis(now), millis(c.ExpiresAt))
		if err := oneRow(r, err); err == errNoRow {
			return tandem.Errorf(tandem.ECONFLICT, "the challenge already exists")
		} else if err != nil {
			return err
		}
	}
	return nil
}

// sweepChallengesQuery deletes up to $2 challenges that expired before $1,
// the longest expired first, through the index challenges_expires_at.
const sweepChallengesQuery = `DELETE FROM challenges WHERE value IN
	(SELECT value FROM challenges WHERE expires_at < $1 ORDER BY expires_at LIMIT $2)`

// UseChallenge consumes the challenge value of the device credID at now and
// returns it. Errors: ENOTFOUND ("challenge is not valid or was already
// used") when no unused challenge of credID has this value — a challenge of
// another device is left unused; EGONE ("challenge expired") when it
// expired at or before now, in which case it is used up all the same.
func (db *DB) UseChallenge(ctx context.Context, value, credID string, now time.Time) (*tandem.Challenge, error) {
	return useOnce(ctx, db, "challenge", func(ctx context.Context, tx *sql.Tx) (*tandem.Challenge, error) {
		return useChallenge(ctx, tx, value, credID, now)
	}, errChallengeExpired)
}

func errChallengeNotFound() error {
	return tandem.Errorf(tandem.ENOTFOUND, "challenge is not valid or was already used")
}

func errChallengeExpired() error { return tandem.Errorf(tandem.EGONE, "challenge expired") }

// useChallenge marks the unused challenge value of credID used at now and
// returns it: ENOTFOUND when there is none, EGONE (and a nil challenge)
// when it expired at or before now, in which case it is marked used all
// the same: the caller decides whether to keep that.
func useChallenge(ctx context.Context, tx *sql.Tx, value, credID string, now time.Time) (*tandem.Challenge, error) {
	if value == "" || credID == "" {
		return nil, errChallengeNotFound()
	}
	c := tandem.Challenge{Value: value, CredID: credID}
	var vid sql.NullString
	var expires int64
	err := tx.QueryRowContext(ctx, `UPDATE challenges SET used_at = $3
		WHERE value = $1 AND cred_id = $2 AND used_at IS NULL
		RETURNING verification_id, expires_at`, value, credID, millis(now)).Scan(&vid, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errChallengeNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("use challenge: %w", err)
	}
	if expires <= millis(now) {
		return nil, errChallengeExpired()
	}
	c.VerificationID, c.ExpiresAt = vid.String, fromMillis(expires)
	return &c, nil
}

// PeekChallenge returns the unused challenge value of the device credID,
// leaving it unused. Errors: ENOTFOUND and EGONE as for UseChallenge,
// except that an expired challenge stays unused.
func (db *DB) PeekChallenge(ctx context.Context, value, credID string, now time.Time) (*tandem.Challenge, error) {
	if value == "" || credID == "" {
		return nil, errChallengeNotFound()
	}
	c := tandem.Challenge{Value: value, CredID: credID}
	var vid sql.NullString
	var expires int64
	err := db.reader.QueryRowContext(ctx, `SELECT verification_id, expires_at FROM challenges
		WHERE value = $1 AND cred_id = $2 AND used_at IS NULL`, value, credID).Scan(&vid, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errChallengeNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("peek challenge: %w", err)
	}
	if expires <= millis(now) {
		return nil, errChallengeExpired()
	}
	c.VerificationID, c.ExpiresAt = vid.String, fromMillis(expires)
	return &c, nil
}

// inboxQuery selects the unexpired items of a device, oldest first.
const inboxQuery = `SELECT id, cred_id, verification_id, step, created_at, expires_at FROM inbox
	WHERE cred_id = $1 AND expires_at > $2 ORDER BY created_at, id`

// Inbox returns the items of the device credID that expire after now,
// oldest first (ties in insertion order). The list is empty, not nil, when
// there are none.
func (db *DB) Inbox(ctx context.Context, credID string, now time.Time) ([]tandem.InboxItem, error) {
	items, err := db.inbox(ctx, inboxQuery, credID, millis(now))
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	return items, nil
}

// userInboxQuery selects the unexpired items of every device of a user of
// a workspace, oldest first.
const userInboxQuery = `SELECT i.id, i.cred_id, i.verification_id, i.step, i.created_at, i.expires_at
	FROM inbox i JOIN devices d ON d.cred_id = i.cred_id
	WHERE d.workspace_id = (SELECT id FROM workspaces WHERE name = $1) AND d.user_id = $2
	AND i.expires_at > $3 ORDER BY i.created_at, i.id`

// UserInbox returns the items that expire after now of every device of the
// user userID of the workspace, whatever the device's state, oldest first
// (ties in insertion order). The list is empty, not nil, when there are
// none, also when the workspace does not exist.
func (db *DB) UserInbox(ctx context.Context, workspace, userID string, now time.Time) ([]tandem.InboxItem, error) {
	items, err := db.inbox(ctx, userInboxQuery, workspace, userID, millis(now))
	if err != nil {
		return nil, fmt.Errorf("user inbox: %w", err)
	}
	return items, nil
}

// inbox returns the inbox items selected by query, whose columns are those
// of inboxQuery.
func (db *DB) inbox(ctx context.Context, query string, args ...any) ([]tandem.InboxItem, error) {
	rows, err := db.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []tandem.InboxItem{}
	for rows.Next() {
		var it tandem.InboxItem
		var created, expires int64
		if err := rows.Scan(&it.ID, &it.CredID, &it.VerificationID, &it.Step, &created, &expires); err != nil {
			return nil, err
		}
		it.CreatedAt, it.ExpiresAt = fromMillis(created), fromMillis(expires)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// countUserEventsQuery counts the events of a kind of a user of a
// workspace at or after a time, through the index user_events_user.
const countUserEventsQuery = `SELECT COUNT(*), MAX(at) FROM user_events
	WHERE workspace_id = (SELECT id FROM workspaces WHERE name = $1)
	AND user_id = $2 AND kind = $3 AND at >= $4`

// CountUserEvents returns how many events of kind the user userID of the
// workspace has at or after since (to the millisecond), and the time of the
// latest of them in UTC, zero when there is none. An unknown workspace has
// no events. Events are only kept for a day (see Commit), so a since more
// than a day before the latest event written may miss some.
func (db *DB) CountUserEvents(ctx context.Context, workspace, userID, kind string, since time.Time) (int, time.Time, error) {
	var n int
	var latest sql.NullInt64
	if err := db.reader.QueryRowContext(ctx, countUserEventsQuery, workspace, userID, kind, millis(since)).
		Scan(&n, &latest); err != nil {
		return 0, time.Time{}, fmt.Errorf("count user events: %w", err)
	}
	return n, fromNullMillis(latest), nil
}
