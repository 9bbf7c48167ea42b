package store

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
)

// insertOldUserEvents inserts n events of user u of acme behind the store's
// back, at before, before-1ms, ... and returns acme's row id.
func insertOldUserEvents(t *testing.T, db *DB, n int, before time.Time) string {
	t.Helper()
	ctx := t.Context()
	var wsID string
	if err := db.reader.QueryRowContext(ctx, `SELECT id FROM workspaces WHERE name = 'acme'`).Scan(&wsID); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := db.writer.ExecContext(ctx, `INSERT INTO user_events (workspace_id, user_id, kind, at)
			VALUES ($1, 'u', 'denied', $2)`, wsID, millis(before)-int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	return wsID
}

// TestUserEventCleanupBounded checks that one Commit deletes no more than
// userEventSweep old events, the oldest first, and the next one the rest.
func TestUserEventCleanupBounded(t *testing.T) {
	ctx := t.Context()
	db := deviceTestDB(t)
	now := time.UnixMilli(1_900_000_000_000).UTC()
	const old = userEventSweep + 20
	insertOldUserEvents(t, db, old, now.Add(-userEventRetention-time.Millisecond))
	write := func(at time.Time) {
		t.Helper()
		if err := db.Commit(ctx, tandem.Commit{UserEvents: []tandem.UserEvent{
			{Workspace: "acme", UserID: "u", Kind: tandem.UserPushed, At: at},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	write(now)
	if n := countRows(t, db, "user_events"); n != old-userEventSweep+1 {
		t.Errorf("%d user events after one commit, want %d", n, old-userEventSweep+1)
	}
	// The oldest went first: what is left of the old events is the most
	// recent of them.
	var oldest int64
	if err := db.reader.QueryRowContext(ctx, `SELECT MIN(at) FROM user_events`).Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	if want := millis(now.Add(-userEventRetention-time.Millisecond)) - int64(old-userEventSweep-1); oldest != want {
		t.Errorf("oldest event kept at %d, want %d", oldest, want)
	}
	write(now.Add(time.Millisecond))
	if n := countRows(t, db, "user_events"); n != 2 {
		t.Errorf("%d user events after a second commit, want the 2 recent ones", n)
	}
}

// TestUserEventRow checks the stored form of a user event.
func TestUserEventRow(t *testing.T) {
	ctx := t.Context()
	db := deviceTestDB(t)
	at := time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, time.FixedZone("IST", 5*3600+1800))
	if err := db.Commit(ctx, tandem.Commit{UserEvents: []tandem.UserEvent{
		{Workspace: "acme", UserID: "u", Kind: tandem.UserDenied, VerificationID: "v1", At: at},
		{Workspace: "acme", UserID: "u", Kind: tandem.UserPromptFailure, At: at},
	}}); err != nil {
		t.Fatal(err)
	}
	rows, err := db.reader.QueryContext(ctx, `SELECT e.id, w.name, e.user_id, e.kind, e.verification_id, e.at
		FROM user_events e JOIN workspaces w ON w.id = e.workspace_id ORDER BY e.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	var last int64
	for rows.Next() {
		var id, ms int64
		var ws, user, kind string
		var vid sql.NullString
		if err := rows.Scan(&id, &ws, &user, &kind, &vid, &ms); err != nil {
			t.Fatal(err)
		}
		if id <= last {
			t.Errorf("id %d after %d", id, last)
		}
		last = id
		v := "NULL"
		if vid.Valid {
			v = vid.String
		}
		got = append(got, strings.Join([]string{ws, user, kind, v, time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)}, " "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"acme u denied v1 2030-01-02T03:04:05.123Z",
		"acme u prompt_failure NULL 2030-01-02T03:04:05.123Z",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored user events (-want +got):\n%s", diff)
	}

	// Deleting the workspace deletes its events; deleting a verification
	// does not.
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM verifications WHERE id = 'v1'`); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "user_events"); n != 2 {
		t.Errorf("%d user events after deleting their verification, want 2", n)
	}
	if err := db.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, "user_events"); n != 0 {
		t.Errorf("%d user events after deleting the workspace, want 0", n)
	}
}

// TestUserEventQueryPlans checks that the user event and user inbox
// queries use their indexes.
func TestUserEventQueryPlans(t *testing.T) {
	db := deviceTestDB(t)
	t.Run("Count", func(t *testing.T) {
		wantPlan(t, db, countUserEventsQuery, []any{"acme", "u", "denied", int64(0)},
			"SEARCH user_events USING COVERING INDEX user_events_user")
	})
	t.Run("Sweep", func(t *testing.T) {
		wantPlan(t, db, `SELECT id FROM user_events WHERE workspace_id = $1 AND at < $2 ORDER BY at LIMIT $3`,
			[]any{"w", int64(0), userEventSweep}, "SEARCH user_events USING COVERING INDEX user_events_at")
	})
	// A user's inbox is small: sorting it is fine, scanning a table is
	// not.
	t.Run("UserInbox", func(t *testing.T) {
		plan := queryPlan(t, db, userInboxQuery, []any{"acme", "u", int64(0)})
		if strings.Contains(plan, "SCAN") || !strings.Contains(plan, "devices_user") || !strings.Contains(plan, "inbox_cred_id") {
			t.Errorf("plan of the user inbox:\n%s\nwant searches through devices_user and inbox_cred_id", plan)
		}
	})
}
