package crashtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestCrashSafety builds tandem and runs the crash test with three kills.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tandem binary and kills it under load; not with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tandem")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/tandem-id/tandem/cmd/tandem")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var log bytes.Buffer
	s, err := Run(t.Context(), Config{
		Tandem: bin, Dir: dir, Kills: 3, Concurrency: 3,
		MinUp: 300 * time.Millisecond, MaxUp: 1500 * time.Millisecond,
		Replays: 40, Log: &log,
	})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log.String())
	}
	var out bytes.Buffer
	s.WriteText(&out)
	t.Logf("summary:\n%s", out.String())
	if len(s.Violations) > 0 {
		t.Errorf("%d violations:\n%s\nlog:\n%s", len(s.Violations), strings.Join(s.Violations, "\n"), log.String())
	}
	if s.Completed["full"] == 0 {
		t.Errorf("no full flow completed")
	}
	if s.ContinuedOf != 6 || s.Continued != 6 {
		t.Errorf("held hand-overs finished: %d of %d, want 6 of 6", s.Continued, s.ContinuedOf)
	}
	if s.Replayed == 0 || s.ReplayRefused != s.Replayed {
		t.Errorf("replays: %d refused of %d, want all of at least one", s.ReplayRefused, s.Replayed)
	}
	if s.WebhooksExpected == 0 || s.WebhooksArrived != s.WebhooksExpected {
		t.Errorf("webhooks: %d of %d arrived", s.WebhooksArrived, s.WebhooksExpected)
	}
	if s.DBIntegrity != "ok" {
		t.Errorf("integrity_check = %q", s.DBIntegrity)
	}
}

func TestIllegalStates(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	later, done := now.Add(time.Minute), now.Add(-time.Second)
	steps := func(st ...string) []struct {
		Status string `json:"status"`
	} {
		out := make([]struct {
			Status string `json:"status"`
		}, len(st))
		for i, s := range st {
			out[i].Status = s
		}
		return out
	}
	tests := []struct {
		name string
		v    verification
		want int // number of problems
	}{
		{"pending", verification{Status: "pending", ExpiresAt: later, Steps: steps("pending", "pending")}, 0},
		{"running", verification{Status: "in_progress", ExpiresAt: later, Steps: steps("passed", "running")}, 0},
		{"completed", verification{Status: "completed", ExpiresAt: later, FinishedAt: &done, Steps: steps("passed", "skipped")}, 0},
		{"expiredWithRunningStep", verification{Status: "expired", ExpiresAt: done, FinishedAt: &done, Steps: steps("passed", "running")}, 0},
		{"completedWithRunningStep", verification{Status: "completed", ExpiresAt: later, FinishedAt: &done, Steps: steps("passed", "running")}, 1},
		{"terminalWithoutFinish", verification{Status: "failed", ExpiresAt: later, Steps: steps("failed")}, 1},
		{"pendingWithPassedStep", verification{Status: "pending", ExpiresAt: later, Steps: steps("passed")}, 1},
		{"overdue", verification{Status: "in_progress", ExpiresAt: now.Add(-time.Minute), Steps: steps("running")}, 1},
		{"unknownStatuses", verification{Status: "paused", ExpiresAt: later, Steps: steps("waiting")}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.illegal(now); len(got) != tc.want {
				t.Errorf("illegal = %q, want %d problems", got, tc.want)
			}
		})
	}
}

func TestRecorder(t *testing.T) {
	jws := func(claims string) []byte {
		b, _ := json.Marshal(map[string]string{"jws": "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + ".c2ln"})
		return b
	}
	rec := newRecorder()
	rec.add("/device/v1/pair", jws(`{"pairing_token":"p1"}`))
	rec.add("/device/v1/answer", jws(`{"challenge":"c1"}`))
	rec.markKill()
	rec.add("/device/v1/answer", jws(`{"challenge":"c2"}`))
	rec.add("/device/v1/answer", jws(`{"challenge":"c2"}`))
	answers, pairs, dup := rec.counts()
	if diff := cmp.Diff([]int{3, 1, 1}, []int{answers, pairs, dup}); diff != "" {
		t.Errorf("answers, pairs, duplicates (-want +got):\n%s", diff)
	}
	// The sample starts with the last two messages before each kill.
	got := rec.sample(3, rand.New(rand.NewPCG(1, 2)))
	if len(got) != 3 || got[0].path != "/device/v1/pair" || got[1].path != "/device/v1/answer" ||
		!slices.Equal(got[1].body, rec.accepted[1].body) {
		t.Errorf("sample = %+v", got)
	}
}
