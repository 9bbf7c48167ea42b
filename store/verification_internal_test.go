package store

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

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
