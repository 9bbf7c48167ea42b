package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
)

// benchVerification returns a verification of the bench workspace as the
// engine creates it: the 5 modules of a workflow, 5 pending steps, request
// metadata and claims.
func benchVerification(i int) *tandem.Verification {
	doc := benchDoc()
	wf := doc.Workflows[0]
	now := time.Now()
	id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", i)
	v := &tandem.Verification{
		ID: id, Workspace: doc.Name, AppID: "app-id", Application: doc.Applications[0].Name,
		Workflow: wf.Name, Modules: wf.Modules, UserID: "user-42",
		Metadata:    map[string]any{"plan": "gold", "seats": 3.0},
		RedirectURL: "https://example.com/back",
		Web:         tandem.WebContext{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"},
		Status:      tandem.StatusPending,
		Claims:      map[string]string{"request_id": id, "workflow": wf.Name, "user_id": "user-42"},
		LinkHash:    []byte(fmt.Sprintf("%032d", i)),
		CreatedAt:   now, UpdatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}
	for m, mod := range wf.Modules {
		v.Steps = append(v.Steps, tandem.Step{Index: m, Type: mod.Type, DisplayName: mod.DisplayName, Status: tandem.StepPending})
	}
	return v
}

func benchAudit(v *tandem.Verification, action string) tandem.AuditEvent {
	return tandem.AuditEvent{Workspace: v.Workspace, VerificationID: v.ID, Actor: tandem.ActorAPI, Action: action,
		Detail: json.RawMessage(`{"application":"app-00","user_id":"user-42"}`), Addr: "203.0.113.7", At: time.Now()}
}

// BenchmarkCreateVerification measures creating a verification of 5 steps
// with one audit event: one write transaction.
func BenchmarkCreateVerification(b *testing.B) {
	db, _ := openFile(b)
	ctx := b.Context()
	if _, err := db.ApplyWorkspace(ctx, benchDoc(), 0); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		v := benchVerification(i)
		i++
		if err := db.CreateVerification(ctx, v, benchAudit(v, "created")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateVerification measures one step of a run: a step changes,
// the claims grow, and one audit event is added, in one write transaction.
func BenchmarkUpdateVerification(b *testing.B) {
	db, _ := openFile(b)
	ctx := b.Context()
	if _, err := db.ApplyWorkspace(ctx, benchDoc(), 0); err != nil {
		b.Fatal(err)
	}
	v := benchVerification(0)
	if err := db.CreateVerification(ctx, v); err != nil {
		b.Fatal(err)
	}
	v.Status = tandem.StatusInProgress
	i := 0
	for b.Loop() {
		s := &v.Steps[i%len(v.Steps)]
		s.Attempts++
		s.StartedAt = time.Now()
		v.Claims["attempts"] = fmt.Sprint(s.Attempts)
		v.UpdatedAt = s.StartedAt
		i++
		if err := db.UpdateVerification(ctx, v, benchAudit(v, "step.attempt")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetVerification measures loading a verification and its steps,
// serially and from parallel goroutines on the read pool.
func BenchmarkGetVerification(b *testing.B) {
	db, _ := openFile(b)
	ctx := b.Context()
	if _, err := db.ApplyWorkspace(ctx, benchDoc(), 0); err != nil {
		b.Fatal(err)
	}
	v := benchVerification(0)
	if err := db.CreateVerification(ctx, v); err != nil {
		b.Fatal(err)
	}
	get := func() error {
		got, err := db.GetVerification(ctx, v.ID)
		if err == nil && len(got.Steps) != 5 {
			err = fmt.Errorf("%d steps, want 5", len(got.Steps))
		}
		return err
	}
	b.Run("Serial", func(b *testing.B) {
		for b.Loop() {
			if err := get(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := get(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
