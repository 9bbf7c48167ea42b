package store

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"
	"github.com/tandem-id/tandem"
)

// TestVerificationDeleteRemovesRows checks the cascade at the table level:
// no verification or step row of a deleted workspace is left behind, and
// its audit log is kept.
func TestVerificationDeleteRemovesRows(t *testing.T) {
	ctx := t.Context()
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"))
	doc := tandem.WorkspaceDoc{Name: "acme", Applications: []tandem.Application{{Name: "app", VerificationWay: tandem.WayWeb, Workflow: "wf"}}}
	if _, err := db.ApplyWorkspace(ctx, doc, 0); err != nil {
		t.Fatal(err)
	}
	now := time.UnixMilli(1_900_000_000_000)
	for i, id := range []string{"v1", "v2"} {
		v := &tandem.Verification{ID: id, Workspace: "acme", Status: tandem.StatusPending, LinkHash: []byte{byte(i)},
			ExpiresAt: now, Steps: []tandem.Step{{Index: 0, Status: tandem.StepPending}, {Index: 1, Status: tandem.StepPending}}}
		if err := db.CreateVerification(ctx, v, tandem.AuditEvent{Actor: tandem.ActorAPI, Action: "created"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]int{"verifications": 0, "verification_steps": 0, "audit_events": 2} {
		var n int
		if err := db.reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s has %d rows after the delete, want %d", table, n, want)
		}
	}
}

// TestQueryPlans checks that the hot queries use their indexes: the sweep
// reads the partial index in order (no sort), and lookups by link hash, by
// id and of the audit log are index searches.
func TestQueryPlans(t *testing.T) {
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"))
	for _, tc := range []struct {
		name, query string
		args        []any
		want        string
	}{
		{"Sweep", expiredQuery, []any{int64(0), 10}, "SEARCH verifications USING INDEX verifications_expiry"},
		{"ByLink", `SELECT ` + verificationColumns + ` FROM verifications v JOIN workspaces w ON w.id = v.workspace_id WHERE v.link_hash = $1`, []any{[]byte{1}}, "SEARCH v USING INDEX sqlite_autoindex_verifications_2"},
		{"Steps", `SELECT idx FROM verification_steps WHERE verification_id = $1 ORDER BY idx`, []any{"x"}, "SEARCH verification_steps USING"},
		{"Audit", `SELECT id FROM audit_events WHERE verification_id = $1 ORDER BY id`, []any{"x"}, "INDEX audit_events_verification_id"},
		{"User", `SELECT id FROM verifications WHERE workspace_id = $1 AND user_id = $2 ORDER BY created_at DESC`, []any{"w", "u"}, "SEARCH verifications USING INDEX verifications_user"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantPlan(t, db, tc.query, tc.args, tc.want) })
	}
	// The purge sweep searches the partial index of the workspace's
	// verifications that still hold coordinates; sorting those is fine,
	// scanning the table is not.
	t.Run("LocationsToPurge", func(t *testing.T) {
		plan := queryPlan(t, db, locationsQuery, []any{"acme", int64(0), 10})
		if !strings.Contains(plan, "SEARCH verifications USING INDEX verifications_location") || strings.Contains(plan, "SCAN") {
			t.Errorf("plan:\n%s\nwant a search of verifications_location and no scan", plan)
		}
	})
}

// TestLocationAt checks the stored location_at: the time the location was
// recorded, the update time when that is zero, and NULL for a purged
// location or none.
func TestLocationAt(t *testing.T) {
	ctx := t.Context()
	db := openTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tandem.db"))
	if _, err := db.ApplyWorkspace(ctx, tandem.WorkspaceDoc{Name: "acme"}, 0); err != nil {
		t.Fatal(err)
	}
	created := time.UnixMilli(1_900_000_000_000)
	recorded := created.Add(1500 * time.Microsecond)
	locationAt := func() sql.NullInt64 {
		t.Helper()
		var at sql.NullInt64
		if err := db.reader.QueryRowContext(ctx, `SELECT location_at FROM verifications WHERE id = 'v1'`).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	v := &tandem.Verification{ID: "v1", Workspace: "acme", Status: tandem.StatusInProgress, LinkHash: []byte{1},
		CreatedAt: created, ExpiresAt: created.Add(time.Hour),
		Web: tandem.WebContext{Location: &tandem.WebLocation{Lat: 1, Lon: 2, AccuracyM: 3, RecordedAt: recorded}}}
	if err := db.CreateVerification(ctx, v); err != nil {
		t.Fatal(err)
	}
	valid := func(ms int64) sql.NullInt64 { return sql.NullInt64{Int64: ms, Valid: true} }
	if got, want := locationAt(), valid(recorded.UnixMilli()); got != want {
		t.Errorf("location_at after create = %+v, want %+v (the recording time)", got, want)
	}
	for _, tc := range []struct {
		name     string
		location *tandem.WebLocation
		want     sql.NullInt64
	}{
		{"NoRecordedAt", &tandem.WebLocation{Lat: 1, Lon: 2}, valid(created.Add(time.Minute).UnixMilli())},
		{"Purged", &tandem.WebLocation{AccuracyM: 3, RecordedAt: recorded, Purged: true}, sql.NullInt64{}},
		{"Again", &tandem.WebLocation{Lat: 1, Lon: 2, RecordedAt: recorded.Add(time.Second)}, valid(recorded.Add(time.Second).UnixMilli())},
		{"None", nil, sql.NullInt64{}},
	} {
		v.Web.Location, v.UpdatedAt = tc.location, created.Add(time.Minute)
		if err := db.UpdateVerification(ctx, v); err != nil {
			t.Fatal(err)
		}
		if got := locationAt(); got != tc.want {
			t.Errorf("%s: location_at = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestMigrateLocationPurge migrates a database from version 4: its
// verifications that hold coordinates get location_at (their updated_at),
// and its workspaces no settings. The migration then goes down and up
// again.
func TestMigrateLocationPurge(t *testing.T) {
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
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	const loc = `"lat":1,"lon":2,"accuracy_m":3,"read_at":"2030-01-01T00:00:00Z","recorded_at":"2030-01-01T00:00:00Z"`
	insert := `INSERT INTO verifications (id, workspace_id, app_id, application, workflow, modules, user_id,
		allow_new_device, metadata, redirect_url, web, status, claims, reason, link_hash, created_at,
		updated_at, expires_at, finished_at, version)
		VALUES ($1, 'w', 'a', 'portal', 'kyc', '[]', 'u', 0, 'null', '', $2, 'completed', 'null', '', $3, 0, $4, 1, $5, 1)`
	if _, err := raw.ExecContext(ctx, `INSERT INTO workspaces (id, name, version, created_at, updated_at) VALUES ('w', 'acme', 1, 0, 0)`); err != nil {
		t.Fatal(err)
	}
	for i, row := range []struct {
		id, web  string
		finished int64
	}{
		{"located", `{"ip":"203.0.113.7","location":{` + loc + `}}`, 20},
		{"located-earlier", `{"location":{` + loc + `,"purged":false}}`, 10},
		{"purged", `{"location":{"lat":0,"lon":0,"accuracy_m":3,"read_at":"2030-01-01T00:00:00Z","recorded_at":"2030-01-01T00:00:00Z","purged":true}}`, 5},
		{"none", `{"ip":"203.0.113.7"}`, 5},
		{"null-location", `{"location":null}`, 5},
	} {
		if _, err := raw.ExecContext(ctx, insert, row.id, row.web, []byte{byte(i + 1)}, int64(100+i), row.finished); err != nil {
			t.Fatal(err)
		}
	}

	db := openTest(t, "sqlite:"+path)
	ids, err := db.LocationsToPurge(ctx, "acme", time.UnixMilli(1000), 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"located-earlier", "located"}, ids); diff != "" {
		t.Errorf("locations to purge after the migration (-want +got):\n%s", diff)
	}
	var at int64
	if err := db.reader.QueryRowContext(ctx, `SELECT location_at FROM verifications WHERE id = 'located'`).Scan(&at); err != nil || at != 100 {
		t.Errorf("location_at = %d (%v), want the updated_at 100", at, err)
	}
	ws, err := db.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Doc.Settings != nil {
		t.Errorf("settings after the migration = %+v, want nil", ws.Doc.Settings)
	}
	if res, err := db.ApplyWorkspace(ctx, tandem.WorkspaceDoc{Name: "acme"}, 1); err != nil || len(res.Changes) != 0 {
		t.Errorf("applying the migrated workspace again = %+v, %v; want no changes", res, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := p.DownTo(ctx, 4); err != nil {
		t.Fatalf("migrate down to 4: %v", err)
	}
	var n int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM verifications`).Scan(&n); err != nil || n != 5 {
		t.Errorf("%d verifications after migrating down (%v), want 5", n, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("migrate up again: %v", err)
	}
	db = openTest(t, "sqlite:"+path)
	if err := db.Ready(ctx); err != nil {
		t.Error(err)
	}
}

// wantPlan checks that SQLite's plan of query mentions want and neither
// scans a table nor sorts.
func wantPlan(t *testing.T, db *DB, query string, args []any, want string) {
	t.Helper()
	text := queryPlan(t, db, query, args)
	if !strings.Contains(text, want) || strings.Contains(text, "TEMP B-TREE") || strings.Contains(text, "SCAN") {
		t.Errorf("plan:\n%s\nwant %q, no scan and no sort", text, want)
	}
}

// queryPlan returns SQLite's plan of query, one line per step.
func queryPlan(t *testing.T, db *DB, query string, args []any) string {
	t.Helper()
	rows, err := db.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
