package store_test

import (
	"testing"

	"github.com/tandem-id/tandem"
)

// TestWorkspaceVersion follows a workspace's id and version through an
// apply that changes it, one that does not, its deletion and its creation
// again under the same name.
func TestWorkspaceVersion(t *testing.T) {
	db, _ := openFile(t)
	ctx := t.Context()
	if _, _, err := db.WorkspaceVersion(ctx, "bench"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("missing workspace: %v, want ENOTFOUND", err)
	}
	doc := benchDoc()
	if _, err := db.ApplyWorkspace(ctx, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	id1, v, err := db.WorkspaceVersion(ctx, "bench")
	if err != nil || id1 == "" || v != 1 {
		t.Fatalf("after create: %q, %d, %v; want an id and version 1", id1, v, err)
	}
	if _, err := db.ApplyWorkspace(ctx, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if id, v, err := db.WorkspaceVersion(ctx, "bench"); err != nil || id != id1 || v != 1 {
		t.Fatalf("after an apply without change: %q, %d, %v; want %q and 1", id, v, err, id1)
	}
	doc.Workflows[0].Modules[0].DisplayName = "Changed"
	if _, err := db.ApplyWorkspace(ctx, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if id, v, err := db.WorkspaceVersion(ctx, "bench"); err != nil || id != id1 || v != 2 {
		t.Fatalf("after a change: %q, %d, %v; want %q and 2", id, v, err, id1)
	}
	if err := db.DeleteWorkspace(ctx, "bench"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.WorkspaceVersion(ctx, "bench"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Fatalf("deleted workspace: %v, want ENOTFOUND", err)
	}
	if _, err := db.ApplyWorkspace(ctx, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	if id, v, err := db.WorkspaceVersion(ctx, "bench"); err != nil || id == id1 || v != 1 {
		t.Fatalf("created again: %q, %d, %v; want a new id and version 1", id, v, err)
	}
}
