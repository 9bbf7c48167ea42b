package tandem_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
)

func TestDiff(t *testing.T) {
	base := tandem.WorkspaceDoc{
		Name: "acme",
		Applications: []tandem.Application{
			{Name: "a", VerificationWay: "web", Workflow: "w"},
			{Name: "b", VerificationWay: "mobile", Workflow: "m"},
		},
		Workflows: []tandem.Workflow{
			{Name: "m", Modules: []tandem.ModuleInstance{{Type: "verify_pan", DisplayName: "PAN"}}},
			{Name: "w", Modules: []tandem.ModuleInstance{{Type: "verify_aadhaar", DisplayName: "A"}}},
		},
	}
	changed := base
	changed.Applications = []tandem.Application{{Name: "a", VerificationWay: "web", Workflow: "w", LinkExpiryS: 60}, {Name: "c", VerificationWay: "web", Workflow: "w"}}
	changed.Workflows = []tandem.Workflow{base.Workflows[0], {Name: "w", Modules: []tandem.ModuleInstance{{Type: "verify_aadhaar", DisplayName: "A", Configs: json.RawMessage(`{"x":1}`)}}}}

	tests := []struct {
		name string
		cur  *tandem.WorkspaceDoc
		want []tandem.Change
		doc  tandem.WorkspaceDoc
	}{
		{"create", nil, []tandem.Change{
			{Action: "created", Kind: "workspace", Name: "acme"},
			{Action: "created", Kind: "application", Name: "a"},
			{Action: "created", Kind: "application", Name: "b"},
			{Action: "created", Kind: "workflow", Name: "m"},
			{Action: "created", Kind: "workflow", Name: "w"},
		}, base},
		{"same", &base, nil, base},
		{"changes", &base, []tandem.Change{
			{Action: "changed", Kind: "application", Name: "a"},
			{Action: "removed", Kind: "application", Name: "b"},
			{Action: "created", Kind: "application", Name: "c"},
			{Action: "changed", Kind: "workflow", Name: "w"},
		}, changed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tandem.Diff(tt.cur, tt.doc)); diff != "" {
				t.Errorf("Diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSecretMatches(t *testing.T) {
	s1, s2 := tandem.NewSecret("x_"), tandem.NewSecret("x_")
	if s1 == s2 || len(s1) != 2+43 {
		t.Fatalf("NewSecret gave %q and %q; want two different 256-bit secrets", s1, s2)
	}
	h1, h2 := tandem.HashSecret(s1), tandem.HashSecret(s2)
	if !tandem.SecretMatches(s1, h2, h1) || tandem.SecretMatches(s1, h2) || tandem.SecretMatches(s1) {
		t.Error("SecretMatches does not tell matching from non-matching hashes")
	}
}
