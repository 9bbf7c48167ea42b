// Package storetest is the contract test suite of tandem.WorkspaceStore.
// Every store engine runs the same suite, so that SQLite and PostgreSQL keep
// the same behaviour.
package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tandem-id/tandem"
)

// Run runs the contract tests. open must return a new, empty store for each
// call and arrange for it to be closed with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) tandem.WorkspaceStore) {
	t.Run("GetWorkspace/NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.GetWorkspace(t.Context(), "nope")
		wantCode(t, err, tandem.ENOTFOUND)
	})
	t.Run("ApplyWorkspace/Create", func(t *testing.T) { testCreate(t, open(t)) })
	t.Run("ApplyWorkspace/Idempotent", func(t *testing.T) { testIdempotent(t, open(t)) })
	t.Run("ApplyWorkspace/Change", func(t *testing.T) { testChange(t, open(t)) })
	t.Run("ApplyWorkspace/RemoveAll", func(t *testing.T) { testRemoveAll(t, open(t)) })
	t.Run("ApplyWorkspace/RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("ApplyWorkspace/Settings", func(t *testing.T) { testWorkspaceSettings(t, open(t)) })
	t.Run("ApplyWorkspace/SettingsOnlyChange", func(t *testing.T) { testSettingsOnlyChange(t, open(t)) })
	t.Run("ApplyWorkspace/SortsByName", func(t *testing.T) { testSortsByName(t, open(t)) })
	t.Run("ApplyWorkspace/VersionConflict", func(t *testing.T) { testVersionConflict(t, open(t)) })
	t.Run("ApplyWorkspace/ApplicationIDStable", func(t *testing.T) { testAppIDStable(t, open(t)) })
	t.Run("ApplyWorkspace/ConcurrentIfVersion", func(t *testing.T) { testConcurrent(t, open(t), true) })
	t.Run("ApplyWorkspace/ConcurrentAnyVersion", func(t *testing.T) { testConcurrent(t, open(t), false) })
	t.Run("ListWorkspaces", func(t *testing.T) { testList(t, open(t)) })
	t.Run("DeleteWorkspace/NotFound", func(t *testing.T) {
		s := open(t)
		wantCode(t, s.DeleteWorkspace(t.Context(), "nope"), tandem.ENOTFOUND)
	})
	t.Run("DeleteWorkspace/Cascade", func(t *testing.T) { testDeleteCascade(t, open(t)) })
	t.Run("GetApplication", func(t *testing.T) { testGetApplication(t, open(t)) })
	t.Run("PutSecret/First", func(t *testing.T) { testFirstSecret(t, open(t)) })
	t.Run("PutSecret/RotationGrace", func(t *testing.T) { testRotation(t, open(t)) })
	t.Run("PutSecret/ClientIDUnique", func(t *testing.T) { testClientIDUnique(t, open(t)) })
	t.Run("PutSecret/OtherClientID", func(t *testing.T) { testOtherClientID(t, open(t)) })
	t.Run("PutSecret/UnknownApplication", func(t *testing.T) {
		s := open(t)
		err := s.PutSecret(t.Context(), "0123456789abcdef0123456789abcdef", "cid", []byte("h"), t0, t0)
		wantCode(t, err, tandem.ENOTFOUND)
	})
	t.Run("ApplicationByClientID/NotFound", func(t *testing.T) {
		s := open(t)
		_, _, err := s.ApplicationByClientID(t.Context(), "nope", t0)
		wantCode(t, err, tandem.ENOTFOUND)
	})
	t.Run("Setting/RoundTrip", func(t *testing.T) { testSettings(t, open(t)) })
	t.Run("Setting/NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.Setting(t.Context(), "nope")
		wantCode(t, err, tandem.ENOTFOUND)
	})
}

// t0 is a fixed instant; stores keep times to the millisecond.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// docOpts compares documents, treating nil and empty slices alike.
var docOpts = cmp.Options{cmpopts.EquateEmpty()}

func sampleDoc() tandem.WorkspaceDoc {
	return tandem.WorkspaceDoc{
		Name: "acme",
		Applications: []tandem.Application{
			{Name: "portal", VerificationWay: tandem.WayWeb, Workflow: "kyc", RedirectURLs: []string{"https://acme.example/back"}},
		},
		Workflows: []tandem.Workflow{
			{Name: "kyc", Modules: []tandem.ModuleInstance{
				{Type: "number_prompt", DisplayName: "Phone number", Configs: json.RawMessage(`{"digits":10}`)},
			}},
		},
	}
}

func testCreate(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	doc := sampleDoc()
	got := apply(t, s, doc, 0)
	want := &tandem.ApplyResult{Version: 1, Changes: []tandem.Change{
		change("created", "workspace", "acme"),
		change("created", "application", "portal"),
		change("created", "workflow", "kyc"),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apply result (-want +got):\n%s", diff)
	}
	ws, err := s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(doc, ws.Doc, docOpts); diff != "" {
		t.Errorf("stored doc (-want +got):\n%s", diff)
	}
	if ws.Version != 1 {
		t.Errorf("version = %d, want 1", ws.Version)
	}
	if ws.CreatedAt.Before(before) || !ws.UpdatedAt.Equal(ws.CreatedAt) {
		t.Errorf("created at %v, updated at %v; want both now", ws.CreatedAt, ws.UpdatedAt)
	}
}

func testIdempotent(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	apply(t, s, sampleDoc(), tandem.AnyVersion)
	first, err := s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // so that a write would move updated_at
	for _, ifVersion := range []int64{tandem.AnyVersion, 1} {
		got := apply(t, s, sampleDoc(), ifVersion)
		want := &tandem.ApplyResult{Changes: []tandem.Change{}, Version: 1}
		if diff := cmp.Diff(want, got, docOpts); diff != "" {
			t.Errorf("second apply (ifVersion %d) (-want +got):\n%s", ifVersion, diff)
		}
	}
	again, err := s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, again, docOpts); diff != "" {
		t.Errorf("workspace after a no-op apply (-before +after):\n%s", diff)
	}
}

func testChange(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	doc := sampleDoc()
	doc.Applications = append(doc.Applications, tandem.Application{Name: "kiosk", VerificationWay: tandem.WayWeb, Workflow: "kyc"})
	apply(t, s, doc, 0)

	doc = sampleDoc()
	doc.Applications[0].LinkExpiryS = 120 // changed portal, removed kiosk
	doc.Workflows = append(doc.Workflows, tandem.Workflow{Name: "age", Modules: []tandem.ModuleInstance{
		{Type: "number_prompt", DisplayName: "Age"},
	}})
	got := apply(t, s, doc, 1)
	want := &tandem.ApplyResult{Version: 2, Changes: []tandem.Change{
		change("removed", "application", "kiosk"),
		change("changed", "application", "portal"),
		change("created", "workflow", "age"),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apply result (-want +got):\n%s", diff)
	}
	ws, err := s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	doc.Workflows = []tandem.Workflow{doc.Workflows[1], doc.Workflows[0]} // by name
	if diff := cmp.Diff(doc, ws.Doc, docOpts); diff != "" {
		t.Errorf("stored doc (-want +got):\n%s", diff)
	}
	if ws.Version != 2 || ws.UpdatedAt.Before(ws.CreatedAt) {
		t.Errorf("version %d, created %v, updated %v", ws.Version, ws.CreatedAt, ws.UpdatedAt)
	}
	_, err = s.GetApplication(ctx, "acme", "kiosk")
	wantCode(t, err, tandem.ENOTFOUND)
}

func testRemoveAll(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	apply(t, s, sampleDoc(), 0)
	got := apply(t, s, tandem.WorkspaceDoc{Name: "acme"}, 1)
	want := &tandem.ApplyResult{Version: 2, Changes: []tandem.Change{
		change("removed", "application", "portal"),
		change("removed", "workflow", "kyc"),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apply result (-want +got):\n%s", diff)
	}
	ws, err := s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tandem.WorkspaceDoc{Name: "acme"}, ws.Doc, docOpts); diff != "" {
		t.Errorf("stored doc (-want +got):\n%s", diff)
	}
}

// testRoundTrip stores every field of a document and checks that it comes
// back equal and that applying it again changes nothing.
func testRoundTrip(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	off := false
	doc := tandem.WorkspaceDoc{
		Name:     "full",
		Settings: &tandem.WorkspaceSettings{LocationRetentionS: 86400},
		Applications: []tandem.Application{{
			Name: "app", VerificationWay: tandem.WayMobile, Workflow: "wf", LinkExpiryS: 90,
			RedirectURLs: []string{"https://a.example/1", "https://a.example/2"},
			Mobile:       &tandem.Mobile{Notification: tandem.NotifyPush, Proximity: true, PushTitle: "Verify", PushBody: "Tap — ✓"},
			Gatepass:     `request.metadata["tier"] == "gold"`,
		}},
		Workflows: []tandem.Workflow{{Name: "wf", Modules: []tandem.ModuleInstance{
			{Type: "a", DisplayName: "A", Description: "first", Enabled: &off, Rule: "true", Configs: json.RawMessage(`{"x":[1,2],"y":{"z":null}}`)},
			{Type: "b", DisplayName: "B"},
		}}},
	}
	apply(t, s, doc, 0)
	ws, err := s.GetWorkspace(ctx, "full")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(doc, ws.Doc, docOpts); diff != "" {
		t.Errorf("stored doc (-want +got):\n%s", diff)
	}
	if got := apply(t, s, ws.Doc, 1); len(got.Changes) != 0 || got.Version != 1 {
		t.Errorf("re-applying the stored doc = %+v, want no changes at version 1", got)
	}
}

// testWorkspaceSettings checks that settings come back from GetWorkspace
// and ListWorkspaces, that nil and zero settings both come back nil, and
// that settings given at creation are part of the created workspace.
func testWorkspaceSettings(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	with := sampleDoc()
	with.Settings = &tandem.WorkspaceSettings{LocationRetentionS: 3600}
	got := apply(t, s, with, 0)
	want := &tandem.ApplyResult{Version: 1, Changes: []tandem.Change{
		change("created", "workspace", "acme"),
		change("created", "application", "portal"),
		change("created", "workflow", "kyc"),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apply result (-want +got):\n%s", diff)
	}
	zero := tandem.WorkspaceDoc{Name: "zero", Settings: &tandem.WorkspaceSettings{}}
	apply(t, s, zero, 0)
	apply(t, s, tandem.WorkspaceDoc{Name: "none"}, 0)

	ws, err := s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(with, ws.Doc, docOpts); diff != "" {
		t.Errorf("stored doc (-want +got):\n%s", diff)
	}
	list, err := s.ListWorkspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]*tandem.WorkspaceSettings{}
	for _, ws := range list {
		settings[ws.Doc.Name] = ws.Doc.Settings
	}
	wantSettings := map[string]*tandem.WorkspaceSettings{"acme": {LocationRetentionS: 3600}, "none": nil, "zero": nil}
	if diff := cmp.Diff(wantSettings, settings); diff != "" {
		t.Errorf("listed settings (-want +got):\n%s", diff)
	}
	// Nil and zero settings are the same settings.
	for _, doc := range []tandem.WorkspaceDoc{{Name: "zero"}, {Name: "none", Settings: &tandem.WorkspaceSettings{}}} {
		if got := apply(t, s, doc, 1); len(got.Changes) != 0 || got.Version != 1 {
			t.Errorf("applying %s with settings %+v = %+v, want no changes at version 1", doc.Name, doc.Settings, got)
		}
	}
}

// testSettingsOnlyChange checks that a document that differs from the
// stored one in its settings only is a change of the workspace.
func testSettingsOnlyChange(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	apply(t, s, sampleDoc(), 0)
	first, err := s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // so that the write moves updated_at

	doc := sampleDoc()
	doc.Settings = &tandem.WorkspaceSettings{LocationRetentionS: 600}
	for _, tc := range []struct {
		name      string
		doc       tandem.WorkspaceDoc
		ifVersion int64
		want      *tandem.ApplyResult
	}{
		{"Set", doc, 1, &tandem.ApplyResult{Version: 2, Changes: []tandem.Change{change("changed", "workspace", "acme")}}},
		{"Again", doc, 2, &tandem.ApplyResult{Version: 2, Changes: []tandem.Change{}}},
		{"AgainAnyVersion", doc, tandem.AnyVersion, &tandem.ApplyResult{Version: 2, Changes: []tandem.Change{}}},
	} {
		got := apply(t, s, tc.doc, tc.ifVersion)
		if diff := cmp.Diff(tc.want, got, docOpts); diff != "" {
			t.Errorf("%s: apply result (-want +got):\n%s", tc.name, diff)
		}
	}
	ws, err := s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(doc, ws.Doc, docOpts); diff != "" {
		t.Errorf("stored doc (-want +got):\n%s", diff)
	}
	if ws.Version != 2 || !ws.CreatedAt.Equal(first.CreatedAt) || !ws.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("version %d, created %v, updated %v; want version 2, created %v, updated later",
			ws.Version, ws.CreatedAt, ws.UpdatedAt, first.CreatedAt)
	}
	// The application kept its id: only the workspace row changed.
	if app := getApp(t, s, "acme", "portal"); app.ID == "" {
		t.Errorf("application after a settings change = %+v", app)
	}

	// A stale version is refused even for a settings-only change.
	changed := doc
	changed.Settings = &tandem.WorkspaceSettings{LocationRetentionS: 60}
	_, err = s.ApplyWorkspace(ctx, changed, 1)
	wantCode(t, err, tandem.ECONFLICT)

	// Settings and an application together: the workspace comes first.
	changed.Applications = []tandem.Application{doc.Applications[0]}
	changed.Applications[0].LinkExpiryS = 30
	got := apply(t, s, changed, 2)
	want := &tandem.ApplyResult{Version: 3, Changes: []tandem.Change{
		change("changed", "workspace", "acme"),
		change("changed", "application", "portal"),
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("apply of settings and an application (-want +got):\n%s", diff)
	}

	// Removing the settings is a change too, and then nothing is.
	for _, tc := range []struct {
		settings *tandem.WorkspaceSettings
		want     *tandem.ApplyResult
	}{
		{nil, &tandem.ApplyResult{Version: 4, Changes: []tandem.Change{change("changed", "workspace", "acme")}}},
		{&tandem.WorkspaceSettings{}, &tandem.ApplyResult{Version: 4, Changes: []tandem.Change{}}},
	} {
		d := changed
		d.Settings = tc.settings
		if diff := cmp.Diff(tc.want, apply(t, s, d, tandem.AnyVersion), docOpts); diff != "" {
			t.Errorf("apply with settings %+v (-want +got):\n%s", tc.settings, diff)
		}
	}
	ws, err = s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Doc.Settings != nil || ws.Version != 4 {
		t.Errorf("settings %+v at version %d after removing them, want nil at version 4", ws.Doc.Settings, ws.Version)
	}
}

func testSortsByName(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	doc := tandem.WorkspaceDoc{
		Name: "sorted",
		Applications: []tandem.Application{
			{Name: "b", VerificationWay: tandem.WayWeb, Workflow: "y"},
			{Name: "a", VerificationWay: tandem.WayWeb, Workflow: "x"},
			{Name: "B", VerificationWay: tandem.WayWeb, Workflow: "x"},
		},
		Workflows: []tandem.Workflow{{Name: "y"}, {Name: "x"}},
	}
	apply(t, s, doc, 0)
	ws, err := s.GetWorkspace(ctx, "sorted")
	if err != nil {
		t.Fatal(err)
	}
	var apps, wfs []string
	for _, a := range ws.Doc.Applications {
		apps = append(apps, a.Name)
	}
	for _, w := range ws.Doc.Workflows {
		wfs = append(wfs, w.Name)
	}
	if diff := cmp.Diff([]string{"B", "a", "b"}, apps); diff != "" {
		t.Errorf("application order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"x", "y"}, wfs); diff != "" {
		t.Errorf("workflow order (-want +got):\n%s", diff)
	}
}

func testVersionConflict(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	// A workspace that does not exist is at version 0.
	_, err := s.ApplyWorkspace(ctx, sampleDoc(), 1)
	wantCode(t, err, tandem.ECONFLICT)
	_, err = s.GetWorkspace(ctx, "acme")
	wantCode(t, err, tandem.ENOTFOUND)

	apply(t, s, sampleDoc(), 0)
	_, err = s.ApplyWorkspace(ctx, sampleDoc(), 0)
	wantCode(t, err, tandem.ECONFLICT)

	changed := sampleDoc()
	changed.Applications = nil
	for _, v := range []int64{0, 2, 7} {
		_, err = s.ApplyWorkspace(ctx, changed, v)
		wantCode(t, err, tandem.ECONFLICT)
	}
	ws, err := s.GetWorkspace(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sampleDoc(), ws.Doc, docOpts); diff != "" || ws.Version != 1 {
		t.Errorf("a refused apply changed the workspace to version %d (-want +got):\n%s", ws.Version, diff)
	}
	if got := apply(t, s, changed, 1); got.Version != 2 {
		t.Errorf("apply at the right version gave version %d, want 2", got.Version)
	}
}

func testAppIDStable(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	apply(t, s, sampleDoc(), 0)
	before := getApp(t, s, "acme", "portal")
	if before.ID == "" || before.ClientID != "" || before.Workspace != "acme" || before.Name != "portal" {
		t.Fatalf("new application = %+v", before)
	}
	if err := s.PutSecret(ctx, before.ID, "cid-portal", []byte("h1"), t0, t0); err != nil {
		t.Fatal(err)
	}

	doc := sampleDoc()
	doc.Applications[0].Gatepass = "false"
	doc.Workflows[0].Modules[0].DisplayName = "Phone"
	apply(t, s, doc, 1)
	after := getApp(t, s, "acme", "portal")
	want := *before
	want.ClientID = "cid-portal"
	if diff := cmp.Diff(&want, after); diff != "" {
		t.Errorf("application after a change (-want +got):\n%s", diff)
	}
	ref, hashes, err := s.ApplicationByClientID(ctx, "cid-portal", t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&want, ref); diff != "" {
		t.Errorf("by client id (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]byte{[]byte("h1")}, hashes); diff != "" {
		t.Errorf("secrets after a change (-want +got):\n%s", diff)
	}

	// Removing and adding it back makes a new application without credentials.
	apply(t, s, tandem.WorkspaceDoc{Name: "acme"}, 2)
	apply(t, s, doc, 3)
	renewed := getApp(t, s, "acme", "portal")
	if renewed.ID == before.ID || renewed.ClientID != "" {
		t.Errorf("re-created application = %+v, want a new id and no client id (old id %s)", renewed, before.ID)
	}
	_, _, err = s.ApplicationByClientID(ctx, "cid-portal", t0)
	wantCode(t, err, tandem.ENOTFOUND)
}

// testConcurrent applies distinct documents to one workspace from several
// goroutines. Each apply must either succeed or fail with ECONFLICT, and the
// final version must count the successes. With checkVersion every apply
// names the version it read; without it every apply uses AnyVersion.
func testConcurrent(t *testing.T, s tandem.WorkspaceStore, checkVersion bool) {
	ctx := t.Context()
	const workers, rounds = 8, 8
	var ok, conflicts atomic.Int64
	var wg sync.WaitGroup
	var applied sync.Map // ApplyResult.Version → doc
	for g := range workers {
		wg.Go(func() {
			for i := range rounds {
				ifVersion := tandem.AnyVersion
				if checkVersion {
					ifVersion = 0
					ws, err := s.GetWorkspace(ctx, "busy")
					if err == nil {
						ifVersion = ws.Version
					} else if tandem.ErrorCode(err) != tandem.ENOTFOUND {
						t.Errorf("worker %d: get: %v", g, err)
						return
					}
				}
				doc := tandem.WorkspaceDoc{Name: "busy", Applications: []tandem.Application{{
					Name: "app", VerificationWay: tandem.WayWeb, Workflow: "wf", LinkExpiryS: 1 + g*1000 + i,
				}}, Workflows: []tandem.Workflow{{Name: fmt.Sprintf("wf-%d", g)}}}
				res, err := s.ApplyWorkspace(ctx, doc, ifVersion)
				switch tandem.ErrorCode(err) {
				case "":
					ok.Add(1)
					if len(res.Changes) == 0 {
						t.Errorf("worker %d: apply of a new document reported no changes", g)
					}
					if checkVersion && res.Version != ifVersion+1 {
						t.Errorf("worker %d: version %d after applying at %d", g, res.Version, ifVersion)
					}
					if _, dup := applied.LoadOrStore(res.Version, doc); dup {
						t.Errorf("worker %d: version %d was returned twice", g, res.Version)
					}
				case tandem.ECONFLICT:
					conflicts.Add(1)
				default:
					t.Errorf("worker %d: apply: %v", g, err)
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d applied, %d conflicts", ok.Load(), conflicts.Load())
	if ok.Load() == 0 {
		t.Fatal("no apply succeeded")
	}
	ws, err := s.GetWorkspace(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if ws.Version != ok.Load() {
		t.Errorf("final version %d, want %d (one per successful apply)", ws.Version, ok.Load())
	}
	last, _ := applied.Load(ws.Version)
	if diff := cmp.Diff(last, ws.Doc, docOpts); diff != "" {
		t.Errorf("final doc is not the last applied one (-want +got):\n%s", diff)
	}
}

func testList(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	got, err := s.ListWorkspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("empty store lists %d workspaces", len(got))
	}
	b := sampleDoc()
	b.Name = "beta"
	a := tandem.WorkspaceDoc{Name: "alpha", Workflows: []tandem.Workflow{{Name: "w"}}}
	apply(t, s, b, 0)
	apply(t, s, a, 0)
	apply(t, s, tandem.WorkspaceDoc{Name: "alpha"}, 1)
	got, err = s.ListWorkspaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var docs []tandem.WorkspaceDoc
	var versions []int64
	for _, ws := range got {
		docs = append(docs, ws.Doc)
		versions = append(versions, ws.Version)
	}
	if diff := cmp.Diff([]tandem.WorkspaceDoc{{Name: "alpha"}, b}, docs, docOpts); diff != "" {
		t.Errorf("listed docs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{2, 1}, versions); diff != "" {
		t.Errorf("listed versions (-want +got):\n%s", diff)
	}
}

func testDeleteCascade(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	apply(t, s, sampleDoc(), 0)
	other := sampleDoc()
	other.Name = "other"
	apply(t, s, other, 0)
	app := getApp(t, s, "acme", "portal")
	if err := s.PutSecret(ctx, app.ID, "cid", []byte("h1"), t0, t0); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	_, err := s.GetWorkspace(ctx, "acme")
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.GetApplication(ctx, "acme", "portal")
	wantCode(t, err, tandem.ENOTFOUND)
	_, _, err = s.ApplicationByClientID(ctx, "cid", t0)
	wantCode(t, err, tandem.ENOTFOUND)
	wantCode(t, s.PutSecret(ctx, app.ID, "cid", []byte("h2"), t0, t0), tandem.ENOTFOUND)
	wantCode(t, s.DeleteWorkspace(ctx, "acme"), tandem.ENOTFOUND)
	if _, err := s.GetWorkspace(ctx, "other"); err != nil {
		t.Errorf("deleting acme touched other: %v", err)
	}

	// The client id of the deleted application is free again.
	res := apply(t, s, sampleDoc(), 0)
	if res.Version != 1 {
		t.Errorf("re-created workspace at version %d, want 1", res.Version)
	}
	app2 := getApp(t, s, "acme", "portal")
	if app2.ID == app.ID || app2.ClientID != "" {
		t.Errorf("re-created application = %+v (old id %s)", app2, app.ID)
	}
	if err := s.PutSecret(ctx, app2.ID, "cid", []byte("h3"), t0, t0); err != nil {
		t.Fatalf("reusing the client id of a deleted application: %v", err)
	}
	_, hashes, err := s.ApplicationByClientID(ctx, "cid", t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{[]byte("h3")}, hashes); diff != "" {
		t.Errorf("secrets of the re-created application (-want +got):\n%s", diff)
	}
}

func testGetApplication(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	_, err := s.GetApplication(ctx, "acme", "portal")
	wantCode(t, err, tandem.ENOTFOUND)
	apply(t, s, sampleDoc(), 0)
	_, err = s.GetApplication(ctx, "acme", "nope")
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.GetApplication(ctx, "nope", "portal")
	wantCode(t, err, tandem.ENOTFOUND)
	got := getApp(t, s, "acme", "portal")
	if len(got.ID) < 16 {
		t.Errorf("application id %q is too short to be random", got.ID)
	}
	if diff := cmp.Diff(&tandem.AppRef{ID: got.ID, Workspace: "acme", Name: "portal"}, got); diff != "" {
		t.Errorf("application (-want +got):\n%s", diff)
	}
}

func testFirstSecret(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	apply(t, s, sampleDoc(), 0)
	app := getApp(t, s, "acme", "portal")
	wantCode(t, s.PutSecret(ctx, app.ID, "", []byte("h1"), t0, t0), tandem.EINVALID)
	wantCode(t, s.PutSecret(ctx, app.ID, "cid", nil, t0, t0), tandem.EINVALID)
	if err := s.PutSecret(ctx, app.ID, "cid", []byte("h1"), t0, t0); err != nil {
		t.Fatal(err)
	}
	want := &tandem.AppRef{ID: app.ID, Workspace: "acme", Name: "portal", ClientID: "cid"}
	if diff := cmp.Diff(want, getApp(t, s, "acme", "portal")); diff != "" {
		t.Errorf("application after the first secret (-want +got):\n%s", diff)
	}
	for _, now := range []time.Time{t0, t0.Add(365 * 24 * time.Hour)} {
		ref, hashes, err := s.ApplicationByClientID(ctx, "cid", now)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, ref); diff != "" {
			t.Errorf("by client id (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([][]byte{[]byte("h1")}, hashes); diff != "" {
			t.Errorf("secrets at %v (-want +got):\n%s", now, diff)
		}
	}
}

func testRotation(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	apply(t, s, sampleDoc(), 0)
	app := getApp(t, s, "acme", "portal")
	h1, h2, h3 := []byte("h1"), []byte("h2"), []byte("h3")
	put := func(hash []byte, now, grace time.Time) {
		t.Helper()
		if err := s.PutSecret(ctx, app.ID, "cid", hash, now, grace); err != nil {
			t.Fatal(err)
		}
	}
	valid := func(now time.Time, want ...[]byte) {
		t.Helper()
		_, got, err := s.ApplicationByClientID(ctx, "cid", now)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, docOpts); diff != "" {
			t.Errorf("secrets valid at %v (-want +got):\n%s", now.Format(time.RFC3339Nano), diff)
		}
	}

	put(h1, t0, t0)
	t1 := t0.Add(time.Minute)
	grace1 := t1.Add(time.Hour)
	put(h2, t1, grace1)
	valid(t1, h2, h1)
	valid(grace1.Add(-time.Millisecond), h2, h1)
	valid(grace1, h2)
	valid(grace1.Add(time.Hour), h2)

	// A later rotation with a shorter grace cuts the earlier grace short
	// and never extends it.
	t2 := t1.Add(10 * time.Minute)
	grace2 := t2.Add(5 * time.Minute)
	put(h3, t2, grace2)
	valid(t2, h3, h2, h1)
	valid(grace2.Add(-time.Millisecond), h3, h2, h1)
	valid(grace2, h3)

	// A later rotation with a longer grace does not extend earlier ones.
	t3 := t2.Add(time.Minute)
	grace3 := t3.Add(time.Hour)
	h4 := []byte("h4")
	put(h4, t3, grace3)
	valid(grace2.Add(-time.Millisecond), h4, h3, h2, h1)
	valid(grace2, h4, h3)
	valid(grace3, h4)

	// A rotation without grace ends every earlier secret at once.
	t4 := grace2.Add(time.Minute)
	h5 := []byte("h5")
	put(h5, t4, t4)
	valid(t4.Add(-time.Millisecond), h5, h4, h3)
	valid(t4, h5)
}

func testClientIDUnique(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	doc := sampleDoc()
	doc.Applications = append(doc.Applications, tandem.Application{Name: "second", VerificationWay: tandem.WayWeb, Workflow: "kyc"})
	apply(t, s, doc, 0)
	other := sampleDoc()
	other.Name = "other"
	apply(t, s, other, 0)
	first := getApp(t, s, "acme", "portal")
	if err := s.PutSecret(ctx, first.ID, "cid", []byte("h1"), t0, t0); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []*tandem.AppRef{getApp(t, s, "acme", "second"), getApp(t, s, "other", "portal")} {
		err := s.PutSecret(ctx, ref.ID, "cid", []byte("h2"), t0, t0)
		wantCode(t, err, tandem.ECONFLICT)
		if got := getApp(t, s, ref.Workspace, ref.Name); got.ClientID != "" {
			t.Errorf("%s/%s got client id %q from a refused PutSecret", ref.Workspace, ref.Name, got.ClientID)
		}
	}
	got, hashes, err := s.ApplicationByClientID(ctx, "cid", t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != first.ID {
		t.Errorf("client id now names %+v, want %s", got, first.ID)
	}
	if diff := cmp.Diff([][]byte{[]byte("h1")}, hashes); diff != "" {
		t.Errorf("secrets after refused PutSecrets (-want +got):\n%s", diff)
	}
}

func testOtherClientID(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	apply(t, s, sampleDoc(), 0)
	app := getApp(t, s, "acme", "portal")
	if err := s.PutSecret(ctx, app.ID, "cid", []byte("h1"), t0, t0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.PutSecret(ctx, app.ID, "cid-2", []byte("h2"), t0, t0), tandem.ECONFLICT)
	if got := getApp(t, s, "acme", "portal"); got.ClientID != "cid" {
		t.Errorf("client id = %q after a refused change, want cid", got.ClientID)
	}
	_, hashes, err := s.ApplicationByClientID(ctx, "cid", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{[]byte("h1")}, hashes); diff != "" {
		t.Errorf("secrets after a refused PutSecret (-want +got):\n%s", diff)
	}
}

func testSettings(t *testing.T, s tandem.WorkspaceStore) {
	ctx := t.Context()
	for _, tc := range []struct {
		key   string
		value []byte
		want  []byte
	}{
		{"admin_token_hash", []byte{0, 1, 2, 255}, []byte{0, 1, 2, 255}},
		{"admin_token_hash", []byte("replaced"), []byte("replaced")},
		{"empty", nil, []byte{}},
	} {
		if err := s.PutSetting(ctx, tc.key, tc.value); err != nil {
			t.Fatal(err)
		}
		got, err := s.Setting(ctx, tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("setting %s (-want +got):\n%s", tc.key, diff)
		}
	}
}

func apply(t *testing.T, s tandem.WorkspaceStore, doc tandem.WorkspaceDoc, ifVersion int64) *tandem.ApplyResult {
	t.Helper()
	res, err := s.ApplyWorkspace(t.Context(), doc, ifVersion)
	if err != nil {
		t.Fatalf("apply %s at version %d: %v", doc.Name, ifVersion, err)
	}
	return res
}

func getApp(t *testing.T, s tandem.WorkspaceStore, workspace, app string) *tandem.AppRef {
	t.Helper()
	ref, err := s.GetApplication(t.Context(), workspace, app)
	if err != nil {
		t.Fatalf("get application %s/%s: %v", workspace, app, err)
	}
	return ref
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tandem.ErrorCode(err); got != code {
		t.Errorf("error %v has code %q, want %q", err, got, code)
	}
}

func change(action, kind, name string) tandem.Change {
	return tandem.Change{Action: action, Kind: kind, Name: name}
}
