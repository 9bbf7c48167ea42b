package engine_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
)

// TestWorkspaceChangesReachTheEngine checks that the engine's cache of
// decoded workspaces never serves a workspace that changed: not after an
// apply (a new version), and not after the workspace was deleted and
// created again with the same name (its versions start again at 1).
func TestWorkspaceChangesReachTheEngine(t *testing.T) {
	stepTypes := func(v *tandem.Verification) []string {
		var out []string
		for _, s := range v.Steps {
			out = append(out, s.Type)
		}
		return out
	}
	panOnly := func(t *testing.T) tandem.WorkspaceDoc {
		t.Helper()
		var doc tandem.WorkspaceDoc
		if err := json.Unmarshal([]byte(strings.Replace(workspaceJSON,
			`{"type": "verify_aadhaar", "display_name": "Aadhaar"},`, ``, 1)), &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	validator := &spec.Validator{Modules: all.Registry(), Rules: env}

	t.Run("Apply", func(t *testing.T) {
		f := setup(t)
		v, _ := f.create(t, "web", engine.CreateRequest{UserID: "u"})
		if diff := cmp.Diff([]string{"verify_aadhaar", "verify_pan"}, stepTypes(v)); diff != "" {
			t.Fatalf("steps before the apply (-want +got):\n%s", diff)
		}
		if _, err := validator.Apply(t.Context(), f.db, panOnly(t), tandem.AnyVersion); err != nil {
			t.Fatal(err)
		}
		v, _ = f.create(t, "web", engine.CreateRequest{UserID: "u"})
		if diff := cmp.Diff([]string{"verify_pan"}, stepTypes(v)); diff != "" {
			t.Errorf("steps after the apply (-want +got):\n%s", diff)
		}
	})
	t.Run("DeletedAndCreatedAgain", func(t *testing.T) {
		f := setup(t)
		v, _ := f.create(t, "web", engine.CreateRequest{UserID: "u"})
		if diff := cmp.Diff([]string{"verify_aadhaar", "verify_pan"}, stepTypes(v)); diff != "" {
			t.Fatalf("steps before (-want +got):\n%s", diff)
		}
		if err := f.db.DeleteWorkspace(t.Context(), "acme"); err != nil {
			t.Fatal(err)
		}
		res, err := validator.Apply(t.Context(), f.db, panOnly(t), tandem.AnyVersion)
		if err != nil {
			t.Fatal(err)
		}
		if res.Version != 1 {
			t.Fatalf("the workspace created again has version %d; the test needs it to start again at 1", res.Version)
		}
		ref, err := f.db.GetApplication(t.Context(), "acme", "web")
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.eng.Create(t.Context(), ref, engine.CreateRequest{UserID: "u"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"verify_pan"}, stepTypes(c.Verification)); diff != "" {
			t.Errorf("steps of the workspace created again (-want +got):\n%s", diff)
		}
	})
}
