package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
)

var _ tandem.VerificationStore = (*DB)(nil)

// How verifications are stored.
//
// A verification is one row of verifications plus one row of
// verification_steps per step (idx = Step.Index = position). Modules,
// Metadata, Claims, Web and Device are JSON text. Metadata is decoded back into
// map[string]any by encoding/json, so JSON numbers come back as float64,
// objects as map[string]any and arrays as []any, exactly as the HTTP layer
// decodes them in the first place. Module configs are re-encoded by
// encoding/json, which compacts them (without HTML escaping): compact
// configs, such as those the workspace store returns, come back byte for
// byte. A nil map or slice comes back nil and an empty one empty, except
// Steps, which comes back nil when there are none. Times are kept to the
// millisecond and come back in UTC; a zero FinishedAt, Step.StartedAt or
// Step.FinishedAt is stored as NULL and comes back zero. An empty
// BrowserHash or Step.State is stored as NULL and comes back nil; State is
// kept as bytes, byte for byte, and is not checked to be JSON.
// Device.PairedAt, Web.Location.ReadAt and Web.Location.RecordedAt are kept
// to the millisecond in UTC like the other times; a zero PairedAt is left
// out of the JSON and comes back zero, and a nil Web.Location comes back
// nil. Steps stored
// before migration 00003 come back with Side "web" and Group -1, and such
// verifications with a zero Device.
//
// The column location_at tells the purge sweep (LocationsToPurge) which
// verifications still hold raw coordinates: it is Web.Location.RecordedAt
// (or, when that is zero, UpdatedAt) while Web.Location is set and not
// Purged, and NULL otherwise. CreateVerification and UpdateVerification
// keep it.

// verificationColumns are the columns read for a verification, in the order
// of scanVerification.
const verificationColumns = `v.id, w.name, v.app_id, v.application, v.workflow, v.modules, v.user_id,
	v.allow_new_device, v.metadata, v.redirect_url, v.web, v.device, v.status, v.claims, v.reason,
	v.link_hash, v.browser_hash, v.created_at, v.updated_at, v.expires_at, v.finished_at, v.version`

// CreateVerification stores the new verification v, its steps and the audit
// events in one write transaction and sets v.Version to 1. Zero CreatedAt and
// UpdatedAt are set to the store's clock. Audit events with no workspace or
// verification id get v's, and a zero At gets the clock's time.
//
// Errors: EINVALID when v has no id, link hash or expiry, when a step's Index
// is not its position, or when an audit detail is not JSON; ENOTFOUND when
// the workspace does not exist; ECONFLICT when a verification with the same
// id or link hash exists. On error nothing is written and v is unchanged.
func (db *DB) CreateVerification(ctx context.Context, v *tandem.Verification, audit ...tandem.AuditEvent) error {
	if err := checkVerification(v); err != nil {
		return err
	}
	if len(v.LinkHash) == 0 {
		return tandem.Errorf(tandem.EINVALID, "verification %s has no link hash", v.ID)
	}
	now := db.Now()
	created, updated := v.CreatedAt, v.UpdatedAt
	if created.IsZero() {
		created = now
	}
	if updated.IsZero() {
		updated = created
	}
	modules, err := marshalJSON(v.Modules)
	if err != nil {
		return fmt.Errorf("create verification %s: encode modules: %w", v.ID, err)
	}
	metadata, err := marshalJSON(v.Metadata)
	if err != nil {
		return tandem.Errorf(tandem.EINVALID, "verification %s: metadata cannot be stored as JSON: %v", v.ID, err)
	}
	st, err := encodeState(v)
	if err != nil {
		return fmt.Errorf("create verification %s: %w", v.ID, err)
	}
	events, err := prepareAudit(audit, v, now)
	if err != nil {
		return err
	}

	err = db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// Two statements rather than INSERT ... SELECT: PostgreSQL would
		// type the parameters of a SELECT list as text.
		var wsID string
		err := tx.QueryRowContext(ctx, `SELECT id FROM workspaces WHERE name = $1`, v.Workspace).Scan(&wsID)
		if errors.Is(err, sql.ErrNoRows) {
			return tandem.Errorf(tandem.ENOTFOUND, "workspace %q not found", v.Workspace)
		} else if err != nil {
			return fmt.Errorf("find workspace: %w", err)
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO verifications (id, workspace_id, app_id, application,
			workflow, modules, user_id, allow_new_device, metadata, redirect_url, web, device, status,
			claims, reason, link_hash, browser_hash, created_at, updated_at, expires_at, finished_at, location_at,
			version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, 1)
			ON CONFLICT DO NOTHING`,
			v.ID, wsID, v.AppID, v.Application, v.Workflow, modules, v.UserID,
			v.AllowNewDevice, metadata, v.RedirectURL, st.web, st.device, string(v.Status), st.claims, v.Reason,
			v.LinkHash, nullBytes(v.BrowserHash), millis(created), millis(updated), millis(v.ExpiresAt),
			nullMillis(v.FinishedAt), locationAt(v, updated))
		if err := oneRow(r, err); err == errNoRow {
			return createConflict(ctx, tx, v.ID)
		} else if err != nil {
			return fmt.Errorf("insert verification: %w", err)
		}
		if err := insertSteps(ctx, tx, v.ID, v.Steps, false); err != nil {
			return err
		}
		return insertAudit(ctx, tx, events)
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("create verification %s: %w", v.ID, err)
	}
	v.CreatedAt, v.UpdatedAt, v.Version = created, updated, 1
	return nil
}

// createConflict explains why the insert of the verification id inserted
// nothing, without naming the link hash.
func createConflict(ctx context.Context, tx *sql.Tx, id string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM verifications WHERE id = $1`, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return tandem.Errorf(tandem.ECONFLICT, "verification %s already exists", id)
	}
	return tandem.Errorf(tandem.ECONFLICT, "another verification has the link of verification %s", id)
}

// GetVerification returns the verification with the given id and its steps,
// as of one snapshot, or an ENOTFOUND error naming the id.
func (db *DB) GetVerification(ctx context.Context, id string) (*tandem.Verification, error) {
	v, err := db.loadVerification(ctx, `v.id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("get verification %s: %w", id, err)
	}
	if v == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "verification %s not found", id)
	}
	return v, nil
}

// VerificationByLink returns the verification whose link hash is hash, or
// an ENOTFOUND error. Neither error names the hash.
func (db *DB) VerificationByLink(ctx context.Context, hash []byte) (*tandem.Verification, error) {
	if len(hash) == 0 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "verification link not found")
	}
	v, err := db.loadVerification(ctx, `v.link_hash = $1`, hash)
	if err != nil {
		return nil, fmt.Errorf("verification by link: %w", err)
	}
	if v == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "verification link not found")
	}
	return v, nil
}

// loadVerification reads the verification selected by where (with one
// argument) and its steps in one read transaction, or returns nil.
func (db *DB) loadVerification(ctx context.Context, where string, arg any) (*tandem.Verification, error) {
	var v *tandem.Verification
	err := db.read(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `SELECT `+verificationColumns+`
			FROM verifications v JOIN workspaces w ON w.id = v.workspace_id
			WHERE `+where, arg)
		var err error
		if v, err = scanVerification(row); errors.Is(err, sql.ErrNoRows) {
			v = nil
			return nil
		} else if err != nil {
			return err
		}
		v.Steps, err = loadSteps(ctx, tx, v.ID)
		return err
	})
	return v, err
}

func scanVerification(row *sql.Row) (*tandem.Verification, error) {
	var v tandem.Verification
	var modules, metadata, web, device, claims, status string
	var created, updated, expires int64
	var finished sql.NullInt64
	err := row.Scan(&v.ID, &v.Workspace, &v.AppID, &v.Application, &v.Workflow, &modules, &v.UserID,
		&v.AllowNewDevice, &metadata, &v.RedirectURL, &web, &device, &status, &claims, &v.Reason,
		&v.LinkHash, &v.BrowserHash, &created, &updated, &expires, &finished, &v.Version)
	if err != nil {
		return nil, err
	}
	v.Status = tandem.Status(status)
	v.CreatedAt, v.UpdatedAt, v.ExpiresAt = fromMillis(created), fromMillis(updated), fromMillis(expires)
	v.FinishedAt = fromNullMillis(finished)
	if len(v.BrowserHash) == 0 {
		v.BrowserHash = nil
	}
	for _, f := range []struct {
		name string
		text string
		dst  any
	}{
		{"modules", modules, &v.Modules},
		{"metadata", metadata, &v.Metadata},
		{"web", web, &v.Web},
		{"device", device, &v.Device},
		{"claims", claims, &v.Claims},
	} {
		if err := json.Unmarshal([]byte(f.text), f.dst); err != nil {
			return nil, fmt.Errorf("decode %s of verification %s: %w", f.name, v.ID, err)
		}
	}
	return &v, nil
}

// loadSteps returns the steps of a verification ordered by index.
func loadSteps(ctx context.Context, tx *sql.Tx, id string) ([]tandem.Step, error) {
	rows, err := tx.QueryContext(ctx, `SELECT idx, type, display_name, status, reason, attempts, side, grp, state,
		started_at, finished_at
		FROM verification_steps WHERE verification_id = $1 ORDER BY idx`, id)
	if err != nil {
		return nil, fmt.Errorf("load steps: %w", err)
	}
	defer rows.Close()
	var steps []tandem.Step
	for rows.Next() {
		var s tandem.Step
		var status string
		var started, finished sql.NullInt64
		var state []byte
		if err := rows.Scan(&s.Index, &s.Type, &s.DisplayName, &status, &s.Reason, &s.Attempts,
			&s.Side, &s.Group, &state, &started, &finished); err != nil {
			return nil, fmt.Errorf("load steps: %w", err)
		}
		s.Status = tandem.StepStatus(status)
		if len(state) > 0 {
			s.State = json.RawMessage(state)
		}
		s.StartedAt, s.FinishedAt = fromNullMillis(started), fromNullMillis(finished)
		steps = append(steps, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load steps: %w", err)
	}
	return steps, nil
}

// UpdateVerification stores the changes of v, its steps and the audit
// events in one write transaction when the stored version is v.Version, and
// then increments v.Version. A zero UpdatedAt is set to the store's clock;
// audit events are completed as by CreateVerification.
//
// Only what may change during a run is written: Web, Device, Status,
// Claims, Reason, BrowserHash, UpdatedAt, ExpiresAt, FinishedAt and the
// steps (a step list that grew or shrank is stored as it is; of a step, its
// Status, Reason, Attempts, Side, Group, State and times). What was fixed at
// creation — Workspace, AppID, Application, Workflow, Modules, UserID,
// AllowNewDevice, Metadata, RedirectURL, LinkHash, CreatedAt and the Type
// and DisplayName of existing steps — is ignored.
//
// Errors: EINVALID as for CreateVerification; ECONFLICT ("verification ID
// was changed by another request") when the stored version differs;
// ENOTFOUND when there is no such verification. On error nothing is written
// and v is unchanged.
func (db *DB) UpdateVerification(ctx context.Context, v *tandem.Verification, audit ...tandem.AuditEvent) error {
	now := db.Now()
	u, err := prepareUpdate(v, now)
	if err != nil {
		return err
	}
	events, err := prepareAudit(audit, v, now)
	if err != nil {
		return err
	}
	err = db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := u.write(ctx, tx); err != nil {
			return err
		}
		return insertAudit(ctx, tx, events)
	})
	if err != nil {
		if tandem.ErrorCode(err) != tandem.EINTERNAL {
			return err
		}
		return fmt.Errorf("update verification %s: %w", v.ID, err)
	}
	u.done()
	return nil
}

// verificationUpdate is a versioned update of a verification, checked and
// encoded before its write transaction begins.
type verificationUpdate struct {
	v       *tandem.Verification
	updated time.Time
	state   encodedState
}

// prepareUpdate checks and encodes the update of v; a zero UpdatedAt
// becomes now.
func prepareUpdate(v *tandem.Verification, now time.Time) (*verificationUpdate, error) {
	if err := checkVerification(v); err != nil {
		return nil, err
	}
	u := &verificationUpdate{v: v, updated: v.UpdatedAt}
	if u.updated.IsZero() {
		u.updated = now
	}
	var err error
	if u.state, err = encodeState(v); err != nil {
		return nil, fmt.Errorf("update verification %s: %w", v.ID, err)
	}
	return u, nil
}

// write stores the update in tx if the stored version is still v.Version:
// ECONFLICT when it is not, ENOTFOUND when there is no such verification.
func (u *verificationUpdate) write(ctx context.Context, tx *sql.Tx) error {
	v := u.v
	r, err := tx.ExecContext(ctx, `UPDATE verifications SET web = $3, device = $4, status = $5, claims = $6,
		reason = $7, browser_hash = $8, updated_at = $9, expires_at = $10, finished_at = $11,
		location_at = $12, version = version + 1
		WHERE id = $1 AND version = $2`,
		v.ID, v.Version, u.state.web, u.state.device, string(v.Status), u.state.claims, v.Reason,
		nullBytes(v.BrowserHash), millis(u.updated), millis(v.ExpiresAt), nullMillis(v.FinishedAt),
		locationAt(v, u.updated))
	if err := oneRow(r, err); err == errNoRow {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM verifications WHERE id = $1`, v.ID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return tandem.Errorf(tandem.ENOTFOUND, "verification %s not found", v.ID)
		}
		return tandem.Errorf(tandem.ECONFLICT, "verification %s was changed by another request", v.ID)
	} else if err != nil {
		return fmt.Errorf("update verification: %w", err)
	}
	if err := insertSteps(ctx, tx, v.ID, v.Steps, true); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM verification_steps WHERE verification_id = $1 AND idx >= $2`,
		v.ID, len(v.Steps)); err != nil {
		return fmt.Errorf("delete steps: %w", err)
	}
	return nil
}

// done records in v that the update was committed.
func (u *verificationUpdate) done() {
	u.v.UpdatedAt = u.updated
	u.v.Version++
}

// checkVerification checks what both writes need of v.
func checkVerification(v *tandem.Verification) error {
	if v == nil || v.ID == "" {
		return tandem.Errorf(tandem.EINVALID, "verification id is required")
	}
	if v.ExpiresAt.IsZero() {
		return tandem.Errorf(tandem.EINVALID, "verification %s has no expiry", v.ID)
	}
	for i, s := range v.Steps {
		if s.Index != i {
			return tandem.Errorf(tandem.EINVALID, "step %d of verification %s has index %d", i, v.ID, s.Index)
		}
	}
	return nil
}

// encodedState is the JSON text of what a run changes of a verification
// besides its columns.
type encodedState struct {
	web, device, claims string
}

// encodeState returns the JSON text of v's web context, device context and
// claims. Device.PairedAt and the times of Web.Location are kept to the
// millisecond, in UTC; v is not changed.
func encodeState(v *tandem.Verification) (encodedState, error) {
	var st encodedState
	var err error
	web := v.Web
	if web.Location != nil {
		loc := *web.Location
		loc.ReadAt, loc.RecordedAt = storedTime(loc.ReadAt), storedTime(loc.RecordedAt)
		web.Location = &loc
	}
	if st.web, err = marshalJSON(web); err != nil {
		return st, fmt.Errorf("encode web context: %w", err)
	}
	device := v.Device
	device.PairedAt = storedTime(device.PairedAt)
	if st.device, err = marshalJSON(device); err != nil {
		return st, fmt.Errorf("encode device context: %w", err)
	}
	if st.claims, err = marshalJSON(v.Claims); err != nil {
		return st, fmt.Errorf("encode claims: %w", err)
	}
	return st, nil
}

// locationAt is the stored location_at of v written at updated: when its
// raw browser coordinates were recorded, or NULL when it holds none.
func locationAt(v *tandem.Verification, updated time.Time) any {
	loc := v.Web.Location
	if loc == nil || loc.Purged {
		return nil
	}
	if !loc.RecordedAt.IsZero() {
		return millis(loc.RecordedAt)
	}
	return millis(updated)
}

// storedTime returns t as a JSON document keeps it: to the millisecond, in
// UTC, and zero when zero.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return fromMillis(millis(t))
}

// marshalJSON is json.Marshal without HTML escaping, so that JSON text that
// is already compact (module configs) is stored byte for byte.
func marshalJSON(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// stepColumns is the number of columns insertSteps writes per step.
const stepColumns = 12

// insertSteps writes steps with one statement. With upsert, existing steps
// get their status, reason, attempts, side, group, state and times, and only
// those that differ are rewritten.
func insertSteps(ctx context.Context, tx *sql.Tx, id string, steps []tandem.Step, upsert bool) error {
	if len(steps) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO verification_steps (verification_id, idx, type, display_name, status, reason,
		attempts, side, grp, state, started_at, finished_at) VALUES `)
	writeValues(&q, len(steps), stepColumns)
	if upsert {
		// Portable "IS DISTINCT FROM" for the nullable columns: the first
		// term catches NULL against a value, the second two values.
		q.WriteString(` ON CONFLICT (verification_id, idx) DO UPDATE SET status = excluded.status,
			reason = excluded.reason, attempts = excluded.attempts,
			side = excluded.side, grp = excluded.grp, state = excluded.state,
			started_at = excluded.started_at, finished_at = excluded.finished_at
			WHERE verification_steps.status <> excluded.status
			OR verification_steps.reason <> excluded.reason
			OR verification_steps.attempts <> excluded.attempts
			OR verification_steps.side <> excluded.side
			OR verification_steps.grp <> excluded.grp
			OR (verification_steps.state IS NULL) <> (excluded.state IS NULL)
			OR verification_steps.state <> excluded.state
			OR (verification_steps.started_at IS NULL) <> (excluded.started_at IS NULL)
			OR verification_steps.started_at <> excluded.started_at
			OR (verification_steps.finished_at IS NULL) <> (excluded.finished_at IS NULL)
			OR verification_steps.finished_at <> excluded.finished_at`)
	}
	args := make([]any, 0, len(steps)*stepColumns)
	for _, s := range steps {
		args = append(args, id, s.Index, s.Type, s.DisplayName, string(s.Status), s.Reason, s.Attempts,
			s.Side, s.Group, nullBytes(s.State), nullMillis(s.StartedAt), nullMillis(s.FinishedAt))
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("write steps: %w", err)
	}
	return nil
}

// expiredQuery selects the verifications to expire. Its status list is the
// one of the partial index verifications_expiry, which serves it in order.
const expiredQuery = `SELECT id FROM verifications
	WHERE status IN ('pending', 'in_progress') AND expires_at <= $1
	ORDER BY expires_at, id LIMIT $2`

// ExpiredVerifications returns the ids of up to limit verifications that are
// pending or in progress and expire at or before now, the longest expired
// first (ties by id). A limit of zero or less returns none.
func (db *DB) ExpiredVerifications(ctx context.Context, now time.Time, limit int) ([]string, error) {
	ids := []string{}
	if limit <= 0 {
		return ids, nil
	}
	rows, err := db.reader.QueryContext(ctx, expiredQuery, millis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("expired verifications: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("expired verifications: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("expired verifications: %w", err)
	}
	return ids, nil
}

// locationsQuery selects the verifications of a workspace whose raw
// coordinates may be purged. Its "location_at IS NOT NULL" is the condition
// of the partial index verifications_location, which the planner uses only
// when the query states it.
const locationsQuery = `SELECT id FROM verifications
	WHERE workspace_id = (SELECT id FROM workspaces WHERE name = $1)
	AND location_at IS NOT NULL AND finished_at IS NOT NULL AND finished_at < $2
	ORDER BY finished_at, id LIMIT $3`

// LocationsToPurge returns the ids of up to limit verifications of the named
// workspace that finished before before and still hold raw coordinates (a
// Web.Location that is not Purged), the earliest finished first (ties by
// id). An unknown workspace, or a limit of zero or less, returns none. The
// list is empty, not nil, when there are none.
func (db *DB) LocationsToPurge(ctx context.Context, workspace string, before time.Time, limit int) ([]string, error) {
	ids := []string{}
	if limit <= 0 {
		return ids, nil
	}
	rows, err := db.reader.QueryContext(ctx, locationsQuery, workspace, millis(before), limit)
	if err != nil {
		return nil, fmt.Errorf("locations to purge of %s: %w", workspace, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("locations to purge of %s: %w", workspace, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("locations to purge of %s: %w", workspace, err)
	}
	return ids, nil
}

// AddAudit appends events to the audit log in one write transaction, in
// order. A zero At gets the store's clock; an empty VerificationID is
// stored as none (see ListAudit). EINVALID when a Detail is not JSON.
func (db *DB) AddAudit(ctx context.Context, events ...tandem.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	events, err := prepareAudit(events, nil, db.Now())
	if err != nil {
		return err
	}
	err = db.write(ctx, func(ctx context.Context, tx *sql.Tx) error { return insertAudit(ctx, tx, events) })
	if err != nil {
		return fmt.Errorf("add audit events: %w", err)
	}
	return nil
}

// ListAudit returns the audit events of the verification id, oldest first,
// with their ID and At (UTC) filled. An empty id lists the events recorded
// without a verification, such as refused requests, of every workspace. The
// list is empty, not nil, when there are none.
func (db *DB) ListAudit(ctx context.Context, verificationID string) ([]tandem.AuditEvent, error) {
	where, args := `verification_id = $1`, []any{verificationID}
	if verificationID == "" {
		where, args = `verification_id IS NULL`, nil
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT id, workspace, verification_id, actor, action, detail, addr, at
		FROM audit_events WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit of %s: %w", verificationID, err)
	}
	defer rows.Close()
	out := []tandem.AuditEvent{}
	for rows.Next() {
		var e tandem.AuditEvent
		var vid, detail sql.NullString
		var at int64
		if err := rows.Scan(&e.ID, &e.Workspace, &vid, &e.Actor, &e.Action, &detail, &e.Addr, &at); err != nil {
			return nil, fmt.Errorf("list audit of %s: %w", verificationID, err)
		}
		e.VerificationID, e.At = vid.String, fromMillis(at)
		if detail.Valid {
			e.Detail = json.RawMessage(detail.String)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit of %s: %w", verificationID, err)
	}
	return out, nil
}

// prepareAudit returns a copy of events completed with v's workspace and id
// (when v is not nil) and now, or an EINVALID error for a detail that is not
// JSON.
func prepareAudit(events []tandem.AuditEvent, v *tandem.Verification, now time.Time) ([]tandem.AuditEvent, error) {
	if len(events) == 0 {
		return nil, nil
	}
	out := make([]tandem.AuditEvent, len(events))
	for i, e := range events {
		if v != nil {
			if e.Workspace == "" {
				e.Workspace = v.Workspace
			}
			if e.VerificationID == "" {
				e.VerificationID = v.ID
			}
		}
		if e.At.IsZero() {
			e.At = now
		}
		if e.Detail != nil && !json.Valid(e.Detail) {
			return nil, tandem.Errorf(tandem.EINVALID, "detail of audit event %q is not JSON", e.Action)
		}
		out[i] = e
	}
	return out, nil
}

// auditColumns is the number of columns insertAudit writes per event.
const auditColumns = 7

// insertAudit writes events with one statement, in order, so that their ids
// increase in that order.
func insertAudit(ctx context.Context, tx *sql.Tx, events []tandem.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO audit_events (workspace, verification_id, actor, action, detail, addr, at) VALUES `)
	writeValues(&q, len(events), auditColumns)
	args := make([]any, 0, len(events)*auditColumns)
	for _, e := range events {
		var vid, detail any
		if e.VerificationID != "" {
			vid = e.VerificationID
		}
		if e.Detail != nil {
			detail = string(e.Detail)
		}
		args = append(args, e.Workspace, vid, e.Actor, e.Action, detail, e.Addr, millis(e.At))
	}
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("insert audit events: %w", err)
	}
	return nil
}

// writeValues writes rows groups of cols placeholders: ($1, $2), ($3, $4).
func writeValues(q *strings.Builder, rows, cols int) {
	n := 1
	for r := range rows {
		if r > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for c := range cols {
			if c > 0 {
				q.WriteString(", ")
			}
			q.WriteByte('$')
			q.WriteString(strconv.Itoa(n))
			n++
		}
		q.WriteByte(')')
	}
}

// nullMillis is the stored form of a time that may be unset: NULL for the
// zero time.
func nullMillis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return millis(t)
}

// fromNullMillis converts a stored time that may be NULL back; NULL is the
// zero time.
func fromNullMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return fromMillis(ms.Int64)
}

// nullBytes is the stored form of a hash that may be unset: NULL when empty.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
