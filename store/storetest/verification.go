package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tandem-id/tandem"
)

// Store is a store of workspaces and of the verifications they hold.
type Store interface {
	tandem.WorkspaceStore
	tandem.VerificationStore
}

// RunVerifications runs the contract tests of tandem.VerificationStore. open
// must return a new, empty store for each call and arrange for it to be
// closed with t.Cleanup.
func RunVerifications(t *testing.T, open func(t *testing.T) Store) {
	t.Run("Create/RoundTrip", func(t *testing.T) { testVerificationRoundTrip(t, open(t)) })
	t.Run("Create/Minimal", func(t *testing.T) { testVerificationMinimal(t, open(t)) })
	t.Run("Create/UnknownWorkspace", func(t *testing.T) {
		s := open(t)
		v := sampleVerification(t, s, "v1", 1)
		v.Workspace = "nope"
		wantCode(t, s.CreateVerification(t.Context(), v), tandem.ENOTFOUND)
		if v.Version != 0 {
			t.Errorf("version %d after a failed create, want 0", v.Version)
		}
	})
	t.Run("Create/Duplicate", func(t *testing.T) { testVerificationDuplicate(t, open(t)) })
	t.Run("Create/Invalid", func(t *testing.T) { testVerificationInvalid(t, open(t)) })
	t.Run("Get/NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.GetVerification(t.Context(), "ghost-id")
		wantCode(t, err, tandem.ENOTFOUND)
		if msg := tandem.ErrorMessage(err); !strings.Contains(msg, "ghost-id") {
			t.Errorf("message %q does not name the id", msg)
		}
	})
	t.Run("VerificationByLink", func(t *testing.T) { testVerificationByLink(t, open(t)) })
	t.Run("Update/Version", func(t *testing.T) { testUpdateVersion(t, open(t)) })
	t.Run("Update/StaleVersion", func(t *testing.T) { testUpdateStale(t, open(t)) })
	t.Run("Update/NotFound", func(t *testing.T) {
		s := open(t)
		v := sampleVerification(t, s, "v1", 1)
		v.Version = 1
		wantCode(t, s.UpdateVerification(t.Context(), v), tandem.ENOTFOUND)
	})
	t.Run("Update/Race", func(t *testing.T) { testUpdateRace(t, open(t)) })
	t.Run("Update/StepList", func(t *testing.T) { testUpdateStepList(t, open(t)) })
	t.Run("Update/StepFields", func(t *testing.T) { testUpdateStepFields(t, open(t)) })
	t.Run("Update/FixedFields", func(t *testing.T) { testUpdateFixedFields(t, open(t)) })
	t.Run("StepSideGroupState", func(t *testing.T) { testStepSideGroupState(t, open(t)) })
	t.Run("ExpiredVerifications", func(t *testing.T) { testExpired(t, open(t)) })
	t.Run("LocationsToPurge", func(t *testing.T) { testLocationsToPurge(t, open(t)) })
	t.Run("Audit/RoundTrip", func(t *testing.T) { testAuditRoundTrip(t, open(t)) })
	t.Run("Audit/Refusals", func(t *testing.T) { testAuditRefusals(t, open(t)) })
	t.Run("Audit/InvalidDetail", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		ev := tandem.AuditEvent{Workspace: "acme", VerificationID: "v1", Actor: tandem.ActorAPI, Action: "x", Detail: json.RawMessage(`{`), At: t0}
		wantCode(t, s.AddAudit(ctx, tandem.AuditEvent{Workspace: "acme", VerificationID: "v1", Actor: tandem.ActorAPI, Action: "ok", At: t0}, ev), tandem.EINVALID)
		if n := len(listAudit(t, s, "v1")); n != 0 {
			t.Errorf("%d events stored by a failed AddAudit, want 0", n)
		}
	})
	t.Run("DeleteWorkspace/Cascade", func(t *testing.T) { testVerificationCascade(t, open(t)) })
}

// tz is a zone other than UTC: stores must return times in UTC.
var tz = time.FixedZone("IST", 5*3600+1800)

// sampleVerification returns a pending verification of the application
// portal of the workspace acme, which it applies to s when missing. Times
// are in a zone other than UTC and below the millisecond.
func sampleVerification(t *testing.T, s tandem.WorkspaceStore, id string, link byte) *tandem.Verification {
	t.Helper()
	if _, err := s.GetWorkspace(t.Context(), "acme"); tandem.ErrorCode(err) == tandem.ENOTFOUND {
		apply(t, s, sampleDoc(), 0)
	}
	app := getApp(t, s, "acme", "portal")
	created := time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, tz)
	off := false
	return &tandem.Verification{
		ID:          id,
		Workspace:   "acme",
		AppID:       app.ID,
		Application: "portal",
		Workflow:    "kyc",
		Modules: []tandem.ModuleInstance{
			{Type: "number_prompt", DisplayName: "Phone number", Description: "Your phone", Rule: `request.metadata.plan == "gold"`, Configs: json.RawMessage(`{"digits":10,"mask":"<x>"}`)},
			{Type: "number_prompt", DisplayName: "Age", Enabled: &off},
		},
		UserID:         "user-42",
		AllowNewDevice: true,
		Metadata: map[string]any{
			"plan": "gold", "seats": float64(3), "ratio": 0.25, "vip": true, "none": nil,
			"tags": []any{"a", float64(1)}, "nested": map[string]any{"k": "v"},
		},
		RedirectURL: "https://acme.example/back?x=1",
		Web:         tandem.WebContext{IP: "203.0.113.7", UserAgent: "curl/8"},
		Status:      tandem.StatusPending,
		Steps: []tandem.Step{
			{Index: 0, Type: "number_prompt", DisplayName: "Phone number", Status: tandem.StepPending},
			{Index: 1, Type: "number_prompt", DisplayName: "Age", Status: tandem.StepPending},
		},
		Claims:    map[string]string{"request_id": id, "workflow": "kyc", "user_id": "user-42"},
		LinkHash:  linkHash(link),
		CreatedAt: created,
		UpdatedAt: created,
		ExpiresAt: created.Add(10 * time.Minute),
	}
}

// linkHash returns a 32-byte hash made of b.
func linkHash(b byte) []byte {
	h := make([]byte, 32)
	for i := range h {
		h[i] = b
	}
	return h
}

// stored returns a copy of v with its times as a store keeps them: cut to
// the millisecond, in UTC.
func stored(v *tandem.Verification) *tandem.Verification {
	c := *v
	ms := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.Truncate(time.Millisecond).UTC()
	}
	c.CreatedAt, c.UpdatedAt, c.ExpiresAt, c.FinishedAt = ms(v.CreatedAt), ms(v.UpdatedAt), ms(v.ExpiresAt), ms(v.FinishedAt)
	c.Device.PairedAt = ms(v.Device.PairedAt)
	if v.Web.Location != nil {
		loc := *v.Web.Location
		loc.ReadAt, loc.RecordedAt = ms(loc.ReadAt), ms(loc.RecordedAt)
		c.Web.Location = &loc
	}
	c.Steps = nil
	for _, s := range v.Steps {
		s.StartedAt, s.FinishedAt = ms(s.StartedAt), ms(s.FinishedAt)
		c.Steps = append(c.Steps, s)
	}
	return &c
}

// wantUTC reports the times of v that are not in UTC.
func wantUTC(t *testing.T, v *tandem.Verification) {
	t.Helper()
	times := map[string]time.Time{"CreatedAt": v.CreatedAt, "UpdatedAt": v.UpdatedAt, "ExpiresAt": v.ExpiresAt, "FinishedAt": v.FinishedAt,
		"Device.PairedAt": v.Device.PairedAt}
	if v.Web.Location != nil {
		times["Web.Location.ReadAt"], times["Web.Location.RecordedAt"] = v.Web.Location.ReadAt, v.Web.Location.RecordedAt
	}
	for i, s := range v.Steps {
		times[fmt.Sprintf("Steps[%d].StartedAt", i)] = s.StartedAt
		times[fmt.Sprintf("Steps[%d].FinishedAt", i)] = s.FinishedAt
	}
	for name, tm := range times {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s is in %v, want UTC", name, tm.Location())
		}
	}
}

func createVerification(t *testing.T, s Store, v *tandem.Verification, audit ...tandem.AuditEvent) {
	t.Helper()
	if err := s.CreateVerification(t.Context(), v, audit...); err != nil {
		t.Fatal(err)
	}
	if v.Version != 1 {
		t.Fatalf("version %d after create, want 1", v.Version)
	}
}

func getVerification(t *testing.T, s Store, id string) *tandem.Verification {
	t.Helper()
	v, err := s.GetVerification(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantUTC(t, v)
	return v
}

func updateVerification(t *testing.T, s Store, v *tandem.Verification, audit ...tandem.AuditEvent) {
	t.Helper()
	before := v.Version
	if err := s.UpdateVerification(t.Context(), v, audit...); err != nil {
		t.Fatal(err)
	}
	if v.Version != before+1 {
		t.Fatalf("version %d after updating version %d", v.Version, before)
	}
}

func listAudit(t *testing.T, s tandem.VerificationStore, id string) []tandem.AuditEvent {
	t.Helper()
	evs, err := s.ListAudit(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func wantStored(t *testing.T, s Store, want *tandem.Verification) {
	t.Helper()
	got := getVerification(t, s, want.ID)
	if diff := cmp.Diff(stored(want), got); diff != "" {
		t.Errorf("stored verification (-want +got):\n%s", diff)
	}
}

func testVerificationRoundTrip(t *testing.T, s Store) {
	v := sampleVerification(t, s, "v1", 1)
	// Everything set, as in the middle of a run.
	started := v.CreatedAt.Add(1500 * time.Microsecond)
	v.Status = tandem.StatusInProgress
	v.Web.BrowserIP, v.Web.BrowserUserAgent = "198.51.100.1", "Firefox"
	v.Web.Location = &tandem.WebLocation{Lat: 12.971598765432, Lon: -77.594612345678, AccuracyM: 35.25,
		ReadAt: v.CreatedAt.Add(30*time.Second + 456*time.Microsecond), RecordedAt: v.CreatedAt.Add(31*time.Second + 789*time.Microsecond)}
	locBefore := *v.Web.Location
	v.Steps[0] = tandem.Step{Index: 0, Type: "number_prompt", DisplayName: "Phone number", Status: tandem.StepPassed,
		Attempts: 2, Side: "web", Group: -1, State: json.RawMessage(`{"drawn":42}`),
		StartedAt: started, FinishedAt: started.Add(time.Second + 999*time.Microsecond)}
	v.Steps[1] = tandem.Step{Index: 1, Type: "number_prompt", DisplayName: "Age", Status: tandem.StepSkipped, Reason: "Disabled.",
		Side: "device", Group: 0}
	v.Device = sampleDevice(v.CreatedAt.Add(time.Minute + 123*time.Microsecond))
	v.Claims["phone"] = "+91 98765 43210"
	v.Reason = "none yet"
	v.BrowserHash = []byte{0, 1, 2, 0xff}
	v.FinishedAt = v.CreatedAt.Add(time.Hour)
	want := *v
	createVerification(t, s, v)
	if diff := cmp.Diff(&want, v, cmpopts.IgnoreFields(tandem.Verification{}, "Version")); diff != "" {
		t.Errorf("create changed the verification (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(&locBefore, v.Web.Location); diff != "" {
		t.Errorf("create changed the location (-before +after):\n%s", diff)
	}
	wantStored(t, s, v)

	got := getVerification(t, s, "v1")
	if _, ok := got.Metadata["seats"].(float64); !ok {
		t.Errorf("metadata number came back as %T, want float64", got.Metadata["seats"])
	}

	// An update replaces the location (here by a purged reading, without
	// coordinates), then removes it: nil comes back nil.
	v.Web.Location = &tandem.WebLocation{AccuracyM: 35.25, ReadAt: locBefore.ReadAt, RecordedAt: locBefore.RecordedAt, Purged: true}
	updateVerification(t, s, v)
	wantStored(t, s, v)
	v.Web.Location = nil
	updateVerification(t, s, v)
	wantStored(t, s, v)
	if got := getVerification(t, s, "v1"); got.Web.Location != nil {
		t.Errorf("location %+v after removing it, want nil", got.Web.Location)
	}
}

// testVerificationMinimal stores a verification with nothing optional set:
// nil maps and slices come back nil, and zero creation times are set.
func testVerificationMinimal(t *testing.T, s Store) {
	before := time.Now().Add(-time.Second)
	v := sampleVerification(t, s, "v1", 1)
	v.Modules, v.Metadata, v.Steps, v.Claims, v.Web = nil, nil, nil, nil, tandem.WebContext{}
	v.UserID, v.RedirectURL, v.AllowNewDevice = "", "", false
	v.CreatedAt, v.UpdatedAt = time.Time{}, time.Time{}
	createVerification(t, s, v)
	if v.CreatedAt.Before(before) || v.CreatedAt.After(time.Now().Add(time.Second)) || !v.UpdatedAt.Equal(v.CreatedAt) {
		t.Errorf("zero times set to created %v, updated %v; want both now", v.CreatedAt, v.UpdatedAt)
	}
	wantStored(t, s, v)

	v.Metadata, v.Claims = map[string]any{}, map[string]string{}
	v2 := *v
	v2.ID, v2.LinkHash, v2.Version = "v2", linkHash(2), 0
	createVerification(t, s, &v2)
	wantStored(t, s, &v2) // empty maps come back empty, not nil
}

func testVerificationDuplicate(t *testing.T, s Store) {
	ctx := t.Context()
	ev := func(id string) tandem.AuditEvent {
		return tandem.AuditEvent{Workspace: "acme", VerificationID: id, Actor: tandem.ActorAPI, Action: "created", At: t0}
	}
	v := sampleVerification(t, s, "v1", 1)
	createVerification(t, s, v, ev("v1"))

	sameID := sampleVerification(t, s, "v1", 2)
	sameID.UserID = "someone else"
	wantCode(t, s.CreateVerification(ctx, sameID, ev("v1")), tandem.ECONFLICT)
	sameLink := sampleVerification(t, s, "v2", 1)
	err := s.CreateVerification(ctx, sameLink, ev("v2"))
	wantCode(t, err, tandem.ECONFLICT)
	if msg := tandem.ErrorMessage(err); strings.Contains(msg, fmt.Sprintf("%x", linkHash(1))) {
		t.Errorf("message %q names the link hash", msg)
	}
	if sameID.Version != 0 || sameLink.Version != 0 {
		t.Errorf("versions %d, %d after failed creates, want 0", sameID.Version, sameLink.Version)
	}

	wantStored(t, s, v)
	_, err = s.GetVerification(ctx, "v2")
	wantCode(t, err, tandem.ENOTFOUND)
	if n := len(listAudit(t, s, "v1")); n != 1 {
		t.Errorf("v1 has %d audit events, want 1", n)
	}
	if n := len(listAudit(t, s, "v2")); n != 0 {
		t.Errorf("the refused v2 has %d audit events, want 0", n)
	}
	// The link of the refused v2 is free.
	other := sampleVerification(t, s, "v3", 2)
	createVerification(t, s, other)
}

func testVerificationInvalid(t *testing.T, s Store) {
	for _, tc := range []struct {
		name   string
		change func(v *tandem.Verification)
		audit  []tandem.AuditEvent
	}{
		{"NoID", func(v *tandem.Verification) { v.ID = "" }, nil},
		{"NoLink", func(v *tandem.Verification) { v.LinkHash = nil }, nil},
		{"NoExpiry", func(v *tandem.Verification) { v.ExpiresAt = time.Time{} }, nil},
		{"StepIndex", func(v *tandem.Verification) { v.Steps[1].Index = 0 }, nil},
		{"AuditDetail", func(v *tandem.Verification) {}, []tandem.AuditEvent{{Actor: tandem.ActorAPI, Action: "created", Detail: json.RawMessage(`{"a":`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := sampleVerification(t, s, "v-"+tc.name, 9)
			tc.change(v)
			wantCode(t, s.CreateVerification(t.Context(), v, tc.audit...), tandem.EINVALID)
			if v.ID != "" {
				_, err := s.GetVerification(t.Context(), v.ID)
				wantCode(t, err, tandem.ENOTFOUND)
			}
		})
	}
}

func testVerificationByLink(t *testing.T, s Store) {
	ctx := t.Context()
	v1 := sampleVerification(t, s, "v1", 1)
	v2 := sampleVerification(t, s, "v2", 2)
	createVerification(t, s, v1)
	createVerification(t, s, v2)
	for _, v := range []*tandem.Verification{v1, v2} {
		got, err := s.VerificationByLink(ctx, v.LinkHash)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(stored(v), got); diff != "" {
			t.Errorf("verification by link (-want +got):\n%s", diff)
		}
	}
	for _, h := range [][]byte{linkHash(3), linkHash(1)[:31], nil} {
		_, err := s.VerificationByLink(ctx, h)
		wantCode(t, err, tandem.ENOTFOUND)
		if msg := tandem.ErrorMessage(err); len(h) > 0 && (strings.Contains(msg, fmt.Sprintf("%x", h)) || strings.Contains(msg, string(h))) {
			t.Errorf("message %q names the hash", msg)
		}
	}
}

// advance changes v as a step of a run would.
func advance(v *tandem.Verification, at time.Time) {
	v.Status = tandem.StatusInProgress
	v.Web.BrowserIP, v.Web.BrowserUserAgent = "198.51.100.1", "Firefox"
	v.BrowserHash = []byte("browser-cookie-hash")
	v.Steps[0].Status, v.Steps[0].StartedAt, v.Steps[0].FinishedAt, v.Steps[0].Attempts = tandem.StepPassed, at, at.Add(time.Second), 1
	v.Steps[1].Status, v.Steps[1].StartedAt = tandem.StepRunning, at.Add(time.Second)
	v.Claims["phone"] = "+91 98765 43210"
	v.UpdatedAt = at.Add(time.Second)
}

func testUpdateVersion(t *testing.T, s Store) {
	v := sampleVerification(t, s, "v1", 1)
	createVerification(t, s, v, tandem.AuditEvent{Actor: tandem.ActorAPI, Action: "created", At: t0})
	v = getVerification(t, s, "v1")
	advance(v, v.CreatedAt.Add(time.Minute+time.Microsecond))
	updateVerification(t, s, v, tandem.AuditEvent{Actor: tandem.ActorWeb, Action: "opened", At: t0.Add(time.Second)})
	if v.Version != 2 {
		t.Errorf("version %d after one update, want 2", v.Version)
	}
	wantStored(t, s, v)

	// To the end: finished, a failed step, a reason.
	at := v.UpdatedAt.Add(time.Minute)
	v.Status, v.Reason, v.FinishedAt, v.UpdatedAt = tandem.StatusFailed, "The age check failed.", at, at
	v.Steps[1].Status, v.Steps[1].FinishedAt, v.Steps[1].Reason, v.Steps[1].Attempts = tandem.StepFailed, at, "Too young.", 3
	updateVerification(t, s, v, tandem.AuditEvent{Actor: tandem.ActorWeb, Action: "step.failed", At: at})
	if v.Version != 3 {
		t.Errorf("version %d after two updates, want 3", v.Version)
	}
	wantStored(t, s, v)

	// Clearing values stores zero times and a nil browser hash.
	v.FinishedAt, v.BrowserHash, v.Steps[0].StartedAt, v.Steps[0].FinishedAt = time.Time{}, nil, time.Time{}, time.Time{}
	updateVerification(t, s, v)
	wantStored(t, s, v)

	var actions []string
	for _, e := range listAudit(t, s, "v1") {
		actions = append(actions, e.Action)
		if e.Workspace != "acme" || e.VerificationID != "v1" {
			t.Errorf("event %q has workspace %q, verification %q; want acme, v1", e.Action, e.Workspace, e.VerificationID)
		}
	}
	if diff := cmp.Diff([]string{"created", "opened", "step.failed"}, actions); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
}

func testUpdateStale(t *testing.T, s Store) {
	ctx := t.Context()
	createVerification(t, s, sampleVerification(t, s, "v1", 1), tandem.AuditEvent{Actor: tandem.ActorAPI, Action: "created", At: t0})
	first, second := getVerification(t, s, "v1"), getVerification(t, s, "v1")
	advance(first, first.CreatedAt.Add(time.Minute))
	updateVerification(t, s, first, tandem.AuditEvent{Actor: tandem.ActorWeb, Action: "opened", At: t0})
	audit := listAudit(t, s, "v1")

	second.Status, second.Reason, second.FinishedAt = tandem.StatusCancelled, "cancelled", second.CreatedAt.Add(time.Hour)
	second.Steps[0].Status, second.Steps[0].Attempts = tandem.StepFailed, 9
	second.Steps = append(second.Steps, tandem.Step{Index: 2, Type: "extra", Status: tandem.StepPending})
	second.Claims["x"] = "y"
	second.Web.BrowserIP = "192.0.2.1"
	second.Device = sampleDevice(second.CreatedAt)
	second.Steps[1].State, second.Steps[1].Side, second.Steps[1].Group = json.RawMessage(`{}`), "device", 0
	err := s.UpdateVerification(ctx, second, tandem.AuditEvent{Actor: tandem.ActorAPI, Action: "cancelled", At: t0})
	wantCode(t, err, tandem.ECONFLICT)
	if second.Version != 1 {
		t.Errorf("version %d after a refused update, want 1", second.Version)
	}
	wantStored(t, s, first)
	if diff := cmp.Diff(audit, listAudit(t, s, "v1")); diff != "" {
		t.Errorf("audit after a refused update (-before +after):\n%s", diff)
	}
}

func testUpdateRace(t *testing.T, s Store) {
	ctx := t.Context()
	createVerification(t, s, sampleVerification(t, s, "v1", 1), tandem.AuditEvent{Actor: tandem.ActorAPI, Action: "created", At: t0})
	const workers = 8
	var (
		loaded, wg sync.WaitGroup
		start      = make(chan struct{})
		mu         sync.Mutex
		winners    []*tandem.Verification
		conflicts  int
	)
	loaded.Add(workers)
	for g := range workers {
		wg.Go(func() {
			v, err := s.GetVerification(ctx, "v1")
			loaded.Done()
			if err != nil {
				t.Errorf("worker %d: get: %v", g, err)
				return
			}
			<-start
			advance(v, v.CreatedAt.Add(time.Duration(g+1)*time.Minute))
			v.Claims["winner"] = fmt.Sprint(g)
			v.Steps[0].Attempts = g + 1
			err = s.UpdateVerification(ctx, v, tandem.AuditEvent{Actor: tandem.ActorWeb, Action: fmt.Sprintf("opened.%d", g), At: t0})
			mu.Lock()
			defer mu.Unlock()
			switch tandem.ErrorCode(err) {
			case "":
				winners = append(winners, v)
			case tandem.ECONFLICT:
				conflicts++
			default:
				t.Errorf("worker %d: update: %v", g, err)
			}
		})
	}
	loaded.Wait()
	close(start)
	wg.Wait()
	if len(winners) != 1 || conflicts != workers-1 {
		t.Fatalf("%d updates won and %d conflicted, want 1 and %d", len(winners), conflicts, workers-1)
	}
	w := winners[0]
	if w.Version != 2 {
		t.Errorf("winner at version %d, want 2", w.Version)
	}
	wantStored(t, s, w)
	var actions []string
	for _, e := range listAudit(t, s, "v1") {
		actions = append(actions, e.Action)
	}
	if diff := cmp.Diff([]string{"created", "opened." + w.Claims["winner"]}, actions); diff != "" {
		t.Errorf("audit actions (-want +got):\n%s", diff)
	}
}

func testUpdateStepList(t *testing.T, s Store) {
	v := sampleVerification(t, s, "v1", 1)
	createVerification(t, s, v)
	v.Steps = append(v.Steps, tandem.Step{Index: 2, Type: "extra", DisplayName: "Extra", Status: tandem.StepRunning, StartedAt: v.CreatedAt})
	updateVerification(t, s, v)
	wantStored(t, s, v)
	v.Steps = v.Steps[:1]
	updateVerification(t, s, v)
	wantStored(t, s, v)
	v.Steps[0].Index = 1
	wantCode(t, s.UpdateVerification(t.Context(), v), tandem.EINVALID)
}

// testUpdateStepFields changes one field of a step at a time: each change
// alone must be stored.
func testUpdateStepFields(t *testing.T, s Store) {
	v := sampleVerification(t, s, "v1", 1)
	createVerification(t, s, v)
	at := v.CreatedAt.Add(time.Minute)
	for _, change := range []struct {
		name string
		fn   func(s *tandem.Step)
	}{
		{"Status", func(s *tandem.Step) { s.Status = tandem.StepRunning }},
		{"Attempts", func(s *tandem.Step) { s.Attempts = 1 }},
		{"Reason", func(s *tandem.Step) { s.Reason = "Try again." }},
		{"StartedAtSet", func(s *tandem.Step) { s.StartedAt = at }},
		{"StartedAtMoved", func(s *tandem.Step) { s.StartedAt = at.Add(time.Millisecond) }},
		{"FinishedAtSet", func(s *tandem.Step) { s.FinishedAt = at.Add(time.Second) }},
		{"FinishedAtMoved", func(s *tandem.Step) { s.FinishedAt = at.Add(2 * time.Second) }},
		{"FinishedAtCleared", func(s *tandem.Step) { s.FinishedAt = time.Time{} }},
		{"StartedAtCleared", func(s *tandem.Step) { s.StartedAt = time.Time{} }},
		{"Side", func(s *tandem.Step) { s.Side = "device" }},
		{"Group", func(s *tandem.Step) { s.Group = 1 }},
		{"GroupNone", func(s *tandem.Step) { s.Group = -1 }},
		{"StateSet", func(s *tandem.Step) { s.State = json.RawMessage(`{"drawn":1}`) }},
		{"StateChanged", func(s *tandem.Step) { s.State = json.RawMessage(`{"drawn":2}`) }},
		{"StateCleared", func(s *tandem.Step) { s.State = nil }},
	} {
		change.fn(&v.Steps[1])
		updateVerification(t, s, v)
		got := getVerification(t, s, "v1")
		if diff := cmp.Diff(stored(v).Steps, got.Steps); diff != "" {
			t.Errorf("steps after changing %s (-want +got):\n%s", change.name, diff)
		}
	}
}

// testUpdateFixedFields checks that an update leaves alone what is fixed at
// creation.
func testUpdateFixedFields(t *testing.T, s Store) {
	v := sampleVerification(t, s, "v1", 1)
	createVerification(t, s, v)
	want := stored(v)
	changed := *v
	changed.AppID, changed.Application, changed.Workflow, changed.Modules = "other", "other", "other", nil
	changed.UserID, changed.AllowNewDevice, changed.Metadata, changed.RedirectURL = "other", false, nil, "https://other.example"
	changed.LinkHash, changed.CreatedAt = linkHash(7), v.CreatedAt.Add(time.Hour)
	updateVerification(t, s, &changed)
	want.Version = 2
	got := getVerification(t, s, "v1")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored verification after changing fixed fields (-want +got):\n%s", diff)
	}
}

func testExpired(t *testing.T, s Store) {
	ctx := t.Context()
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	for i, tc := range []struct {
		id      string
		status  tandem.Status
		expires time.Time
	}{
		{"in-progress-1m", tandem.StatusInProgress, now.Add(-time.Minute)},
		{"pending-now", tandem.StatusPending, now},
		{"pending-later", tandem.StatusPending, now.Add(time.Millisecond)},
		{"pending-3m", tandem.StatusPending, now.Add(-3 * time.Minute)},
		{"completed", tandem.StatusCompleted, now.Add(-5 * time.Minute)},
		{"failed", tandem.StatusFailed, now.Add(-5 * time.Minute)},
		{"expired", tandem.StatusExpired, now.Add(-5 * time.Minute)},
		{"cancelled", tandem.StatusCancelled, now.Add(-5 * time.Minute)},
	} {
		v := sampleVerification(t, s, tc.id, byte(i+1))
		v.Status, v.ExpiresAt = tc.status, tc.expires
		createVerification(t, s, v)
	}
	expired := func(now time.Time, limit int) []string {
		t.Helper()
		ids, err := s.ExpiredVerifications(ctx, now, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, tc := range []struct {
		now   time.Time
		limit int
		want  []string
	}{
		{now, 10, []string{"pending-3m", "in-progress-1m", "pending-now"}},
		{now, 3, []string{"pending-3m", "in-progress-1m", "pending-now"}},
		{now, 2, []string{"pending-3m", "in-progress-1m"}},
		{now, 0, nil},
		{now.Add(-2 * time.Minute), 10, []string{"pending-3m"}},
		{now.Add(-time.Hour), 10, nil},
		{now.Add(time.Millisecond), 10, []string{"pending-3m", "in-progress-1m", "pending-now", "pending-later"}},
	} {
		if diff := cmp.Diff(tc.want, expired(tc.now, tc.limit), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ExpiredVerifications(now%+v, %d) (-want +got):\n%s", tc.now.Sub(now), tc.limit, diff)
		}
	}

	// Expiring one takes it off the list.
	v := getVerification(t, s, "in-progress-1m")
	v.Status, v.FinishedAt = tandem.StatusExpired, now
	updateVerification(t, s, v)
	if diff := cmp.Diff([]string{"pending-3m", "pending-now"}, expired(now, 10)); diff != "" {
		t.Errorf("ExpiredVerifications after expiring one (-want +got):\n%s", diff)
	}
}

// testLocationsToPurge checks which verifications LocationsToPurge lists:
// those of the workspace that finished before the given time and hold a
// location that is not purged, the earliest finished first, and that
// updates move verifications onto and off the list.
func testLocationsToPurge(t *testing.T, s Store) {
	ctx := t.Context()
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	other := sampleDoc()
	other.Name = "other"
	apply(t, s, other, 0)
	otherApp := getApp(t, s, "other", "portal")

	location := func(recorded time.Time) *tandem.WebLocation {
		return &tandem.WebLocation{Lat: 48.8584, Lon: 2.2945, AccuracyM: 20, ReadAt: recorded.Add(-time.Second), RecordedAt: recorded}
	}
	type vcase struct {
		id        string
		workspace string
		status    tandem.Status
		finished  time.Duration // before now; 0 for not finished
		loc       *tandem.WebLocation
	}
	// Created in an order that is neither the expected one nor the ids'.
	cases := []vcase{
		{"just-before", "acme", tandem.StatusFailed, time.Millisecond, location(now.Add(-time.Hour))},
		{"old-2b", "acme", tandem.StatusCompleted, 2 * time.Hour, location(now.Add(-3 * time.Hour))},
		{"running", "acme", tandem.StatusInProgress, 0, location(now.Add(-4 * time.Hour))},
		{"old-1", "acme", tandem.StatusCompleted, 3 * time.Hour, location(now.Add(-4 * time.Hour))},
		{"at-before", "acme", tandem.StatusCompleted, -1, location(now.Add(-time.Hour))}, // finished at now
		{"after", "acme", tandem.StatusCompleted, -time.Minute, location(now.Add(-time.Hour))},
		{"purged", "acme", tandem.StatusCompleted, 3 * time.Hour, &tandem.WebLocation{AccuracyM: 20, RecordedAt: now.Add(-4 * time.Hour), Purged: true}},
		{"no-location", "acme", tandem.StatusCompleted, 3 * time.Hour, nil},
		{"old-2a", "acme", tandem.StatusExpired, 2 * time.Hour, location(now.Add(-3 * time.Hour))},
		{"no-recorded-at", "acme", tandem.StatusCancelled, 90 * time.Minute, &tandem.WebLocation{Lat: 1, Lon: 2, AccuracyM: 3}},
		{"other-ws", "other", tandem.StatusCompleted, 3 * time.Hour, location(now.Add(-4 * time.Hour))},
	}
	for i, tc := range cases {
		v := sampleVerification(t, s, tc.id, byte(i+1))
		if tc.workspace == "other" {
			v.Workspace, v.AppID = "other", otherApp.ID
		}
		v.Status, v.Web.Location = tc.status, tc.loc
		switch {
		case tc.finished == -1:
			v.FinishedAt = now
		case tc.finished != 0:
			v.FinishedAt = now.Add(-tc.finished)
		}
		createVerification(t, s, v)
	}
	purge := func(workspace string, before time.Time, limit int) []string {
		t.Helper()
		ids, err := s.LocationsToPurge(ctx, workspace, before, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	all := []string{"old-1", "old-2a", "old-2b", "no-recorded-at", "just-before"}
	for _, tc := range []struct {
		workspace string
		before    time.Time
		limit     int
		want      []string
	}{
		{"acme", now, 100, all},
		{"acme", now, 5, all},
		{"acme", now, 2, []string{"old-1", "old-2a"}},
		{"acme", now, 0, nil},
		{"acme", now, -1, nil},
		{"acme", now.Add(-150 * time.Minute), 100, []string{"old-1"}},
		{"acme", now.Add(-2 * time.Hour), 100, []string{"old-1"}}, // strictly before
		{"acme", now.Add(-2*time.Hour + time.Millisecond), 100, []string{"old-1", "old-2a", "old-2b"}},
		{"acme", now.Add(-4 * time.Hour), 100, nil},
		{"acme", now.Add(time.Millisecond), 100, append(slices.Clone(all), "at-before")},
		{"acme", now.Add(time.Hour), 100, append(slices.Clone(all), "at-before", "after")},
		{"other", now, 100, []string{"other-ws"}},
		{"nope", now, 100, nil},
	} {
		got := purge(tc.workspace, tc.before, tc.limit)
		if got == nil {
			t.Errorf("LocationsToPurge(%s, now%+v, %d) = nil, want an empty list", tc.workspace, tc.before.Sub(now), tc.limit)
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("LocationsToPurge(%s, now%+v, %d) (-want +got):\n%s", tc.workspace, tc.before.Sub(now), tc.limit, diff)
		}
	}

	// Purging a location, or removing it, takes the verification off the
	// list; finishing one that holds a location, or giving a finished one a
	// location, puts it on.
	update := func(id string, change func(v *tandem.Verification)) {
		t.Helper()
		v := getVerification(t, s, id)
		change(v)
		updateVerification(t, s, v)
	}
	update("old-2a", func(v *tandem.Verification) {
		v.Web.Location = &tandem.WebLocation{AccuracyM: v.Web.Location.AccuracyM, ReadAt: v.Web.Location.ReadAt,
			RecordedAt: v.Web.Location.RecordedAt, Purged: true}
	})
	update("old-1", func(v *tandem.Verification) { v.Web.Location = nil })
	update("running", func(v *tandem.Verification) {
		v.Status, v.FinishedAt = tandem.StatusCompleted, now.Add(-100*time.Minute)
	})
	update("no-location", func(v *tandem.Verification) { v.Web.Location = location(now.Add(-5 * time.Hour)) })
	// An update that does not touch the location keeps it on the list.
	update("old-2b", func(v *tandem.Verification) { v.Reason = "reviewed" })
	want := []string{"no-location", "old-2b", "running", "no-recorded-at", "just-before"}
	if diff := cmp.Diff(want, purge("acme", now, 100)); diff != "" {
		t.Errorf("LocationsToPurge after updates (-want +got):\n%s", diff)
	}
	if got := getVerification(t, s, "old-2a"); got.Web.Location == nil || !got.Web.Location.Purged {
		t.Errorf("purged location came back as %+v", got.Web.Location)
	}

	// Deleting the workspace empties its list and leaves the other's.
	if err := s.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	if got := purge("acme", now, 100); len(got) != 0 {
		t.Errorf("LocationsToPurge of a deleted workspace = %v, want none", got)
	}
	if diff := cmp.Diff([]string{"other-ws"}, purge("other", now, 100)); diff != "" {
		t.Errorf("LocationsToPurge of the other workspace (-want +got):\n%s", diff)
	}
}

func testAuditRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	at := time.Date(2030, 1, 2, 8, 34, 5, 987_654_321, tz)
	events := []tandem.AuditEvent{
		{Workspace: "acme", VerificationID: "v1", Actor: tandem.ActorAPI, Action: "created", Detail: json.RawMessage(`{"user_id": "u", "n": 1.50}`), Addr: "203.0.113.7", At: at},
		{Workspace: "acme", VerificationID: "v2", Actor: tandem.ActorAPI, Action: "created", At: at},
		{Workspace: "acme", VerificationID: "v1", Actor: tandem.ActorWeb, Action: "opened", Detail: json.RawMessage(`[]`), At: at.Add(-time.Hour)},
	}
	if err := s.AddAudit(ctx, events...); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAudit(ctx); err != nil {
		t.Errorf("AddAudit of nothing: %v", err)
	}
	before := time.Now().Add(-time.Second)
	late := tandem.AuditEvent{Workspace: "acme", VerificationID: "v1", Actor: tandem.ActorSystem, Action: "expired"}
	if err := s.AddAudit(ctx, late); err != nil {
		t.Fatal(err)
	}

	got := listAudit(t, s, "v1")
	if len(got) != 3 {
		t.Fatalf("%d events of v1, want 3: %+v", len(got), got)
	}
	for i, e := range got {
		if i > 0 && e.ID <= got[i-1].ID {
			t.Errorf("event %d has id %d after %d; want increasing ids", i, e.ID, got[i-1].ID)
		}
		if e.At.Location() != time.UTC {
			t.Errorf("event %d at %v, want UTC", i, e.At)
		}
	}
	if at := got[2].At; at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("event without a time stored at %v, want now", at)
	}
	want := []tandem.AuditEvent{events[0], events[2], late}
	for i := range want {
		want[i].At = want[i].At.Truncate(time.Millisecond)
	}
	want[2].At = got[2].At
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(tandem.AuditEvent{}, "ID")); diff != "" {
		t.Errorf("audit of v1 (-want +got):\n%s", diff)
	}
	if string(got[0].Detail) != `{"user_id": "u", "n": 1.50}` {
		t.Errorf("detail %s is not stored as it was given", got[0].Detail)
	}
	if got := listAudit(t, s, "v2"); len(got) != 1 || got[0].Action != "created" {
		t.Errorf("audit of v2 = %+v, want one created event", got)
	}
	if got := listAudit(t, s, "v3"); got == nil || len(got) != 0 {
		t.Errorf("audit of v3 = %#v, want an empty list", got)
	}
}

func testAuditRefusals(t *testing.T, s Store) {
	ctx := t.Context()
	refusal := tandem.AuditEvent{Workspace: "acme", Actor: tandem.ActorAPI, Action: "refused.gatepass",
		Detail: json.RawMessage(`{"application":"portal","user_id":"u"}`), Addr: "203.0.113.7", At: t0}
	unknown := tandem.AuditEvent{Workspace: "acme", VerificationID: "no-such-verification", Actor: tandem.ActorWeb, Action: "refused.browser", At: t0}
	if err := s.AddAudit(ctx, refusal, unknown); err != nil {
		t.Fatal(err)
	}
	createVerification(t, s, sampleVerification(t, s, "v1", 1), tandem.AuditEvent{Actor: tandem.ActorAPI, Action: "created", At: t0})
	opts := cmpopts.IgnoreFields(tandem.AuditEvent{}, "ID")
	if diff := cmp.Diff([]tandem.AuditEvent{refusal}, listAudit(t, s, ""), opts); diff != "" {
		t.Errorf("events without a verification (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]tandem.AuditEvent{unknown}, listAudit(t, s, "no-such-verification"), opts); diff != "" {
		t.Errorf("events of an unknown verification (-want +got):\n%s", diff)
	}
}

func testVerificationCascade(t *testing.T, s Store) {
	ctx := t.Context()
	v1 := sampleVerification(t, s, "v1", 1)
	v1.ExpiresAt = t0
	createVerification(t, s, v1, tandem.AuditEvent{Actor: tandem.ActorAPI, Action: "created", At: t0})
	createVerification(t, s, sampleVerification(t, s, "v2", 2))
	other := sampleDoc()
	other.Name = "other"
	apply(t, s, other, 0)
	v3 := sampleVerification(t, s, "v3", 3)
	v3.Workspace, v3.AppID, v3.ExpiresAt = "other", getApp(t, s, "other", "portal").ID, t0
	createVerification(t, s, v3)

	if err := s.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"v1", "v2"} {
		_, err := s.GetVerification(ctx, id)
		wantCode(t, err, tandem.ENOTFOUND)
	}
	_, err := s.VerificationByLink(ctx, linkHash(1))
	wantCode(t, err, tandem.ENOTFOUND)
	ids, err := s.ExpiredVerifications(ctx, t0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"v3"}, ids); diff != "" {
		t.Errorf("expired verifications after the delete (-want +got):\n%s", diff)
	}
	wantStored(t, s, v3)
	// The audit log outlives the workspace.
	if n := len(listAudit(t, s, "v1")); n != 1 {
		t.Errorf("v1 has %d audit events after the delete, want 1", n)
	}

	// The id, the link and the step rows of v1 are free again: a new v1
	// with one step stores exactly that step.
	apply(t, s, sampleDoc(), 0)
	again := sampleVerification(t, s, "v1", 1)
	again.Steps = again.Steps[:1]
	again.Steps[0].DisplayName = "Only step"
	createVerification(t, s, again)
	wantStored(t, s, again)
}

// sampleDevice returns a device context with every field set.
func sampleDevice(paired time.Time) tandem.DeviceContext {
	return tandem.DeviceContext{CredID: "0123456789abcdef0123456789abcdef", New: true, Platform: "android",
		PushType: "fcm", PushToken: "push-token", Application: "mobile", PairedAt: paired}
}

// testStepSideGroupState stores steps of every side, group and state, and
// a device context, through create and update.
func testStepSideGroupState(t *testing.T, s Store) {
	v := sampleVerification(t, s, "v1", 1)
	v.Steps = []tandem.Step{
		{Index: 0, Type: "web_to_device", Status: tandem.StepPending, Side: "web", Group: -1},
		{Index: 1, Type: "number_prompt", Status: tandem.StepPending, Side: "device", Group: 0, State: json.RawMessage(`{"n":7}`)},
		{Index: 2, Type: "number_prompt", Status: tandem.StepPending, Side: "device", Group: 0},
		{Index: 3, Type: "web_to_device", Status: tandem.StepPending, Side: "web", Group: 3, State: json.RawMessage(`"x"`)},
		{Index: 4, Type: "number_prompt", Status: tandem.StepPending, Side: "", Group: 0},
	}
	createVerification(t, s, v)
	wantStored(t, s, v)
	got := getVerification(t, s, "v1")
	if got.Steps[2].State != nil || got.Steps[0].State != nil {
		t.Errorf("steps without state came back with %q, %q; want nil", got.Steps[0].State, got.Steps[2].State)
	}
	if got.Device != (tandem.DeviceContext{}) {
		t.Errorf("device context %+v, want none", got.Device)
	}
	byLink, err := s.VerificationByLink(t.Context(), v.LinkHash)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stored(v), byLink); diff != "" {
		t.Errorf("verification by link (-want +got):\n%s", diff)
	}

	// A run pairs a device and changes steps; later the device goes.
	paired := time.Date(2030, 1, 2, 8, 40, 0, 999_999_999, tz)
	for _, change := range []struct {
		name string
		fn   func(v *tandem.Verification)
	}{
		{"Paired", func(v *tandem.Verification) { v.Device = sampleDevice(paired) }},
		{"StateSet", func(v *tandem.Verification) { v.Steps[2].State = json.RawMessage(`{"n":8}`) }},
		{"StateChanged", func(v *tandem.Verification) { v.Steps[1].State = json.RawMessage(`{"n":9}`) }},
		{"StateCleared", func(v *tandem.Verification) { v.Steps[3].State = nil }},
		{"Side", func(v *tandem.Verification) { v.Steps[4].Side = "device" }},
		{"GroupSet", func(v *tandem.Verification) { v.Steps[4].Group = 3 }},
		{"GroupNone", func(v *tandem.Verification) { v.Steps[2].Group = -1 }},
		{"GroupZero", func(v *tandem.Verification) { v.Steps[2].Group = 0 }},
		{"DeviceChanged", func(v *tandem.Verification) {
			v.Device.New, v.Device.PushType, v.Device.PushToken = false, "webpush", "other-token"
		}},
		{"PairedAtCleared", func(v *tandem.Verification) { v.Device.PairedAt = time.Time{} }},
		{"DeviceCleared", func(v *tandem.Verification) { v.Device = tandem.DeviceContext{} }},
	} {
		change.fn(v)
		updateVerification(t, s, v)
		got := getVerification(t, s, "v1")
		if diff := cmp.Diff(stored(v), got); diff != "" {
			t.Errorf("after %s (-want +got):\n%s", change.name, diff)
		}
	}
}
