package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
)

// benchDoc is a workspace of a realistic size: 10 applications, 10
// workflows of 5 modules each.
func benchDoc() tandem.WorkspaceDoc {
	doc := tandem.WorkspaceDoc{Name: "bench"}
	for i := range 10 {
		wf := tandem.Workflow{Name: fmt.Sprintf("wf-%02d", i)}
		for m := range 5 {
			wf.Modules = append(wf.Modules, tandem.ModuleInstance{
				Type: "number_prompt", DisplayName: fmt.Sprintf("Step %d", m), Rule: "true",
				Configs: []byte(`{"digits":6,"attempts":3}`),
			})
		}
		doc.Workflows = append(doc.Workflows, wf)
		doc.Applications = append(doc.Applications, tandem.Application{
			Name: fmt.Sprintf("app-%02d", i), VerificationWay: tandem.WayWeb, Workflow: wf.Name,
			RedirectURLs: []string{"https://example.com/back"},
		})
	}
	return doc
}

// BenchmarkApplyWorkspace measures re-applying an unchanged document: one
// write transaction that loads and diffs the workspace and writes nothing.
func BenchmarkApplyWorkspace(b *testing.B) {
	db, _ := openFile(b)
	ctx := b.Context()
	doc := benchDoc()
	if _, err := db.ApplyWorkspace(ctx, doc, 0); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := db.ApplyWorkspace(ctx, doc, tandem.AnyVersion)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Changes) != 0 {
			b.Fatalf("re-apply changed %v", res.Changes)
		}
	}
}

// BenchmarkApplicationByClientID measures the credential lookup of every
// API call, serially and from parallel goroutines on the read pool.
func BenchmarkApplicationByClientID(b *testing.B) {
	db, _ := openFile(b)
	ctx := b.Context()
	if _, err := db.ApplyWorkspace(ctx, benchDoc(), 0); err != nil {
		b.Fatal(err)
	}
	app, err := db.GetApplication(ctx, "bench", "app-03")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i := range 3 { // two secrets in their grace period, one current
		if err := db.PutSecret(ctx, app.ID, "client-03", []byte(fmt.Sprintf("hash-%d", i)), now, now.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	lookup := func() error {
		_, hashes, err := db.ApplicationByClientID(ctx, "client-03", now)
		if err == nil && len(hashes) != 3 {
			err = fmt.Errorf("%d hashes, want 3", len(hashes))
		}
		return err
	}
	b.Run("Serial", func(b *testing.B) {
		for b.Loop() {
			if err := lookup(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := lookup(); err != nil {
					b.Error(err) // Fatal may not be called from these goroutines
					return
				}
			}
		})
	})
}
