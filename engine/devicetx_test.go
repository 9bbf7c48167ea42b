package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"testing"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
)

// failingStore makes the commits of device requests (those that use up a
// pairing token or a challenge and change a verification) fail inside the
// store's transaction, after the verification's update, while fail is set.
type failingStore struct {
	engine.Store
	mu     sync.Mutex
	fail   bool
	failed []tandem.Challenge // next challenges of the failed commits
}

func (s *failingStore) setFail(b bool) { s.mu.Lock(); s.fail = b; s.mu.Unlock() }

func (s *failingStore) Commit(ctx context.Context, c tandem.Commit) error {
	s.mu.Lock()
	fail := s.fail && c.Verification != nil && (c.UsePairing != nil || c.UseChallenge != nil)
	if fail {
		s.failed = append(s.failed, c.Challenges...)
	}
	s.mu.Unlock()
	if fail {
		// An inbox item of an unknown device: ENOTFOUND late in the
		// transaction, once the token's use and the verification's update
		// are written.
		c.Inbox = append(c.Inbox, tandem.InboxItem{CredID: "ghost", VerificationID: c.Verification.ID, ExpiresAt: c.Verification.ExpiresAt})
	}
	return s.Store.Commit(ctx, c)
}

// TestDeviceRequestFailureLeavesNothingHalfDone checks that a pairing and
// an answer whose commit fails leave neither the next challenge nor a half
// transition behind, and that their token is used up all the same.
func TestDeviceRequestFailureLeavesNothingHalfDone(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	fs := &failingStore{Store: f.db}
	f.eng.Store = fs
	now := f.clock.Now()

	// Pairing.
	_, pt := f.handover(t, "web", "mark@gmail.com", true)
	p, err := f.db.PeekPairing(ctx, hashToken(pt), now)
	if err != nil {
		t.Fatal(err)
	}
	before, err := f.db.GetVerification(ctx, p.VerificationID)
	if err != nil {
		t.Fatal(err)
	}
	ph := newPhone(t)
	fs.setFail(true)
	if _, err := ph.pair(t, f, pt); tandem.ErrorCode(err) != tandem.ENOTFOUND || reason(err) != "" {
		t.Fatalf("pair with a failing commit: %v, want the store's ENOTFOUND", err)
	}
	fs.setFail(false)
	if len(fs.failed) != 1 {
		t.Fatalf("%d next challenges in failed commits, want 1", len(fs.failed))
	}
	next := fs.failed[0]
	if _, err := f.db.PeekChallenge(ctx, next.Value, next.CredID, now); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("next challenge of a failed pairing: %v, want ENOTFOUND", err)
	}
	if _, err := f.db.GetDevice(ctx, next.CredID); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("device of a failed pairing: %v, want ENOTFOUND", err)
	}
	after, err := f.db.GetVerification(ctx, p.VerificationID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != before.Version || after.Device.CredID != "" {
		t.Errorf("verification after a failed pairing: version %d (was %d), device %q", after.Version, before.Version, after.Device.CredID)
	}
	if _, err := ph.pair(t, f, pt); reason(err) != "pairing_invalid" {
		t.Errorf("pairing token of a failed pairing: %v, want pairing_invalid (used up)", err)
	}

	// Answer.
	_, pt = f.handover(t, "web", "mark@gmail.com", true)
	s, err := ph.pair(t, f, pt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.PeekChallenge(ctx, s.Challenge, s.CredID, now); err != nil {
		t.Fatalf("challenge of a session: %v", err)
	}
	before, err = f.db.GetVerification(ctx, s.VerificationID)
	if err != nil {
		t.Fatal(err)
	}
	fs.setFail(true)
	if _, err := ph.answer(t, f, s.Step.Index, map[string]any{}); tandem.ErrorCode(err) != tandem.ENOTFOUND || reason(err) != "" {
		t.Fatalf("answer with a failing commit: %v, want the store's ENOTFOUND", err)
	}
	fs.setFail(false)
	if len(fs.failed) != 2 {
		t.Fatalf("%d next challenges in failed commits, want 2", len(fs.failed))
	}
	next = fs.failed[1]
	if _, err := f.db.PeekChallenge(ctx, next.Value, next.CredID, now); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("next challenge of a failed answer: %v, want ENOTFOUND", err)
	}
	after, err = f.db.GetVerification(ctx, s.VerificationID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Version != before.Version || after.CurrentDevice() != s.Step.Index || after.Steps[s.Step.Index].Status != tandem.StepRunning {
		t.Errorf("verification after a failed answer: version %d (was %d), current device step %d (was %d)", after.Version, before.Version, after.CurrentDevice(), s.Step.Index)
	}
	if _, err := ph.answer(t, f, s.Step.Index, map[string]any{}); reason(err) != "challenge_invalid" {
		t.Errorf("challenge of a failed answer: %v, want challenge_invalid (used up)", err)
	}
}

// TestConcurrentAnswersAdvanceOnce sends answers to the same step at once,
// half of them with the same challenge and half with challenges of their
// own: exactly one advances the verification, a replayed challenge is
// refused, and every challenge is used up.
func TestConcurrentAnswersAdvanceOnce(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	_, pt := f.handover(t, "web", "mark@gmail.com", true)
	ph := newPhone(t)
	s, err := ph.pair(t, f, pt)
	if err != nil {
		t.Fatal(err)
	}
	step := s.Step.Index
	chals := []string{s.Challenge, s.Challenge, s.Challenge}
	for range 3 {
		c, err := f.eng.Challenge(ctx, s.CredID, "")
		if err != nil {
			t.Fatal(err)
		}
		chals = append(chals, c.Challenge)
	}
	jws := make([]string, len(chals))
	for i, c := range chals {
		jws[i] = ph.sign(t, f, deviceproto.RequestClaims{Challenge: c, Action: deviceproto.ActionAnswer, VerificationID: s.VerificationID, Step: &step, Answer: map[string]json.RawMessage{}})
	}
	errs := make([]error, len(jws))
	var wg sync.WaitGroup
	for i := range jws {
		wg.Go(func() { _, errs[i] = f.eng.Answer(ctx, jws[i], "192.0.2.50") })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err == nil {
			ok++
		} else if i < 3 && reason(err) != "challenge_invalid" && tandem.ErrorCode(err) != tandem.ECONFLICT {
			t.Errorf("answer %d with the shared challenge: %v, want challenge_invalid or a conflict", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d answers succeeded (%v), want 1", ok, errs)
	}
	v, err := f.db.GetVerification(ctx, s.VerificationID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Steps[step].Status != tandem.StepPassed || v.CurrentDevice() != step+1 {
		t.Errorf("step %d is %s, current device step %d; want passed and the next", step, v.Steps[step].Status, v.CurrentDevice())
	}
	for _, c := range chals {
		if _, err := f.db.PeekChallenge(ctx, c, s.CredID, f.clock.Now()); tandem.ErrorCode(err) != tandem.ENOTFOUND {
			t.Errorf("challenge after the answers: %v, want used up", err)
		}
	}
}

// hashToken is the store's key of a pairing token.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}
