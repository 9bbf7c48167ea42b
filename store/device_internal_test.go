package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"
	"github.com/tandem-id/tandem"
)

// deviceTestDB returns a file database with the workspace acme, the
// verification v1 and the device d1.
func deviceTestDB(t *testing.T) *DB {
	t.Helper()
	ctx := t.Context()
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"))
	if _, err := db.ApplyWorkspace(ctx, tandem.WorkspaceDoc{Name: "acme"}, 0); err != nil {
		t.Fatal(err)
	}
	createTestVerification(t, db, "v1", 1)
	d := &tandem.Device{CredID: "d1", Workspace: "acme", UserID: "u", PublicKey: json.RawMessage(`{}`),
		Thumbprint: "tp", State: tandem.DeviceActive}
	if err := db.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{d}}); err != nil {
		t.Fatal(err)
	}
	return db
}

func createTestVerification(t *testing.T, db *DB, id string, link byte) *tandem.Verification {
	t.Helper()
	v := &tandem.Verification{ID: id, Workspace: "acme", Status: tandem.StatusPending, LinkHash: []byte{link},
		ExpiresAt: time.UnixMilli(1_900_000_000_000), Steps: []tandem.Step{{Index: 0, Status: tandem.StepPending}}}
	if err := db.CreateVerification(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	return v
}

func countRows(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.reader.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDeviceDeleteRemovesRows checks the cascades at the table level.
func TestDeviceDeleteRemovesRows(t *testing.T) {
	ctx := t.Context()
	db := deviceTestDB(t)
	createTestVerification(t, db, "v2", 2)
	exp := time.UnixMilli(1_900_000_000_000)
	if err := db.Commit(ctx, tandem.Commit{Inbox: []tandem.InboxItem{
		{CredID: "d1", VerificationID: "v1", ExpiresAt: exp}, {CredID: "d1", VerificationID: "v2", ExpiresAt: exp},
	}}); err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"v1", "v2"} {
		if err := db.CreatePairing(ctx, tandem.Pairing{Hash: []byte{byte(i)}, VerificationID: v, ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateChallenge(ctx, tandem.Challenge{Value: "c", CredID: "d1", VerificationID: "v1", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}

	// Deleting a verification (no API does yet) takes its pairings and
	// inbox items.
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM verifications WHERE id = 'v1'`); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int{"pairings": 1, "inbox": 1, "devices": 1, "challenges": 1} {
		if n := countRows(t, db, table); n != want {
			t.Errorf("%s has %d rows after deleting a verification, want %d", table, n, want)
		}
	}
	// Deleting the workspace takes the rest but the challenge, which has
	// no key to anything and waits for its clean-up.
	if err := db.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int{"pairings": 0, "inbox": 0, "devices": 0, "verifications": 0, "challenges": 1} {
		if n := countRows(t, db, table); n != want {
			t.Errorf("%s has %d rows after deleting the workspace, want %d", table, n, want)
		}
	}
}

// TestChallengeCleanup checks that CreateChallenge deletes challenges that
// expired more than an hour ago, at most challengeSweep at a time.
func TestChallengeCleanup(t *testing.T) {
	ctx := t.Context()
	db := deviceTestDB(t)
	now := time.UnixMilli(1_900_000_000_000).UTC()
	db.Now = func() time.Time { return now }
	const old = challengeSweep + 20
	for i := range old {
		c := tandem.Challenge{Value: fmt.Sprintf("old-%d", i), CredID: "d1", ExpiresAt: now.Add(-challengeRetention - time.Duration(i+1)*time.Millisecond)}
		if _, err := db.writer.ExecContext(ctx, `INSERT INTO challenges (value, cred_id, created_at, expires_at)
			VALUES ($1, $2, 0, $3)`, c.Value, c.CredID, millis(c.ExpiresAt)); err != nil {
			t.Fatal(err)
		}
	}
	// Expired, but less than an hour ago, or exactly an hour ago: kept.
	for i, exp := range []time.Time{now.Add(-challengeRetention), now.Add(-time.Minute), now.Add(time.Minute)} {
		if err := db.CreateChallenge(ctx, tandem.Challenge{Value: fmt.Sprintf("recent-%d", i), CredID: "d1", ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
	}
	// The first create deleted challengeSweep of the old ones, the longest
	// expired first; the next ones the rest.
	if n := countRows(t, db, "challenges"); n != 3 {
		t.Errorf("%d challenges left, want the 3 recent ones", n)
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT value FROM challenges ORDER BY value`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var left []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		left = append(left, v)
	}
	if diff := cmp.Diff([]string{"recent-0", "recent-1", "recent-2"}, left); diff != "" {
		t.Errorf("challenges left (-want +got):\n%s", diff)
	}
}

// TestChallengeCleanupBounded checks that one CreateChallenge deletes no
// more than challengeSweep challenges.
func TestChallengeCleanupBounded(t *testing.T) {
	ctx := t.Context()
	db := deviceTestDB(t)
	now := time.UnixMilli(1_900_000_000_000).UTC()
	db.Now = func() time.Time { return now }
	const old = challengeSweep + 20
	for i := range old {
		if _, err := db.writer.ExecContext(ctx, `INSERT INTO challenges (value, cred_id, created_at, expires_at)
			VALUES ($1, 'd1', 0, $2)`, fmt.Sprintf("old-%03d", i), millis(now.Add(-2*time.Hour))-int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateChallenge(ctx, tandem.Challenge{Value: "new", CredID: "d1", ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "challenges"); n != old-challengeSweep+1 {
		t.Errorf("%d challenges after one create, want %d", n, old-challengeSweep+1)
	}
	// The longest expired went first: the ones with the highest numbers.
	var newest string
	if err := db.reader.QueryRowContext(ctx, `SELECT MAX(value) FROM challenges WHERE value LIKE 'old-%'`).Scan(&newest); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("old-%03d", old-challengeSweep-1); newest != want {
		t.Errorf("oldest kept challenge is %s, want %s", newest, want)
	}
}

// TestDeviceContextJSON checks the stored form of a verification's device
// context: {} when none, and no paired_at when PairedAt is zero.
func TestDeviceContextJSON(t *testing.T) {
	ctx := t.Context()
	db := deviceTestDB(t)
	stored := func() string {
		t.Helper()
		var s string
		if err := db.reader.QueryRowContext(ctx, `SELECT device FROM verifications WHERE id = 'v1'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := stored(); s != `{}` {
		t.Errorf("device context of a new verification stored as %s, want {}", s)
	}
	v, err := db.GetVerification(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	v.Device = tandem.DeviceContext{CredID: "d1", Platform: "ios"}
	if err := db.UpdateVerification(ctx, v); err != nil {
		t.Fatal(err)
	}
	if s := stored(); s != `{"cred_id":"d1","platform":"ios"}` {
		t.Errorf("device context without a pairing time stored as %s", s)
	}
	v.Device.PairedAt = time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, time.FixedZone("IST", 5*3600+1800))
	if err := db.UpdateVerification(ctx, v); err != nil {
		t.Fatal(err)
	}
	if s := stored(); !strings.Contains(s, `"paired_at":"2030-01-02T03:04:05.123Z"`) {
		t.Errorf("device context stored as %s, want the pairing time in UTC to the millisecond", s)
	}
}

// TestMigrateDevicesKeepsRows migrates a database holding verifications
// from version 2: its steps become web steps of no group without state, and
// its verifications have no device. The migration then goes down and up
// again.
func TestMigrateDevicesKeepsRows(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tandem.db")
	raw, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(ON)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	p, err := newProvider(goose.DialectSQLite3, raw, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO workspaces (id, name, version, created_at, updated_at) VALUES ('w', 'acme', 1, 0, 0)`,
		`INSERT INTO verifications (id, workspace_id, app_id, application, workflow, modules, user_id,
			allow_new_device, metadata, redirect_url, web, status, claims, reason, link_hash, created_at,
			updated_at, expires_at, version)
			VALUES ('v1', 'w', 'a', 'portal', 'kyc', '[]', 'u', 0, 'null', '', '{}', 'pending', 'null', '', X'01', 0, 0, 1, 1)`,
		`INSERT INTO verification_steps (verification_id, idx, type, display_name, status, reason, attempts)
			VALUES ('v1', 0, 'number_prompt', 'Phone', 'pending', '', 0)`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}

	db := openTest(t, "sqlite:"+path)
	v, err := db.GetVerification(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	want := []tandem.Step{{Index: 0, Type: "number_prompt", DisplayName: "Phone", Status: tandem.StepPending, Side: "web", Group: -1}}
	if diff := cmp.Diff(want, v.Steps); diff != "" {
		t.Errorf("steps after the migration (-want +got):\n%s", diff)
	}
	if v.Device != (tandem.DeviceContext{}) {
		t.Errorf("device context after the migration: %+v, want none", v.Device)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := p.DownTo(ctx, 2); err != nil {
		t.Fatalf("migrate down to 2: %v", err)
	}
	var n int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM verification_steps`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d steps after migrating down (%v), want 1", n, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("migrate up again: %v", err)
	}
	db = openTest(t, "sqlite:"+path)
	if err := db.Ready(ctx); err != nil {
		t.Error(err)
	}
}

// TestDeviceQueryPlans checks that the device queries use their indexes.
func TestDeviceQueryPlans(t *testing.T) {
	db := deviceTestDB(t)
	for _, tc := range []struct {
		name, query string
		args        []any
		want        string
	}{
		{"ByThumbprint", `SELECT ` + deviceColumns + ` FROM devices d JOIN workspaces w ON w.id = d.workspace_id
			WHERE w.name = $1 AND d.thumbprint = $2`, []any{"acme", "tp"}, "SEARCH d USING INDEX sqlite_autoindex_devices_2"},
		{"ByCredID", `SELECT ` + deviceColumns + ` FROM devices d JOIN workspaces w ON w.id = d.workspace_id
			WHERE d.cred_id = $1`, []any{"d1"}, "SEARCH d USING INDEX sqlite_autoindex_devices_1"},
		{"RevokeOthers", `SELECT cred_id FROM devices WHERE workspace_id = (SELECT id FROM workspaces WHERE name = $1)
			AND user_id = $2 AND state = 'active' AND cred_id <> $3`, []any{"acme", "u", "d1"}, "SEARCH devices USING INDEX devices_user"},
		{"Withdraw", `SELECT id FROM inbox WHERE verification_id = $1`, []any{"v1"}, "SEARCH inbox USING COVERING INDEX inbox_verification_id"},
		{"Pairing", `SELECT step FROM pairings WHERE hash = $1 AND used_at IS NULL`, []any{[]byte{1}}, "SEARCH pairings USING INDEX sqlite_autoindex_pairings_1"},
		{"Challenge", `SELECT expires_at FROM challenges WHERE value = $1 AND cred_id = $2 AND used_at IS NULL`, []any{"c", "d1"}, "SEARCH challenges USING INDEX sqlite_autoindex_challenges_1"},
		{"ChallengeSweep", `SELECT value FROM challenges WHERE expires_at < $1 ORDER BY expires_at LIMIT $2`, []any{int64(0), 10}, "SEARCH challenges USING INDEX challenges_expires_at"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantPlan(t, db, tc.query, tc.args, tc.want) })
	}
	// A device's inbox is small: sorting it is fine, scanning the table
	// is not.
	for _, tc := range []struct {
		query string
		args  []any
	}{
		{inboxQuery, []any{"d1", int64(0)}},
		{`SELECT ` + deviceColumns + ` FROM devices d JOIN workspaces w ON w.id = d.workspace_id
			WHERE w.name = $1 AND d.user_id = $2 ORDER BY d.created_at DESC, d.cred_id`, []any{"acme", "u"}},
	} {
		plan := queryPlan(t, db, tc.query, tc.args)
		if strings.Contains(plan, "SCAN inbox") || strings.Contains(plan, "SCAN d") || !strings.Contains(plan, "USING INDEX") {
			t.Errorf("plan of %s:\n%s\nwant an index search", tc.query, plan)
		}
	}
}
