package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
)

// runUserEvents runs the contract tests of user events (Commit.UserEvents
// and CountUserEvents) and of UserInbox; RunDevices calls it.
func runUserEvents(t *testing.T, open func(t *testing.T) DeviceStore) {
	t.Run("UserEvents/Window", func(t *testing.T) { testUserEventsWindow(t, open(t)) })
	t.Run("UserEvents/Separated", func(t *testing.T) { testUserEventsSeparated(t, open(t)) })
	t.Run("UserEvents/DefaultTime", func(t *testing.T) { testUserEventsDefaultTime(t, open(t)) })
	t.Run("UserEvents/Invalid", func(t *testing.T) { testUserEventsInvalid(t, open(t)) })
	t.Run("UserEvents/UnknownWorkspace", func(t *testing.T) { testUserEventsUnknownWorkspace(t, open(t)) })
	t.Run("UserEvents/WithVerification", func(t *testing.T) { testUserEventsWithVerification(t, open(t)) })
	t.Run("UserEvents/Retention", func(t *testing.T) { testUserEventsRetention(t, open(t)) })
	t.Run("UserInbox", func(t *testing.T) { testUserInbox(t, open(t)) })
}

// countUserEvents returns CountUserEvents and checks that the latest time
// is in UTC.
func countUserEvents(t *testing.T, s DeviceStore, workspace, userID, kind string, since time.Time) (int, time.Time) {
	t.Helper()
	n, latest, err := s.CountUserEvents(t.Context(), workspace, userID, kind, since)
	if err != nil {
		t.Fatalf("count %s events of %s/%s: %v", kind, workspace, userID, err)
	}
	if !latest.IsZero() && latest.Location() != time.UTC {
		t.Errorf("latest %s event of %s/%s is in %v, want UTC", kind, workspace, userID, latest.Location())
	}
	return n, latest
}

// wantUserEvents checks the count and the latest time of the events of
// kind of a user since a time; a zero latest wants none.
func wantUserEvents(t *testing.T, s DeviceStore, workspace, userID, kind string, since time.Time, n int, latest time.Time) {
	t.Helper()
	gotN, gotLatest := countUserEvents(t, s, workspace, userID, kind, since)
	if gotN != n || !gotLatest.Equal(latest) || gotLatest.IsZero() != latest.IsZero() {
		t.Errorf("%s events of %s/%s since %v: %d, latest %v; want %d, latest %v",
			kind, workspace, userID, since, gotN, gotLatest, n, latest)
	}
}

// userEvent returns an event of the workspace acme.
func userEvent(userID, kind string, at time.Time) tandem.UserEvent {
	return tandem.UserEvent{Workspace: "acme", UserID: userID, Kind: kind, VerificationID: "v1", At: at}
}

// ms cuts t to the millisecond, in UTC, as a store keeps it.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

// testUserEventsWindow counts events at or after since, to the
// millisecond: an event at since counts.
func testUserEventsWindow(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	// Below the millisecond and in a zone other than UTC.
	at := time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, tz)
	none := time.Time{}
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, none, 0, none)

	// Out of order, and without verification for one.
	noVerification := userEvent("user-1", tandem.UserDenied, at.Add(time.Minute))
	noVerification.VerificationID = ""
	commit(t, s, tandem.Commit{UserEvents: []tandem.UserEvent{
		userEvent("user-1", tandem.UserDenied, at.Add(2*time.Minute)),
		userEvent("user-1", tandem.UserDenied, at),
		noVerification,
	}})
	latest := ms(at.Add(2 * time.Minute))
	for _, tc := range []struct {
		name   string
		since  time.Time
		n      int
		latest time.Time
	}{
		{"Zero", none, 3, latest},
		{"HourBefore", at.Add(-time.Hour), 3, latest},
		{"AtFirst", at, 3, latest},
		{"AtFirstCut", ms(at), 3, latest},
		{"AfterFirst", ms(at).Add(time.Millisecond), 2, latest},
		{"AtSecond", at.Add(time.Minute), 2, latest},
		{"AtLast", at.Add(2 * time.Minute), 1, latest},
		{"AtLastUTC", latest, 1, latest},
		{"AfterLast", latest.Add(time.Millisecond), 0, none},
		{"Later", at.Add(time.Hour), 0, none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, tc.since, tc.n, tc.latest)
		})
	}

	// An event older than the latest one changes the count, not the
	// latest time; two events at the same time both count.
	commit(t, s, tandem.Commit{UserEvents: []tandem.UserEvent{
		userEvent("user-1", tandem.UserDenied, at.Add(30*time.Second)),
		userEvent("user-1", tandem.UserDenied, at.Add(2*time.Minute)),
	}})
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, at, 5, latest)
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, at.Add(2*time.Minute), 2, latest)
}

// testUserEventsSeparated checks that kinds, users and workspaces have
// histories of their own.
func testUserEventsSeparated(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	elsewhere := func(e tandem.UserEvent) tandem.UserEvent { e.Workspace = "other"; return e }
	commit(t, s, tandem.Commit{UserEvents: []tandem.UserEvent{
		userEvent("user-1", tandem.UserDenied, t0),
		userEvent("user-1", tandem.UserPushed, t0.Add(time.Second)),
		userEvent("user-1", tandem.UserPushed, t0.Add(2*time.Second)),
		userEvent("user-1", tandem.UserAnswered, t0.Add(3*time.Second)),
		userEvent("user-2", tandem.UserDenied, t0.Add(4*time.Second)),
		userEvent("user-2", tandem.UserPromptFailure, t0.Add(5*time.Second)),
		elsewhere(userEvent("user-1", tandem.UserDenied, t0.Add(6*time.Second))),
		elsewhere(userEvent("user-1", tandem.UserDenied, t0.Add(7*time.Second))),
		elsewhere(userEvent("user-1", tandem.UserDenied, t0.Add(8*time.Second))),
	}})
	// Kinds the store does not know are stored all the same.
	commit(t, s, tandem.Commit{UserEvents: []tandem.UserEvent{userEvent("user-3", "custom.kind", t0)}})
	since, none := t0.Add(-time.Hour), time.Time{}
	for _, tc := range []struct {
		workspace, user, kind string
		n                     int
		latest                time.Time
	}{
		{"acme", "user-1", tandem.UserDenied, 1, t0},
		{"acme", "user-1", tandem.UserPushed, 2, t0.Add(2 * time.Second)},
		{"acme", "user-1", tandem.UserAnswered, 1, t0.Add(3 * time.Second)},
		{"acme", "user-1", tandem.UserPromptFailure, 0, none},
		{"acme", "user-2", tandem.UserDenied, 1, t0.Add(4 * time.Second)},
		{"acme", "user-2", tandem.UserPromptFailure, 1, t0.Add(5 * time.Second)},
		{"acme", "user-2", tandem.UserPushed, 0, none},
		{"acme", "user-3", "custom.kind", 1, t0},
		{"acme", "User-1", tandem.UserDenied, 0, none},
		{"acme", "", tandem.UserDenied, 0, none},
		{"other", "user-1", tandem.UserDenied, 3, t0.Add(8 * time.Second)},
		{"other", "user-2", tandem.UserDenied, 0, none},
		{"nope", "user-1", tandem.UserDenied, 0, none},
		{"", "user-1", tandem.UserDenied, 0, none},
		{"acme", "user-1", "", 0, none},
	} {
		wantUserEvents(t, s, tc.workspace, tc.user, tc.kind, since, tc.n, tc.latest)
	}
}

// testUserEventsDefaultTime commits an event without a time: it is the
// store's clock.
func testUserEventsDefaultTime(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	before := time.Now().Add(-time.Second)
	c := tandem.Commit{UserEvents: []tandem.UserEvent{userEvent("user-1", tandem.UserPushed, time.Time{})}}
	commit(t, s, c)
	after := time.Now().Add(time.Second)
	n, latest := countUserEvents(t, s, "acme", "user-1", tandem.UserPushed, before)
	if n != 1 || latest.Before(before) || latest.After(after) {
		t.Errorf("an event without a time counted %d since a second ago, at %v; want 1, now", n, latest)
	}
	if !c.UserEvents[0].At.IsZero() {
		t.Errorf("commit changed the event's time to %v", c.UserEvents[0].At)
	}
}

// testUserEventsInvalid commits events without a workspace, user or kind:
// EINVALID, and nothing written.
func testUserEventsInvalid(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	ok := userEvent("user-1", tandem.UserDenied, t0)
	for _, tc := range []struct {
		name   string
		change func(e *tandem.UserEvent)
	}{
		{"NoWorkspace", func(e *tandem.UserEvent) { e.Workspace = "" }},
		{"NoUserID", func(e *tandem.UserEvent) { e.UserID = "" }},
		{"NoKind", func(e *tandem.UserEvent) { e.Kind = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := userEvent("user-1", tandem.UserDenied, t0)
			tc.change(&bad)
			d := sampleDeviceRecord("d1", "user-1", "tp-1")
			err := s.Commit(t.Context(), tandem.Commit{Devices: []*tandem.Device{d}, UserEvents: []tandem.UserEvent{ok, bad}})
			wantCode(t, err, tandem.EINVALID)
			wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, time.Time{}, 0, time.Time{})
			_, err = s.GetDevice(t.Context(), "d1")
			wantCode(t, err, tandem.ENOTFOUND)
		})
	}
}

// testUserEventsUnknownWorkspace commits an event of an unknown workspace:
// ENOTFOUND, and nothing of the commit is written.
func testUserEventsUnknownWorkspace(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	want := getVerification(t, s, "v1")
	v.Reason = "changed"
	bad := userEvent("user-1", tandem.UserDenied, t0)
	bad.Workspace = "nope"
	err := s.Commit(ctx, tandem.Commit{
		Verification: v,
		Devices:      []*tandem.Device{sampleDeviceRecord("d1", "user-1", "tp-1")},
		UserEvents:   []tandem.UserEvent{userEvent("user-1", tandem.UserDenied, t0), bad},
		Audit:        []tandem.AuditEvent{{Actor: tandem.ActorDevice, Action: "refused", At: t0}},
	})
	wantCode(t, err, tandem.ENOTFOUND)
	if v.Version != 1 {
		t.Errorf("version %d after a failed commit, want 1", v.Version)
	}
	wantStored(t, s, want)
	_, err = s.GetDevice(ctx, "d1")
	wantCode(t, err, tandem.ENOTFOUND)
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, time.Time{}, 0, time.Time{})
	wantUserEvents(t, s, "nope", "user-1", tandem.UserDenied, time.Time{}, 0, time.Time{})
	if n := len(listAudit(t, s, "v1")); n != 1 {
		t.Errorf("v1 has %d audit events after a failed commit, want 1", n)
	}
}

// testUserEventsWithVerification commits events with a verification: they
// are written with it, and not at all when its version is stale.
func testUserEventsWithVerification(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	stale := *v
	v.Reason = "denied"
	commit(t, s, tandem.Commit{Verification: v, UserEvents: []tandem.UserEvent{userEvent("user-1", tandem.UserDenied, t0)}})
	wantStored(t, s, v)
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, time.Time{}, 1, t0)

	stale.Reason = "stale"
	err := s.Commit(ctx, tandem.Commit{Verification: &stale, UserEvents: []tandem.UserEvent{
		userEvent("user-1", tandem.UserDenied, t0.Add(time.Second)),
		userEvent("user-2", tandem.UserPushed, t0.Add(time.Second)),
	}})
	wantCode(t, err, tandem.ECONFLICT)
	wantStored(t, s, v)
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, time.Time{}, 1, t0)
	wantUserEvents(t, s, "acme", "user-2", tandem.UserPushed, time.Time{}, 0, time.Time{})
}

// testUserEventsRetention checks that a commit writing events of a
// workspace deletes the events of that workspace more than a day older than
// the newest event it writes (whatever the store's clock), and no other.
func testUserEventsRetention(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	now := t0 // years ahead of the store's clock
	day := 24 * time.Hour
	elsewhere := userEvent("user-1", tandem.UserDenied, now.Add(-30*time.Hour))
	elsewhere.Workspace = "other"
	// Written together, they are all within a day of the newest of their
	// workspace, so this commit deletes none.
	commit(t, s, tandem.Commit{UserEvents: []tandem.UserEvent{
		userEvent("user-2", tandem.UserPushed, now.Add(-30*time.Hour)),
		userEvent("user-1", tandem.UserDenied, now.Add(-25*time.Hour)),
		userEvent("user-1", tandem.UserDenied, now.Add(-day-time.Millisecond)),
		userEvent("user-1", tandem.UserDenied, now.Add(-day)),
		elsewhere,
	}})
	none := time.Time{}
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, none, 3, now.Add(-day))
	wantUserEvents(t, s, "acme", "user-2", tandem.UserPushed, none, 1, now.Add(-30*time.Hour))

	// An event of another kind and user at now: what is more than a day
	// older goes, whatever its user and kind; exactly a day older stays.
	commit(t, s, tandem.Commit{UserEvents: []tandem.UserEvent{userEvent("user-3", tandem.UserAnswered, now)}})
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, none, 1, now.Add(-day))
	wantUserEvents(t, s, "acme", "user-2", tandem.UserPushed, none, 0, none)
	wantUserEvents(t, s, "acme", "user-3", tandem.UserAnswered, none, 1, now)
	// Other workspaces keep theirs until events of theirs are written.
	wantUserEvents(t, s, "other", "user-1", tandem.UserDenied, none, 1, now.Add(-30*time.Hour))
	// An event older than the newest stored: the day is counted from it,
	// not from the newest stored event nor the clock.
	late := userEvent("user-1", tandem.UserDenied, now.Add(-5*time.Hour))
	late.Workspace = "other"
	commit(t, s, tandem.Commit{UserEvents: []tandem.UserEvent{late}})
	wantUserEvents(t, s, "other", "user-1", tandem.UserDenied, none, 1, now.Add(-5*time.Hour))
	old := userEvent("user-1", tandem.UserDenied, now.Add(-40*time.Hour))
	commit(t, s, tandem.Commit{UserEvents: []tandem.UserEvent{old}})
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, none, 2, now.Add(-day))

	// A commit without events deletes nothing.
	commit(t, s, tandem.Commit{Devices: []*tandem.Device{sampleDeviceRecord("d1", "user-1", "tp-1")}})
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, none, 2, now.Add(-day))
}

func userInbox(t *testing.T, s DeviceStore, workspace, userID string, now time.Time) []tandem.InboxItem {
	t.Helper()
	items, err := s.UserInbox(t.Context(), workspace, userID, now)
	if err != nil {
		t.Fatal(err)
	}
	if items == nil {
		t.Errorf("inbox of %s/%s is nil, want a list", workspace, userID)
	}
	return items
}

// testUserInbox checks that a user's inbox holds the unexpired items of
// every device of the user in the workspace, oldest first.
func testUserInbox(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	deviceVerification(t, s, "v2", 2)
	deviceVerification(t, s, "v3", 3)
	otherWS := sampleDeviceRecord("d4", "user-1", "tp-4")
	otherWS.Workspace = "other"
	putDevices(t, s, sampleDeviceRecord("d1", "user-1", "tp-1"), sampleDeviceRecord("d2", "user-1", "tp-2"),
		sampleDeviceRecord("d3", "user-2", "tp-3"), otherWS)
	created := time.Date(2030, 1, 2, 3, 4, 5, 123_456_789, tz)
	if got := userInbox(t, s, "acme", "user-1", created); len(got) != 0 {
		t.Errorf("inbox before any item: %+v", got)
	}
	commit(t, s, tandem.Commit{Inbox: []tandem.InboxItem{
		{CredID: "d1", VerificationID: "v1", Step: 0, CreatedAt: created.Add(2 * time.Second), ExpiresAt: created.Add(time.Hour)},
		{CredID: "d2", VerificationID: "v2", Step: 1, CreatedAt: created, ExpiresAt: created.Add(time.Hour)},
		{CredID: "d2", VerificationID: "v1", Step: 1, CreatedAt: created.Add(time.Second), ExpiresAt: created.Add(time.Minute)},
		{CredID: "d1", VerificationID: "v3", Step: 2, CreatedAt: created.Add(time.Second), ExpiresAt: created.Add(2 * time.Minute)},
		{CredID: "d3", VerificationID: "v3", Step: 0, CreatedAt: created.Add(-time.Second), ExpiresAt: created.Add(time.Hour)},
		{CredID: "d4", VerificationID: "v1", Step: 2, CreatedAt: created.Add(-time.Second), ExpiresAt: created.Add(time.Hour)},
	}})
	for _, tc := range []struct {
		now  time.Time
		want []string
	}{
		// Ties of creation time in insertion order.
		{created, []string{"v2/1", "v1/1", "v3/2", "v1/0"}},
		{created.Add(time.Minute - time.Millisecond), []string{"v2/1", "v1/1", "v3/2", "v1/0"}},
		{created.Add(time.Minute), []string{"v2/1", "v3/2", "v1/0"}}, // expiring at now is expired
		{created.Add(2 * time.Minute), []string{"v2/1", "v1/0"}},
		{created.Add(time.Hour), []string{}},
	} {
		if diff := cmp.Diff(tc.want, inboxSteps(userInbox(t, s, "acme", "user-1", tc.now))); diff != "" {
			t.Errorf("inbox of user-1 at %v (-want +got):\n%s", tc.now.Sub(created), diff)
		}
	}

	// The items are those of the devices' own inboxes.
	byID := map[int64]tandem.InboxItem{}
	for _, it := range append(inbox(t, s, "d1", created), inbox(t, s, "d2", created)...) {
		byID[it.ID] = it
	}
	for _, it := range userInbox(t, s, "acme", "user-1", created) {
		if diff := cmp.Diff(byID[it.ID], it); diff != "" {
			t.Errorf("item %d of the user's inbox (-device's inbox +user's):\n%s", it.ID, diff)
		}
		delete(byID, it.ID)
	}
	if len(byID) != 0 {
		t.Errorf("items of the devices missing from the user's inbox: %+v", byID)
	}

	for _, tc := range []struct {
		workspace, user string
		want            []string
	}{
		{"acme", "user-2", []string{"v3/0"}},
		{"other", "user-1", []string{"v1/2"}},
		{"other", "user-2", []string{}},
		{"acme", "user-3", []string{}},
		{"acme", "", []string{}},
		{"nope", "user-1", []string{}},
	} {
		if diff := cmp.Diff(tc.want, inboxSteps(userInbox(t, s, tc.workspace, tc.user, created))); diff != "" {
			t.Errorf("inbox of %s/%s (-want +got):\n%s", tc.workspace, tc.user, diff)
		}
	}
}
