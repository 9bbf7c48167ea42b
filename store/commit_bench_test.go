package store_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/store"
)

// The benchmarks of this file run on a SQLite file (openFile): WAL with
// synchronous=FULL, so every commit waits for its fsync, as in production.

// commitFixture is a stored verification and a stored device of its user.
func commitFixture(b *testing.B) (*store.DB, *tandem.Verification, *tandem.Device) {
	db, _ := openFile(b)
	ctx := b.Context()
	if _, err := db.ApplyWorkspace(ctx, benchDoc(), 0); err != nil {
		b.Fatal(err)
	}
	v := benchVerification(0)
	if err := db.CreateVerification(ctx, v); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	d := &tandem.Device{CredID: "8a44858f34bd24ab21dc9d8d2fe05c76", Workspace: v.Workspace, UserID: v.UserID, Name: "Pixel", Platform: "android",
		PublicKey:  json.RawMessage(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`),
		Thumbprint: "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", State: tandem.DevicePending, CreatedAt: now, UpdatedAt: now}
	if err := db.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{d}}); err != nil {
		b.Fatal(err)
	}
	v.Status = tandem.StatusInProgress
	return db, v, d
}

// BenchmarkCommit measures the transaction of a device step: the
// verification (its steps and claims), the device's last-seen time, two
// audit events and a user event, in one write transaction with its fsync.
func BenchmarkCommit(b *testing.B) {
	db, v, d := commitFixture(b)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		now := time.Now()
		s := &v.Steps[i%len(v.Steps)]
		s.Status, s.StartedAt, s.FinishedAt = tandem.StepPassed, now, now
		v.Claims["prompt_success"], v.Claims["prompt_completed_at"] = "true", fmt.Sprint(now.Unix())
		v.UpdatedAt = now
		d.LastSeenAt, d.UpdatedAt = now, now
		i++
		err := db.Commit(ctx, tandem.Commit{
			Verification: v, Devices: []*tandem.Device{d},
			Audit:      []tandem.AuditEvent{benchAudit(v, "step.passed"), benchAudit(v, "step.started")},
			UserEvents: []tandem.UserEvent{{Workspace: v.Workspace, UserID: v.UserID, Kind: tandem.UserAnswered, VerificationID: v.ID, At: now}},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitAuditOnly is the smallest commit: one audit event (a
// refused request is recorded this way).
func BenchmarkCommitAuditOnly(b *testing.B) {
	db, v, _ := commitFixture(b)
	ctx := b.Context()
	for b.Loop() {
		if err := db.Commit(ctx, tandem.Commit{Audit: []tandem.AuditEvent{benchAudit(v, "refused.device")}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPairing measures a pairing code's life: created when the page
// shows a QR code, used up when the phone scans it (two write
// transactions).
func BenchmarkPairing(b *testing.B) {
	db, _ := openFile(b)
	ctx := b.Context()
	if _, err := db.ApplyWorkspace(ctx, benchDoc(), 0); err != nil {
		b.Fatal(err)
	}
	v := benchVerification(0)
	if err := db.CreateVerification(ctx, v); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		now := time.Now()
		h := sha256.Sum256(fmt.Appendf(nil, "pairing-%d", i))
		i++
		if err := db.CreatePairing(ctx, tandem.Pairing{Hash: h[:], VerificationID: v.ID, Step: 1, CreatedAt: now, ExpiresAt: now.Add(2 * time.Minute)}); err != nil {
			b.Fatal(err)
		}
		if _, err := db.UsePairing(ctx, h[:], now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChallenge measures a device challenge's life: issued with an
// answer, used up by the next signed request (two write transactions).
func BenchmarkChallenge(b *testing.B) {
	db, _, d := commitFixture(b)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		c := tandem.Challenge{Value: fmt.Sprintf("challenge-%d", i), CredID: d.CredID, ExpiresAt: time.Now().Add(5 * time.Minute)}
		i++
		if err := db.CreateChallenge(ctx, c); err != nil {
			b.Fatal(err)
		}
		if _, err := db.UseChallenge(ctx, c.Value, d.CredID, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommitParallel runs device-step commits of distinct
// verifications from GOMAXPROCS goroutines: SQLite has one writer, so this
// shows how far the commits of concurrent flows serialize.
func BenchmarkCommitParallel(b *testing.B) {
	benchCommitParallel(b, 1)
}

// BenchmarkCommitParallel32 is BenchmarkCommitParallel from 32 goroutines:
// many requests waiting for their commits at once, which group commit
// serves with one COMMIT (one fsync) per batch.
func BenchmarkCommitParallel32(b *testing.B) {
	benchCommitParallel(b, 32/runtime.GOMAXPROCS(0))
}

func benchCommitParallel(b *testing.B, parallelism int) {
	b.SetParallelism(parallelism)
	db, _ := openFile(b)
	ctx := b.Context()
	if _, err := db.ApplyWorkspace(ctx, benchDoc(), 0); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		v := benchVerification(int(n.Add(1)))
		if err := db.CreateVerification(ctx, v); err != nil {
			b.Error(err)
			return
		}
		v.Status = tandem.StatusInProgress
		i := 0
		for pb.Next() {
			now := time.Now()
			s := &v.Steps[i%len(v.Steps)]
			s.Status, s.StartedAt = tandem.StepRunning, now
			v.UpdatedAt = now
			i++
			if err := db.Commit(ctx, tandem.Commit{Verification: v, Audit: []tandem.AuditEvent{benchAudit(v, "step.started")}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
