package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
)

// DeviceStore is a store of workspaces, verifications and devices.
type DeviceStore interface {
	tandem.WorkspaceStore
	tandem.VerificationStore
	tandem.DeviceStore
}

// RunDevices runs the contract tests of tandem.DeviceStore. open must
// return a new, empty store for each call and arrange for it to be closed
// with t.Cleanup.
func RunDevices(t *testing.T, open func(t *testing.T) DeviceStore) {
	t.Run("Device/RoundTrip", func(t *testing.T) { testDeviceRoundTrip(t, open(t)) })
	t.Run("Device/Update", func(t *testing.T) { testDeviceUpdate(t, open(t)) })
	t.Run("Device/NotFound", func(t *testing.T) { testDeviceNotFound(t, open(t)) })
	t.Run("Device/DuplicateThumbprint", func(t *testing.T) { testDeviceDuplicateThumbprint(t, open(t)) })
	t.Run("Device/Invalid", func(t *testing.T) { testDeviceInvalid(t, open(t)) })
	t.Run("Device/UnknownWorkspace", func(t *testing.T) {
		s := open(t)
		d := sampleDeviceRecord("d1", "user-1", "tp-1")
		d.Workspace = "nope"
		wantCode(t, s.Commit(t.Context(), tandem.Commit{Devices: []*tandem.Device{d}}), tandem.ENOTFOUND)
	})
	t.Run("ListDevices", func(t *testing.T) { testListDevices(t, open(t)) })
	t.Run("Commit/Verification", func(t *testing.T) { testCommitVerification(t, open(t)) })
	t.Run("Commit/StaleVersion", func(t *testing.T) { testCommitStale(t, open(t)) })
	t.Run("Commit/LateFailure", func(t *testing.T) { testCommitLateFailure(t, open(t)) })
	t.Run("Commit/Empty", func(t *testing.T) {
		s := open(t)
		if err := s.Commit(t.Context(), tandem.Commit{}); err != nil {
			t.Errorf("empty commit: %v", err)
		}
	})
	t.Run("Commit/RevokeOthers", func(t *testing.T) { testRevokeOthers(t, open(t)) })
	t.Run("Commit/Withdraw", func(t *testing.T) { testWithdraw(t, open(t)) })
	t.Run("Pairing/SingleUse", func(t *testing.T) { testPairingSingleUse(t, open(t)) })
	t.Run("Pairing/Race", func(t *testing.T) { testPairingRace(t, open(t)) })
	t.Run("Pairing/Expired", func(t *testing.T) { testPairingExpired(t, open(t)) })
	t.Run("Pairing/Create", func(t *testing.T) { testPairingCreate(t, open(t)) })
	t.Run("Challenge/SingleUse", func(t *testing.T) { testChallengeSingleUse(t, open(t)) })
	t.Run("Challenge/Race", func(t *testing.T) { testChallengeRace(t, open(t)) })
	t.Run("Challenge/Foreign", func(t *testing.T) { testChallengeForeign(t, open(t)) })
	t.Run("Challenge/Expired", func(t *testing.T) { testChallengeExpired(t, open(t)) })
	t.Run("Challenge/Create", func(t *testing.T) { testChallengeCreate(t, open(t)) })
	t.Run("Inbox", func(t *testing.T) { testInbox(t, open(t)) })
	t.Run("Inbox/Unknown", func(t *testing.T) { testInboxUnknown(t, open(t)) })
	t.Run("DeleteWorkspace/Cascade", func(t *testing.T) { testDeviceCascade(t, open(t)) })
	runTokenCommits(t, open)
	runUserEvents(t, open)
}

// sampleDeviceRecord returns an active device of the workspace acme with
// every field set; times are in a zone other than UTC and below the
// millisecond.
func sampleDeviceRecord(credID, userID, thumbprint string) *tandem.Device {
	created := time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, tz)
	return &tandem.Device{
		CredID:     credID,
		Workspace:  "acme",
		UserID:     userID,
		Name:       "Pixel of " + userID,
		Platform:   "android",
		PublicKey:  json.RawMessage(`{"kty":"EC","crv":"P-256","x":"` + thumbprint + `-x","y":"` + thumbprint + `-y"}`),
		Thumbprint: thumbprint,
		State:      tandem.DeviceActive,
		PushType:   "fcm",
		PushToken:  "push-" + credID,
		CreatedAt:  created,
		UpdatedAt:  created.Add(time.Second),
		LastSeenAt: created.Add(2 * time.Second),
	}
}

// storedDevice returns a copy of d with its times as a store keeps them.
func storedDevice(d *tandem.Device) *tandem.Device {
	c := *d
	ms := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.Truncate(time.Millisecond).UTC()
	}
	c.CreatedAt, c.UpdatedAt, c.LastSeenAt, c.RevokedAt = ms(d.CreatedAt), ms(d.UpdatedAt), ms(d.LastSeenAt), ms(d.RevokedAt)
	return &c
}

// deviceStore prepares s for device tests: the workspaces acme and other,
// each with the application portal.
func deviceStore(t *testing.T, s DeviceStore) DeviceStore {
	t.Helper()
	apply(t, s, sampleDoc(), 0)
	other := sampleDoc()
	other.Name = "other"
	apply(t, s, other, 0)
	return s
}

func commit(t *testing.T, s DeviceStore, c tandem.Commit) {
	t.Helper()
	if err := s.Commit(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

func putDevices(t *testing.T, s DeviceStore, ds ...*tandem.Device) {
	t.Helper()
	commit(t, s, tandem.Commit{Devices: ds})
}

func getDevice(t *testing.T, s DeviceStore, credID string) *tandem.Device {
	t.Helper()
	d, err := s.GetDevice(t.Context(), credID)
	if err != nil {
		t.Fatalf("get device %s: %v", credID, err)
	}
	for name, tm := range map[string]time.Time{"CreatedAt": d.CreatedAt, "UpdatedAt": d.UpdatedAt, "LastSeenAt": d.LastSeenAt, "RevokedAt": d.RevokedAt} {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("device %s: %s is in %v, want UTC", credID, name, tm.Location())
		}
	}
	return d
}

func wantDevice(t *testing.T, s DeviceStore, want *tandem.Device) {
	t.Helper()
	if diff := cmp.Diff(storedDevice(want), getDevice(t, s, want.CredID)); diff != "" {
		t.Errorf("stored device %s (-want +got):\n%s", want.CredID, diff)
	}
}

func listDevices(t *testing.T, s DeviceStore, workspace, userID string) []tandem.Device {
	t.Helper()
	ds, err := s.ListDevices(t.Context(), workspace, userID)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func inbox(t *testing.T, s DeviceStore, credID string, now time.Time) []tandem.InboxItem {
	t.Helper()
	items, err := s.Inbox(t.Context(), credID, now)
	if err != nil {
		t.Fatal(err)
	}
	if items == nil {
		t.Errorf("inbox of %s is nil, want a list", credID)
	}
	return items
}

// inboxSteps returns "verification/step" of each item.
func inboxSteps(items []tandem.InboxItem) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, fmt.Sprintf("%s/%d", it.VerificationID, it.Step))
	}
	return out
}

// wantNoSecret reports an error message that names one of secrets.
func wantNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	msg := tandem.ErrorMessage(err)
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("message %q names %q", msg, s)
		}
	}
}

func testDeviceRoundTrip(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	full := sampleDeviceRecord("d1", "user-1", "tp-1")
	full.State, full.RevokedAt = tandem.DeviceRevoked, full.CreatedAt.Add(time.Hour+time.Microsecond)
	minimal := &tandem.Device{CredID: "d2", Workspace: "acme", PublicKey: json.RawMessage(`{ "kty": "EC" }`),
		Thumbprint: "tp-2", State: tandem.DevicePending}
	want := *full
	before := time.Now().Add(-time.Second)
	putDevices(t, s, full, minimal)
	if diff := cmp.Diff(&want, full); diff != "" {
		t.Errorf("commit changed a device with its times set (-before +after):\n%s", diff)
	}
	if minimal.CreatedAt.Before(before) || minimal.CreatedAt.After(time.Now().Add(time.Second)) || !minimal.UpdatedAt.Equal(minimal.CreatedAt) {
		t.Errorf("zero times set to created %v, updated %v; want both now", minimal.CreatedAt, minimal.UpdatedAt)
	}
	wantDevice(t, s, full)
	wantDevice(t, s, minimal)
	if got := getDevice(t, s, "d2"); string(got.PublicKey) != `{ "kty": "EC" }` || !got.LastSeenAt.IsZero() || !got.RevokedAt.IsZero() {
		t.Errorf("minimal device came back as %+v", got)
	}

	got, err := s.DeviceByThumbprint(ctx, "acme", "tp-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(storedDevice(full), got); diff != "" {
		t.Errorf("device by thumbprint (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]tandem.Device{*storedDevice(full)}, listDevices(t, s, "acme", "user-1")); diff != "" {
		t.Errorf("devices of user-1 (-want +got):\n%s", diff)
	}
}

func testDeviceUpdate(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	d := sampleDeviceRecord("d1", "", "tp-1")
	d.State, d.LastSeenAt = tandem.DevicePending, time.Time{}
	putDevices(t, s, d)
	created := storedDevice(d).CreatedAt

	// Registration: every changeable field changes; the creation time,
	// workspace and key given are ignored.
	u := *d
	u.UserID, u.Name, u.Platform, u.State = "user-1", "My phone", "ios", tandem.DeviceActive
	u.PushType, u.PushToken = "webpush", "https://push.example/endpoint"
	u.CreatedAt, u.UpdatedAt, u.LastSeenAt = time.Time{}, d.CreatedAt.Add(time.Hour), d.CreatedAt.Add(time.Hour)
	u.PublicKey = json.RawMessage(`{"kty":"EC","other":"format"}`)
	putDevices(t, s, &u)
	if !u.CreatedAt.Equal(created) {
		t.Errorf("CreatedAt set to %v after an update, want the stored %v", u.CreatedAt, created)
	}
	want := u
	want.PublicKey = d.PublicKey
	wantDevice(t, s, &want)

	// Revocation, then clearing the times.
	u.State, u.RevokedAt, u.UpdatedAt = tandem.DeviceRevoked, u.UpdatedAt.Add(time.Minute), u.UpdatedAt.Add(time.Minute)
	putDevices(t, s, &u)
	want = u
	want.PublicKey = d.PublicKey
	wantDevice(t, s, &want)
	u.LastSeenAt, u.RevokedAt, u.PushType, u.PushToken = time.Time{}, time.Time{}, "", ""
	putDevices(t, s, &u)
	want = u
	want.PublicKey = d.PublicKey
	wantDevice(t, s, &want)

	// The key and the workspace of a device are fixed.
	otherKey := u
	otherKey.Thumbprint, otherKey.Name = "tp-other", "changed"
	wantCode(t, s.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{&otherKey}}), tandem.ECONFLICT)
	otherWS := u
	otherWS.Workspace, otherWS.Name = "other", "changed"
	wantCode(t, s.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{&otherWS}}), tandem.ECONFLICT)
	wantDevice(t, s, &want)
	if _, err := s.DeviceByThumbprint(ctx, "other", "tp-1"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("device by thumbprint in the other workspace: %v, want ENOTFOUND", err)
	}
}

func testDeviceNotFound(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	putDevices(t, s, sampleDeviceRecord("d1", "user-1", "secret-thumbprint"))
	_, err := s.GetDevice(ctx, "ghost-cred")
	wantCode(t, err, tandem.ENOTFOUND)
	wantNoSecret(t, err, "ghost-cred")
	_, err = s.GetDevice(ctx, "")
	wantCode(t, err, tandem.ENOTFOUND)
	for _, tc := range []struct{ workspace, thumbprint string }{
		{"acme", "ghost-thumbprint"}, {"other", "secret-thumbprint"}, {"nope", "secret-thumbprint"}, {"acme", ""},
	} {
		_, err := s.DeviceByThumbprint(ctx, tc.workspace, tc.thumbprint)
		wantCode(t, err, tandem.ENOTFOUND)
		wantNoSecret(t, err, tc.thumbprint)
	}
}

func testDeviceDuplicateThumbprint(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	first := sampleDeviceRecord("d1", "user-1", "tp-1")
	putDevices(t, s, first)

	dup := sampleDeviceRecord("d2", "user-2", "tp-1")
	err := s.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{dup},
		Audit: []tandem.AuditEvent{{Workspace: "acme", VerificationID: "v-dup", Actor: tandem.ActorDevice, Action: "paired", At: t0}}})
	wantCode(t, err, tandem.ECONFLICT)
	wantNoSecret(t, err, "tp-1", "d1", "d2")
	_, err = s.GetDevice(ctx, "d2")
	wantCode(t, err, tandem.ENOTFOUND)
	if n := len(listAudit(t, s, "v-dup")); n != 0 {
		t.Errorf("%d audit events stored by a refused commit, want 0", n)
	}

	// Two new devices of one key in one commit.
	a, b := sampleDeviceRecord("d3", "user-3", "tp-3"), sampleDeviceRecord("d4", "user-3", "tp-3")
	wantCode(t, s.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{a, b}}), tandem.ECONFLICT)
	for _, id := range []string{"d3", "d4"} {
		_, err := s.GetDevice(ctx, id)
		wantCode(t, err, tandem.ENOTFOUND)
	}

	// The same key in another workspace is another device.
	elsewhere := sampleDeviceRecord("d5", "user-1", "tp-1")
	elsewhere.Workspace = "other"
	putDevices(t, s, elsewhere)
	wantDevice(t, s, elsewhere)
	wantDevice(t, s, first)
	// And a device stored again with its own key is an update.
	first.Name = "renamed"
	putDevices(t, s, first)
	wantDevice(t, s, first)
}

func testDeviceInvalid(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	for _, tc := range []struct {
		name   string
		change func(d *tandem.Device)
	}{
		{"NoCredID", func(d *tandem.Device) { d.CredID = "" }},
		{"NoWorkspace", func(d *tandem.Device) { d.Workspace = "" }},
		{"NoThumbprint", func(d *tandem.Device) { d.Thumbprint = "" }},
		{"NoPublicKey", func(d *tandem.Device) { d.PublicKey = nil }},
		{"PublicKeyNotJSON", func(d *tandem.Device) { d.PublicKey = json.RawMessage(`{"kty":`) }},
		{"State", func(d *tandem.Device) { d.State = "Active" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sampleDeviceRecord("d-"+tc.name, "user-1", "tp-"+tc.name)
			tc.change(d)
			wantCode(t, s.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{d}}), tandem.EINVALID)
			if d.CredID != "" {
				_, err := s.GetDevice(ctx, d.CredID)
				wantCode(t, err, tandem.ENOTFOUND)
			}
		})
	}
	wantCode(t, s.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{nil}}), tandem.EINVALID)
	wantCode(t, s.Commit(ctx, tandem.Commit{RevokeOthers: &tandem.RevokeOthers{Workspace: "acme"}}), tandem.EINVALID)
	wantCode(t, s.Commit(ctx, tandem.Commit{RevokeOthers: &tandem.RevokeOthers{UserID: "user-1"}}), tandem.EINVALID)
}

func testListDevices(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	if got := listDevices(t, s, "acme", "user-1"); got == nil || len(got) != 0 {
		t.Errorf("devices of a user without any = %#v, want an empty list", got)
	}
	if got := listDevices(t, s, "nope", "user-1"); got == nil || len(got) != 0 {
		t.Errorf("devices in an unknown workspace = %#v, want an empty list", got)
	}
	var mine []*tandem.Device
	for i, tc := range []struct {
		cred    string
		created time.Duration
		state   string
	}{
		{"d-b", 0, tandem.DeviceActive},
		{"d-c", time.Hour, tandem.DeviceRevoked},
		{"d-a", 0, tandem.DevicePending},
		{"d-d", -time.Hour, tandem.DeviceActive},
		{"d-e", 2 * time.Hour, tandem.DeviceActive},
	} {
		d := sampleDeviceRecord(tc.cred, "user-1", fmt.Sprintf("tp-%d", i))
		d.CreatedAt, d.State = t0.Add(tc.created), tc.state
		mine = append(mine, d)
	}
	others := sampleDeviceRecord("d-other-user", "user-2", "tp-x")
	elsewhere := sampleDeviceRecord("d-other-ws", "user-1", "tp-y")
	elsewhere.Workspace = "other"
	putDevices(t, s, append(mine, others, elsewhere)...)

	var got []string
	for _, d := range listDevices(t, s, "acme", "user-1") {
		got = append(got, d.CredID)
	}
	if diff := cmp.Diff([]string{"d-e", "d-c", "d-a", "d-b", "d-d"}, got); diff != "" {
		t.Errorf("devices of user-1, newest first (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]tandem.Device{*storedDevice(elsewhere)}, listDevices(t, s, "other", "user-1")); diff != "" {
		t.Errorf("devices of user-1 in other (-want +got):\n%s", diff)
	}
}

// deviceVerification creates the verification id of acme.
func deviceVerification(t *testing.T, s DeviceStore, id string, link byte) *tandem.Verification {
	t.Helper()
	v := sampleVerification(t, s, id, link)
	createVerification(t, s, v, tandem.AuditEvent{Actor: tandem.ActorAPI, Action: "created", At: t0})
	return v
}

func testCommitVerification(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	d := sampleDeviceRecord("d1", "", "tp-1")
	d.State = tandem.DevicePending
	paired := v.CreatedAt.Add(time.Minute)
	v.Status, v.UpdatedAt = tandem.StatusInProgress, paired
	v.Device = tandem.DeviceContext{CredID: "d1", New: true, Platform: "android", PairedAt: paired}
	v.Steps[1].Side, v.Steps[1].Group, v.Steps[1].State = "device", 0, json.RawMessage(`{"n":1}`)
	commit(t, s, tandem.Commit{Verification: v, Devices: []*tandem.Device{d},
		Inbox: []tandem.InboxItem{{CredID: "d1", VerificationID: "v1", Step: 1, CreatedAt: paired, ExpiresAt: v.ExpiresAt}},
		Audit: []tandem.AuditEvent{{Actor: tandem.ActorDevice, Action: "paired", At: paired}}})
	if v.Version != 2 {
		t.Errorf("version %d after a commit, want 2", v.Version)
	}
	wantStored(t, s, v)
	wantDevice(t, s, d)
	if diff := cmp.Diff([]string{"v1/1"}, inboxSteps(inbox(t, s, "d1", paired))); diff != "" {
		t.Errorf("inbox (-want +got):\n%s", diff)
	}
	var actions []string
	for _, e := range listAudit(t, s, "v1") {
		actions = append(actions, e.Action)
		if e.Workspace != "acme" {
			t.Errorf("event %q of workspace %q, want acme", e.Action, e.Workspace)
		}
	}
	if diff := cmp.Diff([]string{"created", "paired"}, actions); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}

	// A commit of the verification alone is an UpdateVerification, zero
	// UpdatedAt included.
	before := time.Now().Add(-time.Second)
	v.Status, v.UpdatedAt = tandem.StatusCompleted, time.Time{}
	commit(t, s, tandem.Commit{Verification: v})
	if v.Version != 3 || v.UpdatedAt.Before(before) {
		t.Errorf("version %d, updated at %v after a second commit; want 3, now", v.Version, v.UpdatedAt)
	}
	wantStored(t, s, v)

	ghost := sampleVerification(t, s, "ghost", 9)
	ghost.Version = 1
	wantCode(t, s.Commit(t.Context(), tandem.Commit{Verification: ghost}), tandem.ENOTFOUND)
	ghost.ExpiresAt = time.Time{}
	wantCode(t, s.Commit(t.Context(), tandem.Commit{Verification: ghost}), tandem.EINVALID)
}

// testCommitStale commits every kind of change with a stale verification:
// nothing is written.
func testCommitStale(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	other := deviceVerification(t, s, "v2", 2)
	kept := sampleDeviceRecord("d-kept", "user-1", "tp-kept")
	old := sampleDeviceRecord("d-old", "user-1", "tp-old")
	putDevices(t, s, kept, old)
	commit(t, s, tandem.Commit{Inbox: []tandem.InboxItem{{CredID: "d-old", VerificationID: "v2", Step: 0, ExpiresAt: other.ExpiresAt}}})

	current := getVerification(t, s, "v1")
	current.Reason = "won"
	updateVerification(t, s, current)

	v.Status, v.Reason = tandem.StatusCancelled, "stale"
	v.Device = tandem.DeviceContext{CredID: "d-new"}
	renamed := *kept
	renamed.Name = "renamed"
	fresh := sampleDeviceRecord("d-new", "user-1", "tp-new")
	freshBefore := *fresh
	err := s.Commit(ctx, tandem.Commit{
		Verification: v,
		Devices:      []*tandem.Device{&renamed, fresh},
		RevokeOthers: &tandem.RevokeOthers{Workspace: "acme", UserID: "user-1", KeepCredID: "d-new", At: t0},
		Withdraw:     "v2",
		Inbox:        []tandem.InboxItem{{CredID: "d-new", VerificationID: "v1", Step: 1, ExpiresAt: v.ExpiresAt}},
		UserEvents:   []tandem.UserEvent{userEvent("user-1", tandem.UserDenied, t0)},
		Audit:        []tandem.AuditEvent{{Actor: tandem.ActorDevice, Action: "stale", At: t0}},
	})
	wantCode(t, err, tandem.ECONFLICT)
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, time.Time{}, 0, time.Time{})
	if v.Version != 1 {
		t.Errorf("version %d after a refused commit, want 1", v.Version)
	}
	if diff := cmp.Diff(&freshBefore, fresh); diff != "" {
		t.Errorf("a refused commit changed a device (-before +after):\n%s", diff)
	}
	wantStored(t, s, current)
	wantDevice(t, s, kept)
	wantDevice(t, s, old)
	_, err = s.GetDevice(ctx, "d-new")
	wantCode(t, err, tandem.ENOTFOUND)
	if diff := cmp.Diff([]string{"v2/0"}, inboxSteps(inbox(t, s, "d-old", t0))); diff != "" {
		t.Errorf("inbox of d-old after a refused withdraw (-want +got):\n%s", diff)
	}
	for _, e := range listAudit(t, s, "v1") {
		if e.Action == "stale" {
			t.Error("the audit event of a refused commit was stored")
		}
	}
}

// testCommitLateFailure fails a commit on its last part: the verification
// update that came first is rolled back too.
func testCommitLateFailure(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	want := getVerification(t, s, "v1")
	putDevices(t, s, sampleDeviceRecord("d1", "user-1", "tp-1"))
	v.Reason = "changed"
	d := sampleDeviceRecord("d2", "user-1", "tp-2")
	for _, c := range []struct {
		item tandem.InboxItem
		code string
	}{
		{tandem.InboxItem{CredID: "ghost", VerificationID: "v1", ExpiresAt: v.ExpiresAt}, tandem.ENOTFOUND},
		{tandem.InboxItem{CredID: "d1", VerificationID: "ghost", ExpiresAt: v.ExpiresAt}, tandem.ENOTFOUND},
		{tandem.InboxItem{CredID: "d1", VerificationID: "v1"}, tandem.EINVALID},
	} {
		err := s.Commit(ctx, tandem.Commit{Verification: v, Devices: []*tandem.Device{d}, Inbox: []tandem.InboxItem{c.item},
			UserEvents: []tandem.UserEvent{userEvent("user-1", tandem.UserPushed, t0)}})
		wantCode(t, err, c.code)
		if v.Version != 1 {
			t.Fatalf("version %d after a failed commit, want 1", v.Version)
		}
	}
	wantStored(t, s, want)
	_, err := s.GetDevice(ctx, "d2")
	wantCode(t, err, tandem.ENOTFOUND)
	if n := len(inbox(t, s, "d1", t0)); n != 0 {
		t.Errorf("%d inbox items after failed commits, want 0", n)
	}
	wantUserEvents(t, s, "acme", "user-1", tandem.UserPushed, time.Time{}, 0, time.Time{})
}

func testRevokeOthers(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	a := sampleDeviceRecord("d-a", "user-1", "tp-a")
	b := sampleDeviceRecord("d-b", "user-1", "tp-b")
	pending := sampleDeviceRecord("d-pending", "user-1", "tp-p")
	pending.State = tandem.DevicePending
	revoked := sampleDeviceRecord("d-revoked", "user-1", "tp-r")
	revoked.State, revoked.RevokedAt = tandem.DeviceRevoked, t0.Add(-time.Hour)
	otherUser := sampleDeviceRecord("d-u2", "user-2", "tp-u2")
	otherWS := sampleDeviceRecord("d-ws", "user-1", "tp-ws")
	otherWS.Workspace = "other"
	putDevices(t, s, a, b, pending, revoked, otherUser, otherWS)

	// Registering a new device revokes the others in the same commit; the
	// kept device is itself upserted by the commit.
	at := t0.Add(time.Hour + time.Microsecond)
	keep := sampleDeviceRecord("d-keep", "", "tp-keep")
	keep.State = tandem.DevicePending
	putDevices(t, s, keep)
	keep.UserID, keep.State, keep.UpdatedAt = "user-1", tandem.DeviceActive, at
	// b is touched in the same commit too, yet ends up revoked.
	b.LastSeenAt = at
	commit(t, s, tandem.Commit{
		Devices:      []*tandem.Device{keep, b},
		RevokeOthers: &tandem.RevokeOthers{Workspace: "acme", UserID: "user-1", KeepCredID: "d-keep", At: at},
	})
	wantDevice(t, s, keep)
	for _, d := range []*tandem.Device{a, b} {
		d.State, d.RevokedAt, d.UpdatedAt = tandem.DeviceRevoked, at, at
		wantDevice(t, s, d)
	}
	for _, d := range []*tandem.Device{pending, revoked, otherUser, otherWS} {
		wantDevice(t, s, d)
	}

	// Revoking with no active device but the kept one changes nothing, nor
	// does an unknown workspace.
	commit(t, s, tandem.Commit{RevokeOthers: &tandem.RevokeOthers{Workspace: "acme", UserID: "user-1", KeepCredID: "d-keep", At: at.Add(time.Hour)}})
	commit(t, s, tandem.Commit{RevokeOthers: &tandem.RevokeOthers{Workspace: "nope", UserID: "user-1", At: at.Add(time.Hour)}})
	for _, d := range []*tandem.Device{keep, a, b, pending, revoked, otherUser, otherWS} {
		wantDevice(t, s, d)
	}
}

func testWithdraw(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	v1 := deviceVerification(t, s, "v1", 1)
	deviceVerification(t, s, "v2", 2)
	putDevices(t, s, sampleDeviceRecord("d1", "user-1", "tp-1"), sampleDeviceRecord("d2", "user-1", "tp-2"))
	exp := t0.Add(time.Hour)
	commit(t, s, tandem.Commit{Inbox: []tandem.InboxItem{
		{CredID: "d1", VerificationID: "v1", Step: 1, CreatedAt: t0, ExpiresAt: exp},
		{CredID: "d1", VerificationID: "v2", Step: 0, CreatedAt: t0.Add(time.Second), ExpiresAt: exp},
		{CredID: "d2", VerificationID: "v1", Step: 2, CreatedAt: t0, ExpiresAt: exp},
	}})
	commit(t, s, tandem.Commit{Withdraw: "v1"})
	if diff := cmp.Diff([]string{"v2/0"}, inboxSteps(inbox(t, s, "d1", t0))); diff != "" {
		t.Errorf("inbox of d1 after withdrawing v1 (-want +got):\n%s", diff)
	}
	if n := len(inbox(t, s, "d2", t0)); n != 0 {
		t.Errorf("inbox of d2 has %d items after withdrawing v1, want 0", n)
	}
	// Withdraw runs before the insertion: a commit can replace the items
	// of a verification.
	commit(t, s, tandem.Commit{Verification: v1, Withdraw: "v2", Inbox: []tandem.InboxItem{
		{CredID: "d1", VerificationID: "v2", Step: 3, CreatedAt: t0.Add(2 * time.Second), ExpiresAt: exp},
	}})
	if diff := cmp.Diff([]string{"v2/3"}, inboxSteps(inbox(t, s, "d1", t0))); diff != "" {
		t.Errorf("inbox of d1 after replacing v2's items (-want +got):\n%s", diff)
	}
	commit(t, s, tandem.Commit{Withdraw: "no-such-verification"})
}

// pairingHash returns a 32-byte hash made of b.
func pairingHash(b byte) []byte { return linkHash(b) }

func createPairing(t *testing.T, s DeviceStore, p tandem.Pairing) {
	t.Helper()
	if err := s.CreatePairing(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}

func testPairingSingleUse(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	created := time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, tz)
	p := tandem.Pairing{Hash: pairingHash(7), VerificationID: "v1", Step: 2, CreatedAt: created, ExpiresAt: created.Add(time.Minute)}
	createPairing(t, s, p)
	got, err := s.UsePairing(ctx, pairingHash(7), created.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := p
	want.CreatedAt, want.ExpiresAt = p.CreatedAt.Truncate(time.Millisecond).UTC(), p.ExpiresAt.Truncate(time.Millisecond).UTC()
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("used pairing (-want +got):\n%s", diff)
	}
	for _, h := range [][]byte{pairingHash(7), pairingHash(8), nil} {
		_, err = s.UsePairing(ctx, h, created.Add(2*time.Second))
		wantCode(t, err, tandem.ENOTFOUND)
		if msg := tandem.ErrorMessage(err); msg != "pairing code is not valid or was already used" {
			t.Errorf("message %q", msg)
		}
	}
}

func testPairingRace(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(7), VerificationID: "v1", Step: 0, ExpiresAt: t0.Add(time.Hour)})
	const workers = 16
	var (
		wg              sync.WaitGroup
		start           = make(chan struct{})
		mu              sync.Mutex
		wins, notFounds int
	)
	for g := range workers {
		wg.Go(func() {
			<-start
			p, err := s.UsePairing(t.Context(), pairingHash(7), t0)
			mu.Lock()
			defer mu.Unlock()
			switch tandem.ErrorCode(err) {
			case "":
				wins++
				if p.VerificationID != "v1" {
					t.Errorf("worker %d: pairing of %q, want v1", g, p.VerificationID)
				}
			case tandem.ENOTFOUND:
				notFounds++
			default:
				t.Errorf("worker %d: %v", g, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 || notFounds != workers-1 {
		t.Errorf("%d uses succeeded and %d were not found, want 1 and %d", wins, notFounds, workers-1)
	}
}

func testPairingExpired(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(1), VerificationID: "v1", ExpiresAt: t0})
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(2), VerificationID: "v1", ExpiresAt: t0.Add(-time.Minute)})
	for _, h := range [][]byte{pairingHash(1), pairingHash(2)} {
		_, err := s.UsePairing(ctx, h, t0) // expiring at now is expired
		wantCode(t, err, tandem.EGONE)
		if msg := tandem.ErrorMessage(err); msg != "pairing code expired" {
			t.Errorf("message %q", msg)
		}
		// Used up all the same.
		_, err = s.UsePairing(ctx, h, t0.Add(-time.Hour))
		wantCode(t, err, tandem.ENOTFOUND)
	}
	// One millisecond before its expiry it is valid.
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(3), VerificationID: "v1", ExpiresAt: t0})
	if _, err := s.UsePairing(ctx, pairingHash(3), t0.Add(-time.Millisecond)); err != nil {
		t.Errorf("use a millisecond before the expiry: %v", err)
	}
}

func testPairingCreate(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	hex := fmt.Sprintf("%x", pairingHash(1))
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(1), VerificationID: "v1", ExpiresAt: t0})
	err := s.CreatePairing(ctx, tandem.Pairing{Hash: pairingHash(1), VerificationID: "v1", Step: 1, ExpiresAt: t0.Add(time.Hour)})
	wantCode(t, err, tandem.ECONFLICT)
	wantNoSecret(t, err, hex, string(pairingHash(1)))
	err = s.CreatePairing(ctx, tandem.Pairing{Hash: pairingHash(2), VerificationID: "ghost", ExpiresAt: t0})
	wantCode(t, err, tandem.ENOTFOUND)
	wantNoSecret(t, err, fmt.Sprintf("%x", pairingHash(2)))
	wantCode(t, s.CreatePairing(ctx, tandem.Pairing{VerificationID: "v1", ExpiresAt: t0}), tandem.EINVALID)
	wantCode(t, s.CreatePairing(ctx, tandem.Pairing{Hash: pairingHash(3), VerificationID: "v1"}), tandem.EINVALID)
	// The refused duplicate did not change the stored pairing.
	p, err := s.UsePairing(ctx, pairingHash(1), t0.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if p.Step != 0 || !p.ExpiresAt.Equal(t0) {
		t.Errorf("pairing after a refused duplicate: %+v", p)
	}
}

func createChallenge(t *testing.T, s DeviceStore, c tandem.Challenge) {
	t.Helper()
	if err := s.CreateChallenge(t.Context(), c); err != nil {
		t.Fatal(err)
	}
}

func testChallengeSingleUse(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	exp := time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, tz)
	createChallenge(t, s, tandem.Challenge{Value: "nonce-1", CredID: "d1", VerificationID: "v1", ExpiresAt: exp})
	createChallenge(t, s, tandem.Challenge{Value: "nonce-2", CredID: "d1", ExpiresAt: exp})
	for _, want := range []tandem.Challenge{
		{Value: "nonce-1", CredID: "d1", VerificationID: "v1", ExpiresAt: exp.Truncate(time.Millisecond).UTC()},
		{Value: "nonce-2", CredID: "d1", ExpiresAt: exp.Truncate(time.Millisecond).UTC()},
	} {
		got, err := s.UseChallenge(ctx, want.Value, "d1", exp.Add(-time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("used challenge (-want +got):\n%s", diff)
		}
		_, err = s.UseChallenge(ctx, want.Value, "d1", exp.Add(-time.Second))
		wantCode(t, err, tandem.ENOTFOUND)
		wantNoSecret(t, err, want.Value)
	}
	for _, tc := range []struct{ value, cred string }{{"nonce-3", "d1"}, {"", "d1"}, {"nonce-1", ""}} {
		_, err := s.UseChallenge(ctx, tc.value, tc.cred, exp.Add(-time.Second))
		wantCode(t, err, tandem.ENOTFOUND)
		wantNoSecret(t, err, tc.value)
	}
}

func testChallengeRace(t *testing.T, s DeviceStore) {
	createChallenge(t, s, tandem.Challenge{Value: "nonce", CredID: "d1", ExpiresAt: t0})
	const workers = 16
	var (
		wg              sync.WaitGroup
		start           = make(chan struct{})
		mu              sync.Mutex
		wins, notFounds int
	)
	for g := range workers {
		wg.Go(func() {
			<-start
			_, err := s.UseChallenge(t.Context(), "nonce", "d1", t0.Add(-time.Second))
			mu.Lock()
			defer mu.Unlock()
			switch tandem.ErrorCode(err) {
			case "":
				wins++
			case tandem.ENOTFOUND:
				notFounds++
			default:
				t.Errorf("worker %d: %v", g, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 || notFounds != workers-1 {
		t.Errorf("%d uses succeeded and %d were not found, want 1 and %d", wins, notFounds, workers-1)
	}
}

func testChallengeForeign(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	createChallenge(t, s, tandem.Challenge{Value: "nonce", CredID: "d1", ExpiresAt: t0})
	_, err := s.UseChallenge(ctx, "nonce", "d2", t0.Add(-time.Second))
	wantCode(t, err, tandem.ENOTFOUND)
	wantNoSecret(t, err, "nonce")
	// Expired or not, the challenge of another device is left alone.
	_, err = s.UseChallenge(ctx, "nonce", "d2", t0.Add(time.Second))
	wantCode(t, err, tandem.ENOTFOUND)
	if _, err := s.UseChallenge(ctx, "nonce", "d1", t0.Add(-time.Second)); err != nil {
		t.Errorf("the owner's use after a foreign attempt: %v", err)
	}
}

func testChallengeExpired(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	createChallenge(t, s, tandem.Challenge{Value: "at-now", CredID: "d1", ExpiresAt: t0})
	createChallenge(t, s, tandem.Challenge{Value: "before", CredID: "d1", ExpiresAt: t0.Add(-time.Minute)})
	for _, v := range []string{"at-now", "before"} {
		_, err := s.UseChallenge(ctx, v, "d1", t0)
		wantCode(t, err, tandem.EGONE)
		wantNoSecret(t, err, v)
		_, err = s.UseChallenge(ctx, v, "d1", t0.Add(-time.Hour))
		wantCode(t, err, tandem.ENOTFOUND)
	}
}

func testChallengeCreate(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	createChallenge(t, s, tandem.Challenge{Value: "nonce", CredID: "d1", ExpiresAt: t0})
	err := s.CreateChallenge(ctx, tandem.Challenge{Value: "nonce", CredID: "d2", ExpiresAt: t0.Add(time.Hour)})
	wantCode(t, err, tandem.ECONFLICT)
	wantNoSecret(t, err, "nonce")
	for _, c := range []tandem.Challenge{
		{CredID: "d1", ExpiresAt: t0},
		{Value: "n2", ExpiresAt: t0},
		{Value: "n3", CredID: "d1"},
	} {
		wantCode(t, s.CreateChallenge(ctx, c), tandem.EINVALID)
	}
	// The refused duplicate did not replace the first.
	if _, err := s.UseChallenge(ctx, "nonce", "d1", t0.Add(-time.Second)); err != nil {
		t.Errorf("use of the first challenge after a refused duplicate: %v", err)
	}
}

func testInbox(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	deviceVerification(t, s, "v2", 2)
	putDevices(t, s, sampleDeviceRecord("d1", "user-1", "tp-1"), sampleDeviceRecord("d2", "user-1", "tp-2"))
	if got := inbox(t, s, "d1", t0); len(got) != 0 {
		t.Errorf("inbox before any item: %+v", got)
	}
	created := time.Date(2030, 1, 2, 3, 4, 5, 123_456_789, tz)
	items := []tandem.InboxItem{
		{CredID: "d1", VerificationID: "v2", Step: 1, CreatedAt: created.Add(2 * time.Second), ExpiresAt: created.Add(time.Hour)},
		{CredID: "d1", VerificationID: "v1", Step: 1, CreatedAt: created, ExpiresAt: created.Add(time.Minute)},
		{CredID: "d1", VerificationID: "v1", Step: 2, CreatedAt: created.Add(time.Second), ExpiresAt: created.Add(2 * time.Minute)},
		{CredID: "d1", VerificationID: "v2", Step: 2, CreatedAt: created.Add(time.Second), ExpiresAt: created.Add(time.Hour)},
		{CredID: "d2", VerificationID: "v1", Step: 1, CreatedAt: created, ExpiresAt: created.Add(time.Hour)},
	}
	commit(t, s, tandem.Commit{Inbox: items})
	for _, tc := range []struct {
		now  time.Time
		want []string
	}{
		{created, []string{"v1/1", "v1/2", "v2/2", "v2/1"}},
		{created.Add(time.Minute - time.Millisecond), []string{"v1/1", "v1/2", "v2/2", "v2/1"}},
		{created.Add(time.Minute), []string{"v1/2", "v2/2", "v2/1"}}, // expiring at now is expired
		{created.Add(time.Hour), []string{}},
	} {
		if diff := cmp.Diff(tc.want, inboxSteps(inbox(t, s, "d1", tc.now))); diff != "" {
			t.Errorf("inbox of d1 at %v (-want +got):\n%s", tc.now.Sub(created), diff)
		}
	}

	got := inbox(t, s, "d1", created)
	ids := map[int64]bool{}
	for _, it := range got {
		if it.ID == 0 || ids[it.ID] {
			t.Errorf("item %+v has a zero or repeated id", it)
		}
		ids[it.ID] = true
	}
	want := items[1]
	want.ID = got[0].ID
	want.CreatedAt, want.ExpiresAt = want.CreatedAt.Truncate(time.Millisecond).UTC(), want.ExpiresAt.Truncate(time.Millisecond).UTC()
	if diff := cmp.Diff(want, got[0]); diff != "" {
		t.Errorf("oldest item (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"v1/1"}, inboxSteps(inbox(t, s, "d2", created))); diff != "" {
		t.Errorf("inbox of d2 (-want +got):\n%s", diff)
	}
	if n := len(inbox(t, s, "ghost", created)); n != 0 {
		t.Errorf("inbox of an unknown device has %d items", n)
	}
}

func testInboxUnknown(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	putDevices(t, s, sampleDeviceRecord("d1", "user-1", "tp-1"))
	ok := tandem.InboxItem{CredID: "d1", VerificationID: "v1", ExpiresAt: v.ExpiresAt}
	for _, bad := range []tandem.InboxItem{
		{CredID: "ghost", VerificationID: "v1", ExpiresAt: v.ExpiresAt},
		{CredID: "d1", VerificationID: "ghost", ExpiresAt: v.ExpiresAt},
	} {
		err := s.Commit(ctx, tandem.Commit{Inbox: []tandem.InboxItem{ok, bad}})
		wantCode(t, err, tandem.ENOTFOUND)
		wantNoSecret(t, err, "ghost-cred")
	}
	for _, bad := range []tandem.InboxItem{
		{VerificationID: "v1", ExpiresAt: v.ExpiresAt},
		{CredID: "d1", ExpiresAt: v.ExpiresAt},
	} {
		wantCode(t, s.Commit(ctx, tandem.Commit{Inbox: []tandem.InboxItem{ok, bad}}), tandem.EINVALID)
	}
	if n := len(inbox(t, s, "d1", t0)); n != 0 {
		t.Errorf("%d inbox items after refused commits, want 0", n)
	}
}

// testDeviceCascade deletes a workspace: its devices go, and with its
// verifications their pairings and inbox items.
func testDeviceCascade(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	d := sampleDeviceRecord("d1", "user-1", "tp-1")
	elsewhere := sampleDeviceRecord("d2", "user-1", "tp-1")
	elsewhere.Workspace = "other"
	putDevices(t, s, d, elsewhere)
	// An item of acme's verification in the inbox of other's device.
	commit(t, s, tandem.Commit{Inbox: []tandem.InboxItem{
		{CredID: "d1", VerificationID: "v1", Step: 1, ExpiresAt: v.ExpiresAt},
		{CredID: "d2", VerificationID: "v1", Step: 1, ExpiresAt: v.ExpiresAt},
	}})
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(1), VerificationID: "v1", ExpiresAt: v.ExpiresAt})
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(2), VerificationID: "v1", ExpiresAt: v.ExpiresAt})
	if _, err := s.UsePairing(ctx, pairingHash(2), t0); err != nil {
		t.Fatal(err)
	}
	otherEvent := userEvent("user-1", tandem.UserDenied, t0)
	otherEvent.Workspace = "other"
	commit(t, s, tandem.Commit{UserEvents: []tandem.UserEvent{userEvent("user-1", tandem.UserDenied, t0), otherEvent}})

	if err := s.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetDevice(ctx, "d1")
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.DeviceByThumbprint(ctx, "acme", "tp-1")
	wantCode(t, err, tandem.ENOTFOUND)
	if n := len(listDevices(t, s, "acme", "user-1")); n != 0 {
		t.Errorf("%d devices listed after the delete", n)
	}
	if n := len(inbox(t, s, "d1", t0)); n != 0 {
		t.Errorf("the deleted device has %d inbox items", n)
	}
	if n := len(inbox(t, s, "d2", t0)); n != 0 {
		t.Errorf("the device of other has %d items of a deleted verification", n)
	}
	_, err = s.UsePairing(ctx, pairingHash(1), t0)
	wantCode(t, err, tandem.ENOTFOUND)
	wantDevice(t, s, elsewhere)
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, time.Time{}, 0, time.Time{})
	wantUserEvents(t, s, "other", "user-1", tandem.UserDenied, time.Time{}, 1, t0)

	// The cred id, the key, the verification id and the pairing hashes
	// are free again.
	apply(t, s, sampleDoc(), 0)
	deviceVerification(t, s, "v1", 1)
	again := sampleDeviceRecord("d1", "user-1", "tp-1")
	putDevices(t, s, again)
	wantDevice(t, s, again)
	for _, h := range [][]byte{pairingHash(1), pairingHash(2)} {
		createPairing(t, s, tandem.Pairing{Hash: h, VerificationID: "v1", ExpiresAt: v.ExpiresAt})
	}
	if _, err := s.UsePairing(ctx, pairingHash(2), t0); err != nil {
		t.Errorf("use of a pairing recreated after the delete: %v", err)
	}
	// The recreated workspace has no history.
	wantUserEvents(t, s, "acme", "user-1", tandem.UserDenied, time.Time{}, 0, time.Time{})
	if n := len(userInbox(t, s, "acme", "user-1", t0)); n != 0 {
		t.Errorf("the recreated user has %d inbox items", n)
	}
}
