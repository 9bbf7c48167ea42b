package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
)

// CIBAStore is a store of workspaces, verifications, devices (for Commit)
// and CIBA requests.
type CIBAStore interface {
	DeviceStore
	tandem.CIBAStore
}

// RunCIBA runs the contract tests of tandem.CIBAStore and of the CIBA
// grants of tandem.DeviceStore.Commit. open must return a new, empty store
// for each call and arrange for it to be closed with t.Cleanup.
func RunCIBA(t *testing.T, open func(t *testing.T) CIBAStore) {
	t.Run("RoundTrip", func(t *testing.T) { testCIBARoundTrip(t, open(t)) })
	t.Run("Refused", func(t *testing.T) { testCIBARefused(t, open(t)) })
	t.Run("NotFound", func(t *testing.T) { testCIBANotFound(t, open(t)) })
	t.Run("Poll", func(t *testing.T) { testCIBAPoll(t, open(t)) })
	t.Run("Poll/Race", func(t *testing.T) { testCIBAPollRace(t, open(t)) })
	t.Run("Grant", func(t *testing.T) { testCIBAGrant(t, open(t)) })
	t.Run("Grant/Race", func(t *testing.T) { testCIBAGrantRace(t, open(t)) })
	t.Run("Commit/Grant", func(t *testing.T) { testCIBACommitGrant(t, open(t)) })
	t.Run("DeleteWorkspace/Cascade", func(t *testing.T) { testCIBACascade(t, open(t)) })
}

// cibaRequest returns a poll-mode request of the verification vid of acme
// with the id hash made of b; times are in a zone other than UTC and below
// the millisecond.
func cibaRequest(t *testing.T, s CIBAStore, vid string, b byte) tandem.CIBARequest {
	t.Helper()
	app := getApp(t, s, "acme", "portal")
	created := time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, tz)
	return tandem.CIBARequest{
		IDHash: linkHash(b), Workspace: "acme", AppID: app.ID, Application: "portal", ClientID: "client-portal",
		VerificationID: vid, DeliveryMode: tandem.CIBAPoll, IntervalS: 5,
		ExpiresAt: created.Add(10 * time.Minute), CreatedAt: created,
	}
}

// storedCIBA returns r as the store keeps it: times to the millisecond, in
// UTC.
func storedCIBA(r tandem.CIBARequest) *tandem.CIBARequest {
	ms := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return time.UnixMilli(t.UnixMilli()).UTC()
	}
	r.LastPollAt, r.ExpiresAt, r.CreatedAt = ms(r.LastPollAt), ms(r.ExpiresAt), ms(r.CreatedAt)
	r.ConsumedAt, r.AccessExpiresAt = ms(r.ConsumedAt), ms(r.AccessExpiresAt)
	return &r
}

func createCIBA(t *testing.T, s CIBAStore, r tandem.CIBARequest) {
	t.Helper()
	if err := s.CreateCIBARequest(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

func getCIBA(t *testing.T, s CIBAStore, idHash []byte) *tandem.CIBARequest {
	t.Helper()
	r, err := s.CIBARequest(t.Context(), idHash)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantCIBATimesUTC(t *testing.T, r *tandem.CIBARequest) {
	t.Helper()
	for name, tm := range map[string]time.Time{"LastPollAt": r.LastPollAt, "ExpiresAt": r.ExpiresAt, "CreatedAt": r.CreatedAt,
		"ConsumedAt": r.ConsumedAt, "AccessExpiresAt": r.AccessExpiresAt} {
		if !tm.IsZero() && tm.Location() != time.UTC {
			t.Errorf("%s is in %v, want UTC", name, tm.Location())
		}
	}
}

func testCIBARoundTrip(t *testing.T, s CIBAStore) {
	ctx := t.Context()
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	deviceVerification(t, s, "v2", 2)
	poll := cibaRequest(t, s, "v1", 10)
	createCIBA(t, s, poll)
	push := cibaRequest(t, s, "v2", 20)
	push.DeliveryMode, push.NotificationEndpoint = tandem.CIBAPush, "https://client.example/cb"
	push.NotificationToken, push.AuthReqID = []byte{1, 0, 255, 'x'}, []byte{0, 'a', 'b'} // bytes, kept as they are
	push.IntervalS, push.CreatedAt = 7, time.Time{}                                      // created now, by the store's clock
	before := time.Now().Add(-time.Second)
	createCIBA(t, s, push)

	got := getCIBA(t, s, poll.IDHash)
	wantCIBATimesUTC(t, got)
	if diff := cmp.Diff(storedCIBA(poll), got); diff != "" {
		t.Errorf("poll request (-want +got):\n%s", diff)
	}
	got, err := s.CIBARequestByVerification(ctx, "v2")
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now()) {
		t.Errorf("CreatedAt %v of a request created with none; want now", got.CreatedAt)
	}
	want := storedCIBA(push)
	want.CreatedAt = got.CreatedAt
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("push request by verification (-want +got):\n%s", diff)
	}
}

func testCIBARefused(t *testing.T, s CIBAStore) {
	ctx := t.Context()
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	deviceVerification(t, s, "v2", 2)
	otherV := sampleVerification(t, s, "v-other", 3)
	otherV.Workspace, otherV.AppID = "other", getApp(t, s, "other", "portal").ID
	createVerification(t, s, otherV)
	createCIBA(t, s, cibaRequest(t, s, "v1", 10))

	edit := func(f func(r *tandem.CIBARequest)) tandem.CIBARequest {
		r := cibaRequest(t, s, "v2", 20)
		f(&r)
		return r
	}
	for _, c := range []struct {
		name string
		r    tandem.CIBARequest
		code string
	}{
		{"NoHash", edit(func(r *tandem.CIBARequest) { r.IDHash = nil }), tandem.EINVALID},
		{"NoClient", edit(func(r *tandem.CIBARequest) { r.ClientID = "" }), tandem.EINVALID},
		{"NoVerification", edit(func(r *tandem.CIBARequest) { r.VerificationID = "" }), tandem.EINVALID},
		{"NoExpiry", edit(func(r *tandem.CIBARequest) { r.ExpiresAt = time.Time{} }), tandem.EINVALID},
		{"NoInterval", edit(func(r *tandem.CIBARequest) { r.IntervalS = 0 }), tandem.EINVALID},
		{"UnknownMode", edit(func(r *tandem.CIBARequest) { r.DeliveryMode = "fax" }), tandem.EINVALID},
		{"PingWithoutToken", edit(func(r *tandem.CIBARequest) {
			r.DeliveryMode, r.NotificationEndpoint, r.AuthReqID = tandem.CIBAPing, "https://client.example/cb", []byte("x")
		}), tandem.EINVALID},
		{"UnknownWorkspace", edit(func(r *tandem.CIBARequest) { r.Workspace = "nope" }), tandem.ENOTFOUND},
		{"UnknownVerification", edit(func(r *tandem.CIBARequest) { r.VerificationID = "ghost" }), tandem.ENOTFOUND},
		{"VerificationOfAnotherWorkspace", edit(func(r *tandem.CIBARequest) { r.VerificationID = "v-other" }), tandem.ENOTFOUND},
		{"HashTaken", edit(func(r *tandem.CIBARequest) { r.IDHash = linkHash(10) }), tandem.ECONFLICT},
		{"VerificationTaken", edit(func(r *tandem.CIBARequest) { r.VerificationID = "v1" }), tandem.ECONFLICT},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, s.CreateCIBARequest(ctx, c.r), c.code)
		})
	}
	if _, err := s.CIBARequestByVerification(ctx, "v2"); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("a refused request was stored: %v", err)
	}
}

func testCIBANotFound(t *testing.T, s CIBAStore) {
	ctx := t.Context()
	deviceStore(t, s)
	_, err := s.CIBARequest(ctx, linkHash(1))
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.CIBARequest(ctx, nil)
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.CIBARequestByVerification(ctx, "ghost")
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.CIBARequestByAccessToken(ctx, linkHash(1))
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.CIBARequestByAccessToken(ctx, nil)
	wantCode(t, err, tandem.ENOTFOUND)
	_, _, err = s.PollCIBA(ctx, linkHash(1), t0)
	wantCode(t, err, tandem.ENOTFOUND)
	wantCode(t, s.GrantCIBA(ctx, tandem.CIBAGrant{IDHash: linkHash(1), At: t0}), tandem.ENOTFOUND)
}

func testCIBAPoll(t *testing.T, s CIBAStore) {
	ctx := t.Context()
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	r := cibaRequest(t, s, "v1", 10)
	createCIBA(t, s, r)
	poll := func(at time.Time, wantEarly bool, wantInterval int) {
		t.Helper()
		early, interval, err := s.PollCIBA(ctx, r.IDHash, at)
		if err != nil {
			t.Fatal(err)
		}
		if early != wantEarly || interval != wantInterval {
			t.Errorf("poll at %v: too early %v, interval %d; want %v, %d", at, early, interval, wantEarly, wantInterval)
		}
	}
	poll(t0, false, 5)                                          // the first poll is never too early
	poll(t0.Add(5*time.Second), false, 5)                       // exactly the interval later
	poll(t0.Add(9*time.Second), true, 10)                       // too early: +5 s
	poll(t0.Add(18*time.Second+999*time.Millisecond), true, 15) // still too early for the new interval
	poll(t0.Add(34*time.Second), false, 15)
	got := getCIBA(t, s, r.IDHash)
	if !got.LastPollAt.Equal(t0.Add(34*time.Second)) || got.IntervalS != 15 {
		t.Errorf("after polls: last poll %v, interval %d; want %v, 15", got.LastPollAt, got.IntervalS, t0.Add(34*time.Second))
	}
	wantCIBATimesUTC(t, got)
}

// testCIBAPollRace polls concurrently at the same instant: one poll is on
// time, every other one is too early.
func testCIBAPollRace(t *testing.T, s CIBAStore) {
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	r := cibaRequest(t, s, "v1", 10)
	createCIBA(t, s, r)
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	onTime := 0
	for range n {
		wg.Go(func() {
			early, _, err := s.PollCIBA(t.Context(), r.IDHash, t0)
			if err != nil {
				t.Error(err)
				return
			}
			if !early {
				mu.Lock()
				onTime++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := getCIBA(t, s, r.IDHash); onTime != 1 || got.IntervalS != 5+5*(n-1) {
		t.Errorf("%d concurrent polls: %d on time, interval %d; want 1 and %d", n, onTime, got.IntervalS, 5+5*(n-1))
	}
}

func testCIBAGrant(t *testing.T, s CIBAStore) {
	ctx := t.Context()
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	deviceVerification(t, s, "v2", 2)
	r := cibaRequest(t, s, "v1", 10)
	createCIBA(t, s, r)
	r2 := cibaRequest(t, s, "v2", 20)
	createCIBA(t, s, r2)

	wantCode(t, s.GrantCIBA(ctx, tandem.CIBAGrant{At: t0}), tandem.EINVALID)
	wantCode(t, s.GrantCIBA(ctx, tandem.CIBAGrant{IDHash: r.IDHash, AccessHash: linkHash(99), At: t0}), tandem.EINVALID)
	at := time.Date(2030, 1, 2, 8, 40, 0, 987_654_321, tz)
	g := tandem.CIBAGrant{IDHash: r.IDHash, AccessHash: linkHash(99), AccessExpiresAt: at.Add(10 * time.Minute), At: at}
	if err := s.GrantCIBA(ctx, g); err != nil {
		t.Fatal(err)
	}
	want := r
	want.ConsumedAt, want.AccessHash, want.AccessExpiresAt = at, linkHash(99), at.Add(10*time.Minute)
	got := getCIBA(t, s, r.IDHash)
	wantCIBATimesUTC(t, got)
	if diff := cmp.Diff(storedCIBA(want), got); diff != "" {
		t.Errorf("granted request (-want +got):\n%s", diff)
	}
	byToken, err := s.CIBARequestByAccessToken(ctx, linkHash(99))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(storedCIBA(want), byToken); diff != "" {
		t.Errorf("request by access token (-want +got):\n%s", diff)
	}

	// Once only, with or without a new access token.
	wantCode(t, s.GrantCIBA(ctx, tandem.CIBAGrant{IDHash: r.IDHash, AccessHash: linkHash(98), AccessExpiresAt: at, At: at}), tandem.ECONFLICT)
	wantCode(t, s.GrantCIBA(ctx, tandem.CIBAGrant{IDHash: r.IDHash, At: at}), tandem.ECONFLICT)
	if _, err := s.CIBARequestByAccessToken(ctx, linkHash(98)); tandem.ErrorCode(err) != tandem.ENOTFOUND {
		t.Errorf("the access token of a refused grant: %v", err)
	}

	// A grant without an access token (a push of an error) consumes the
	// request; a zero At is the store's clock.
	before := time.Now().Add(-time.Second)
	if err := s.GrantCIBA(ctx, tandem.CIBAGrant{IDHash: r2.IDHash}); err != nil {
		t.Fatal(err)
	}
	got = getCIBA(t, s, r2.IDHash)
	if got.ConsumedAt.Before(before) || got.ConsumedAt.After(time.Now()) || got.AccessHash != nil || !got.AccessExpiresAt.IsZero() {
		t.Errorf("request consumed without a token: %+v", got)
	}
}

// testCIBAGrantRace grants one request concurrently: exactly one wins.
func testCIBAGrantRace(t *testing.T, s CIBAStore) {
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	r := cibaRequest(t, s, "v1", 10)
	createCIBA(t, s, r)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.GrantCIBA(t.Context(), tandem.CIBAGrant{IDHash: r.IDHash, AccessHash: linkHash(byte(100 + i)), AccessExpiresAt: t0, At: t0})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch tandem.ErrorCode(err) {
		case "":
			if won >= 0 {
				t.Errorf("grants %d and %d both won", won, i)
			}
			won = i
		case tandem.ECONFLICT:
		default:
			t.Errorf("grant %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no grant won")
	}
	if got := getCIBA(t, s, r.IDHash); fmt.Sprint(got.AccessHash) != fmt.Sprint(linkHash(byte(100+won))) {
		t.Errorf("stored access hash is not the winner's")
	}
}

// testCIBACommitGrant stores a grant with the verification's update: both
// or neither.
func testCIBACommitGrant(t *testing.T, s CIBAStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	r := cibaRequest(t, s, "v1", 10)
	createCIBA(t, s, r)
	g := tandem.CIBAGrant{IDHash: r.IDHash, AccessHash: linkHash(99), AccessExpiresAt: t0.Add(time.Minute), At: t0}

	stale := *v
	stale.Version = 0
	stale.Reason = "stale"
	wantCode(t, s.Commit(ctx, tandem.Commit{Verification: &stale, CIBAGrants: []tandem.CIBAGrant{g}}), tandem.ECONFLICT)
	if got := getCIBA(t, s, r.IDHash); !got.ConsumedAt.IsZero() {
		t.Errorf("a stale commit consumed the request: %+v", got)
	}
	wantCode(t, s.Commit(ctx, tandem.Commit{CIBAGrants: []tandem.CIBAGrant{{At: t0}}}), tandem.EINVALID)

	v.Status, v.FinishedAt = tandem.StatusCompleted, v.CreatedAt.Add(time.Minute)
	commit(t, s, tandem.Commit{Verification: v, CIBAGrants: []tandem.CIBAGrant{g}})
	wantStored(t, s, v)
	if got := getCIBA(t, s, r.IDHash); !got.ConsumedAt.Equal(t0) || fmt.Sprint(got.AccessHash) != fmt.Sprint(linkHash(99)) {
		t.Errorf("after the commit: %+v", got)
	}

	// A grant of a consumed request fails the whole commit.
	v.Reason = "changed"
	wantCode(t, s.Commit(ctx, tandem.Commit{Verification: v, CIBAGrants: []tandem.CIBAGrant{g}}), tandem.ECONFLICT)
	if got := getVerification(t, s, "v1"); got.Reason == "changed" {
		t.Errorf("a commit whose grant failed updated the verification")
	}
}

func testCIBACascade(t *testing.T, s CIBAStore) {
	ctx := t.Context()
	deviceStore(t, s)
	deviceVerification(t, s, "v1", 1)
	createCIBA(t, s, cibaRequest(t, s, "v1", 10))
	if err := s.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	_, err := s.CIBARequest(ctx, linkHash(10))
	wantCode(t, err, tandem.ENOTFOUND)
}
