package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
)

// runTokenCommits runs the contract tests of the tokens a Commit uses up
// (UsePairing, UseChallenge) and the challenges it creates, and of
// PeekPairing and PeekChallenge.
func runTokenCommits(t *testing.T, open func(t *testing.T) DeviceStore) {
	t.Run("Commit/UseTokens", func(t *testing.T) { testCommitUseTokens(t, open(t)) })
	t.Run("Commit/UseTokensLateFailure", func(t *testing.T) { testCommitUseLateFailure(t, open(t)) })
	t.Run("Commit/UseExpired", func(t *testing.T) { testCommitUseExpired(t, open(t)) })
	t.Run("Commit/UseChallengeRace", func(t *testing.T) { testCommitUseRace(t, open(t)) })
	t.Run("Commit/InvalidChallenge", func(t *testing.T) {
		s := open(t)
		for _, c := range []tandem.Challenge{{CredID: "d1", ExpiresAt: t0}, {Value: "n", ExpiresAt: t0}, {Value: "n", CredID: "d1"}} {
			wantCode(t, s.Commit(t.Context(), tandem.Commit{Challenges: []tandem.Challenge{c}}), tandem.EINVALID)
		}
	})
}

func testCommitUseTokens(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(7), VerificationID: "v1", Step: 2, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)})
	createChallenge(t, s, tandem.Challenge{Value: "nonce", CredID: "d1", VerificationID: "v1", ExpiresAt: t0.Add(time.Minute)})

	// Peeking leaves both unused, however often.
	for range 2 {
		p, err := s.PeekPairing(ctx, pairingHash(7), t0)
		if err != nil {
			t.Fatal(err)
		}
		want := tandem.Pairing{Hash: pairingHash(7), VerificationID: "v1", Step: 2, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		if diff := cmp.Diff(&want, p); diff != "" {
			t.Errorf("peeked pairing (-want +got):\n%s", diff)
		}
		c, err := s.PeekChallenge(ctx, "nonce", "d1", t0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&tandem.Challenge{Value: "nonce", CredID: "d1", VerificationID: "v1", ExpiresAt: t0.Add(time.Minute)}, c); diff != "" {
			t.Errorf("peeked challenge (-want +got):\n%s", diff)
		}
	}
	_, err := s.PeekChallenge(ctx, "nonce", "d2", t0)
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.PeekPairing(ctx, nil, t0)
	wantCode(t, err, tandem.ENOTFOUND)

	v.Reason = "changed"
	next := tandem.Challenge{Value: "next", CredID: "d1", VerificationID: "v1", ExpiresAt: t0.Add(5 * time.Minute)}
	c := tandem.Commit{Verification: v, UsePairing: &tandem.PairingUse{Hash: pairingHash(7), At: t0},
		UseChallenge: &tandem.ChallengeUse{Value: "nonce", CredID: "d1", At: t0}, Challenges: []tandem.Challenge{next},
		Audit: []tandem.AuditEvent{{Actor: tandem.ActorDevice, Action: "paired", At: t0}}}
	commit(t, s, c)
	if v.Version != 2 {
		t.Errorf("version %d after the commit, want 2", v.Version)
	}
	_, err = s.PeekPairing(ctx, pairingHash(7), t0)
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.UsePairing(ctx, pairingHash(7), t0)
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.UseChallenge(ctx, "nonce", "d1", t0)
	wantCode(t, err, tandem.ENOTFOUND)
	got, err := s.UseChallenge(ctx, "next", "d1", t0)
	if err != nil {
		t.Fatalf("next challenge: %v", err)
	}
	if diff := cmp.Diff(&next, got); diff != "" {
		t.Errorf("next challenge (-want +got):\n%s", diff)
	}

	// A replay of the same commit is refused and writes nothing.
	want := getVerification(t, s, "v1")
	v.Reason = "replayed"
	c.Challenges = []tandem.Challenge{{Value: "next-2", CredID: "d1", ExpiresAt: t0.Add(time.Minute)}}
	c.UsePairing = nil
	wantCode(t, s.Commit(ctx, c), tandem.ENOTFOUND)
	c.UsePairing, c.UseChallenge = &tandem.PairingUse{Hash: pairingHash(7), At: t0}, nil
	wantCode(t, s.Commit(ctx, c), tandem.ENOTFOUND)
	if msg := tandem.ErrorMessage(s.Commit(ctx, c)); msg != "pairing code is not valid or was already used" {
		t.Errorf("message %q", msg)
	}
	wantStored(t, s, want)
	_, err = s.PeekChallenge(ctx, "next-2", "d1", t0)
	wantCode(t, err, tandem.ENOTFOUND)

	// A challenge of the commit whose value exists is ECONFLICT.
	createChallenge(t, s, tandem.Challenge{Value: "taken", CredID: "d1", ExpiresAt: t0.Add(time.Minute)})
	wantCode(t, s.Commit(ctx, tandem.Commit{Challenges: []tandem.Challenge{{Value: "taken", CredID: "d2", ExpiresAt: t0.Add(time.Minute)}}}), tandem.ECONFLICT)
}

// testCommitUseLateFailure checks that a commit failing after the token's
// use and the verification's update writes none of them, nor its
// challenges.
func testCommitUseLateFailure(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	want := getVerification(t, s, "v1")
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(7), VerificationID: "v1", Step: 2, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)})
	createChallenge(t, s, tandem.Challenge{Value: "nonce", CredID: "d1", VerificationID: "v1", ExpiresAt: t0.Add(time.Minute)})
	v.Reason = "changed"
	err := s.Commit(ctx, tandem.Commit{Verification: v,
		UsePairing:   &tandem.PairingUse{Hash: pairingHash(7), At: t0},
		UseChallenge: &tandem.ChallengeUse{Value: "nonce", CredID: "d1", At: t0},
		Challenges:   []tandem.Challenge{{Value: "next", CredID: "d1", VerificationID: "v1", ExpiresAt: t0.Add(time.Minute)}},
		Inbox:        []tandem.InboxItem{{CredID: "ghost", VerificationID: "v1", ExpiresAt: t0.Add(time.Minute)}},
	})
	wantCode(t, err, tandem.ENOTFOUND)
	if v.Version != 1 {
		t.Errorf("version %d after a failed commit, want 1", v.Version)
	}
	wantStored(t, s, want)
	if _, err := s.PeekPairing(ctx, pairingHash(7), t0); err != nil {
		t.Errorf("pairing after a failed commit: %v, want unused", err)
	}
	if _, err := s.PeekChallenge(ctx, "nonce", "d1", t0); err != nil {
		t.Errorf("challenge after a failed commit: %v, want unused", err)
	}
	_, err = s.PeekChallenge(ctx, "next", "d1", t0)
	wantCode(t, err, tandem.ENOTFOUND)
}

// testCommitUseExpired checks that a commit using an expired token fails
// with EGONE and leaves it unused, unlike UsePairing and UseChallenge.
func testCommitUseExpired(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	createPairing(t, s, tandem.Pairing{Hash: pairingHash(7), VerificationID: "v1", CreatedAt: t0.Add(-time.Hour), ExpiresAt: t0})
	createChallenge(t, s, tandem.Challenge{Value: "nonce", CredID: "d1", ExpiresAt: t0})
	audit := []tandem.AuditEvent{{Workspace: "acme", Actor: tandem.ActorDevice, Action: "x", At: t0}}
	err := s.Commit(ctx, tandem.Commit{Audit: audit, UsePairing: &tandem.PairingUse{Hash: pairingHash(7), At: t0}})
	wantCode(t, err, tandem.EGONE)
	err = s.Commit(ctx, tandem.Commit{Audit: audit, UseChallenge: &tandem.ChallengeUse{Value: "nonce", CredID: "d1", At: t0}})
	wantCode(t, err, tandem.EGONE)
	_, err = s.PeekPairing(ctx, pairingHash(7), t0)
	wantCode(t, err, tandem.EGONE)
	_, err = s.PeekChallenge(ctx, "nonce", "d1", t0)
	wantCode(t, err, tandem.EGONE)
	if _, err := s.PeekPairing(ctx, pairingHash(7), t0.Add(-time.Millisecond)); err != nil {
		t.Errorf("expired pairing after a failed commit: %v, want unused", err)
	}
	if _, err := s.PeekChallenge(ctx, "nonce", "d1", t0.Add(-time.Millisecond)); err != nil {
		t.Errorf("expired challenge after a failed commit: %v, want unused", err)
	}
}

// testCommitUseRace commits from many goroutines with the same challenge
// and a verification update each: exactly one commit succeeds.
func testCommitUseRace(t *testing.T, s DeviceStore) {
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	createChallenge(t, s, tandem.Challenge{Value: "nonce", CredID: "d1", ExpiresAt: t0.Add(time.Hour)})
	const workers = 16
	var (
		wg              sync.WaitGroup
		start           = make(chan struct{})
		mu              sync.Mutex
		wins, notFounds int
	)
	for g := range workers {
		wg.Go(func() {
			<-start
			err := s.Commit(t.Context(), tandem.Commit{
				UseChallenge: &tandem.ChallengeUse{Value: "nonce", CredID: "d1", At: t0},
				Challenges:   []tandem.Challenge{{Value: fmt.Sprint("next-", g), CredID: "d1", ExpiresAt: t0.Add(time.Hour)}},
			})
			mu.Lock()
			defer mu.Unlock()
			switch tandem.ErrorCode(err) {
			case "":
				wins++
			case tandem.ENOTFOUND:
				notFounds++
			default:
				t.Errorf("worker %d: %v", g, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 || notFounds != workers-1 {
		t.Errorf("%d commits won and %d were refused, want 1 and %d", wins, notFounds, workers-1)
	}
	n := 0
	for g := range workers {
		if _, err := s.PeekChallenge(t.Context(), fmt.Sprint("next-", g), "d1", t0); err == nil {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d next challenges stored, want 1", n)
	}
}
