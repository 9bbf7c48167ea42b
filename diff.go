package tandem

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
)

// Diff reports what must change to turn cur into desired: applications and
// workflows are matched by name and compared by their JSON form, so both
// documents should be normalized first. cur is nil when the workspace does
// not exist yet. Changes come workspace first, then applications, then
// workflows, each sorted by name.
func Diff(cur *WorkspaceDoc, desired WorkspaceDoc) []Change {
	var changes []Change
	if cur == nil {
		changes = append(changes, Change{"created", "workspace", desired.Name})
		cur = &WorkspaceDoc{}
	} else if !jsonEqual(cur.Settings, desired.Settings) {
		changes = append(changes, Change{"changed", "workspace", desired.Name})
	}
	changes = append(changes, diffNamed("application", cur.Applications, desired.Applications, func(a Application) string { return a.Name })...)
	changes = append(changes, diffNamed("workflow", cur.Workflows, desired.Workflows, func(w Workflow) string { return w.Name })...)
	return changes
}

func diffNamed[T any](kind string, cur, want []T, name func(T) string) []Change {
	old := make(map[string]T, len(cur))
	for _, c := range cur {
		old[name(c)] = c
	}
	var out []Change
	seen := make(map[string]bool, len(want))
	for _, w := range want {
		n := name(w)
		seen[n] = true
		c, ok := old[n]
		switch {
		case !ok:
			out = append(out, Change{"created", kind, n})
		case !jsonEqual(c, w):
			out = append(out, Change{"changed", kind, n})
		}
	}
	for _, c := range cur {
		if !seen[name(c)] {
			out = append(out, Change{"removed", kind, name(c)})
		}
	}
	slices.SortStableFunc(out, func(a, b Change) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}
