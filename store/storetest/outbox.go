package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandem-id/tandem"
)

// OutboxStore is a store of workspaces, verifications, devices (for
// Commit), the outbox and webhook secrets.
type OutboxStore interface {
	DeviceStore
	tandem.OutboxStore
	tandem.WebhookSecretStore
}

// RunOutbox runs the contract tests of tandem.OutboxStore and
// tandem.WebhookSecretStore, and of the outbox items of
// tandem.DeviceStore.Commit. open must return a new, empty store for each
// call and arrange for it to be closed with t.Cleanup.
func RunOutbox(t *testing.T, open func(t *testing.T) OutboxStore) {
	t.Run("Commit/RoundTrip", func(t *testing.T) { testOutboxRoundTrip(t, open(t)) })
	t.Run("Commit/WithVerification", func(t *testing.T) { testOutboxWithVerification(t, open(t)) })
	t.Run("Commit/Refused", func(t *testing.T) { testOutboxRefused(t, open(t)) })
	t.Run("ClaimDue/OrderAndLimit", func(t *testing.T) { testClaimOrder(t, open(t)) })
	t.Run("ClaimDue/Lease", func(t *testing.T) { testClaimLease(t, open(t)) })
	t.Run("ClaimDue/Race", func(t *testing.T) { testClaimRace(t, open(t)) })
	t.Run("ClaimDue/DeletesOldDelivered", func(t *testing.T) { testClaimSweep(t, open(t)) })
	t.Run("Mark", func(t *testing.T) { testMark(t, open(t)) })
	t.Run("Mark/NotFound", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		wantCode(t, s.MarkDelivered(ctx, "msg_ghost", t0), tandem.ENOTFOUND)
		wantCode(t, s.MarkFailed(ctx, "msg_ghost", "x", t0), tandem.ENOTFOUND)
		wantCode(t, s.MarkDead(ctx, "msg_ghost", "x"), tandem.ENOTFOUND)
	})
	t.Run("ListDead", func(t *testing.T) { testListDead(t, open(t)) })
	t.Run("Redeliver", func(t *testing.T) { testRedeliver(t, open(t)) })
	t.Run("DeleteWorkspace/Cascade", func(t *testing.T) { testOutboxCascade(t, open(t)) })
	t.Run("WebhookSecrets/Rotation", func(t *testing.T) { testWebhookSecrets(t, open(t)) })
	t.Run("WebhookSecrets/Refused", func(t *testing.T) { testWebhookSecretsRefused(t, open(t)) })
}

// outboxItem returns a new item of workspace ws created at created.
func outboxItem(id, ws string, created time.Time) tandem.OutboxItem {
	return tandem.OutboxItem{
		ID: id, Kind: tandem.OutboxWebhook, Workspace: ws, Application: "portal", VerificationID: "v-" + id,
		URL: "https://hooks.example/" + id, Payload: []byte(`{"type":"verification.finished","id":"` + id + `"}`),
		CreatedAt: created,
	}
}

// storedItem returns it as the store keeps a new item: pending, no attempts,
// times to the millisecond in UTC.
func storedItem(it tandem.OutboxItem) tandem.OutboxItem {
	it.Status = tandem.OutboxPending
	ms := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return time.UnixMilli(t.UnixMilli()).UTC()
	}
	if it.NextAttemptAt.IsZero() {
		it.NextAttemptAt = it.CreatedAt
	}
	it.CreatedAt, it.NextAttemptAt, it.DeliveredAt = ms(it.CreatedAt), ms(it.NextAttemptAt), ms(it.DeliveredAt)
	return it
}

func enqueue(t *testing.T, s OutboxStore, items ...tandem.OutboxItem) {
	t.Helper()
	commit(t, s, tandem.Commit{Outbox: items})
}

func claim(t *testing.T, s OutboxStore, now time.Time, limit int, lease time.Duration) []tandem.OutboxItem {
	t.Helper()
	items, err := s.ClaimDue(t.Context(), now, limit, lease)
	if err != nil {
		t.Fatalf("claim at %v: %v", now, err)
	}
	for _, it := range items {
		for name, tm := range map[string]time.Time{"CreatedAt": it.CreatedAt, "NextAttemptAt": it.NextAttemptAt, "DeliveredAt": it.DeliveredAt} {
			if !tm.IsZero() && tm.Location() != time.UTC {
				t.Errorf("item %s: %s is in %v, want UTC", it.ID, name, tm.Location())
			}
		}
	}
	return items
}

func itemIDs(items []tandem.OutboxItem) []string {
	ids := []string{}
	for _, it := range items {
		ids = append(ids, it.ID)
	}
	return ids
}

func listDead(t *testing.T, s OutboxStore, ws string) []tandem.OutboxItem {
	t.Helper()
	items, err := s.ListDead(t.Context(), ws)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func testOutboxRoundTrip(t *testing.T, s OutboxStore) {
	deviceStore(t, s)
	created := time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, tz)
	a := outboxItem("msg_a", "acme", created)
	a.Payload = []byte{0, 1, 2, 255, '{'} // bytes, not text
	b := outboxItem("msg_b", "other", created.Add(time.Second))
	b.Kind, b.Bearer = tandem.OutboxCIBAPing, []byte{1, 0, 255, 'x'} // a sealed token: bytes, not text
	b.NextAttemptAt = created.Add(time.Hour)
	b.Status, b.Attempts, b.LastError = tandem.OutboxDead, 7, "ignored" // a new item is pending, untried
	enqueue(t, s, a, b)

	got := claim(t, s, created.Add(2*time.Hour), 10, time.Minute)
	wantA, wantB := storedItem(a), storedItem(b)
	wantB.Status, wantB.Attempts, wantB.LastError = tandem.OutboxPending, 0, ""
	for _, w := range []*tandem.OutboxItem{&wantA, &wantB} {
		w.Attempts++
		w.NextAttemptAt = time.UnixMilli(created.Add(2 * time.Hour).Add(time.Minute).UnixMilli()).UTC()
	}
	if diff := cmp.Diff([]tandem.OutboxItem{wantA, wantB}, got); diff != "" {
		t.Errorf("claimed items (-want +got):\n%s", diff)
	}

	// Zero times: created now (the store's clock), due at once.
	before := time.Now().Add(-time.Second)
	c := outboxItem("msg_c", "acme", time.Time{})
	enqueue(t, s, c)
	got = claim(t, s, time.Now().Add(time.Second), 10, time.Minute)
	if len(got) != 1 || got[0].ID != "msg_c" || got[0].CreatedAt.Before(before) || got[0].CreatedAt.After(time.Now()) {
		t.Errorf("item with zero times claimed as %+v; want msg_c created now", got)
	}
}

// testOutboxWithVerification enqueues with a versioned verification update:
// both are written, or neither.
func testOutboxWithVerification(t *testing.T, s OutboxStore) {
	ctx := t.Context()
	deviceStore(t, s)
	v := deviceVerification(t, s, "v1", 1)
	v.Status, v.FinishedAt = tandem.StatusCompleted, v.CreatedAt.Add(time.Minute)
	stale := *v
	commit(t, s, tandem.Commit{Verification: v, Outbox: []tandem.OutboxItem{outboxItem("msg_1", "acme", t0)}})
	wantStored(t, s, v)

	// A stale version writes neither the update nor the item.
	stale.Reason = "late"
	err := s.Commit(ctx, tandem.Commit{Verification: &stale, Outbox: []tandem.OutboxItem{outboxItem("msg_2", "acme", t0)}})
	wantCode(t, err, tandem.ECONFLICT)
	if diff := cmp.Diff([]string{"msg_1"}, itemIDs(claim(t, s, t0, 10, time.Minute))); diff != "" {
		t.Errorf("items after a stale commit (-want +got):\n%s", diff)
	}
}

func testOutboxRefused(t *testing.T, s OutboxStore) {
	ctx := t.Context()
	deviceStore(t, s)
	enqueue(t, s, outboxItem("msg_1", "acme", t0))
	noURL := outboxItem("msg_x", "acme", t0)
	noURL.URL = ""
	noPayload := outboxItem("msg_y", "acme", t0)
	noPayload.Payload = nil
	noID := outboxItem("", "acme", t0)
	for _, c := range []struct {
		name  string
		items []tandem.OutboxItem
		code  string
	}{
		{"NoURL", []tandem.OutboxItem{outboxItem("msg_2", "acme", t0), noURL}, tandem.EINVALID},
		{"NoPayload", []tandem.OutboxItem{noPayload}, tandem.EINVALID},
		{"NoID", []tandem.OutboxItem{noID}, tandem.EINVALID},
		{"DuplicateID", []tandem.OutboxItem{outboxItem("msg_2", "acme", t0), outboxItem("msg_1", "other", t0)}, tandem.ECONFLICT},
		{"UnknownWorkspace", []tandem.OutboxItem{outboxItem("msg_2", "acme", t0), outboxItem("msg_3", "nope", t0)}, tandem.ENOTFOUND},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, s.Commit(ctx, tandem.Commit{Outbox: c.items}), c.code)
		})
	}
	if diff := cmp.Diff([]string{"msg_1"}, itemIDs(claim(t, s, t0, 10, time.Minute))); diff != "" {
		t.Errorf("items after refused commits (-want +got):\n%s", diff)
	}
}

func testClaimOrder(t *testing.T, s OutboxStore) {
	deviceStore(t, s)
	// Due times: c and a at t0 (ties by id), b at t0+1s, d at t0+1h.
	a, b, c, d := outboxItem("msg_a", "acme", t0), outboxItem("msg_b", "other", t0), outboxItem("msg_c", "acme", t0), outboxItem("msg_d", "acme", t0)
	b.NextAttemptAt = t0.Add(time.Second)
	d.NextAttemptAt = t0.Add(time.Hour)
	enqueue(t, s, d, c, b, a)

	if got := claim(t, s, t0, 0, time.Minute); len(got) != 0 {
		t.Errorf("limit 0 claimed %v", itemIDs(got))
	}
	if got := claim(t, s, t0.Add(-time.Millisecond), 10, time.Minute); len(got) != 0 {
		t.Errorf("claim before anything is due: %v", itemIDs(got))
	}
	if diff := cmp.Diff([]string{"msg_a", "msg_c"}, itemIDs(claim(t, s, t0.Add(time.Second), 2, time.Hour))); diff != "" {
		t.Errorf("first claim (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"msg_b"}, itemIDs(claim(t, s, t0.Add(time.Second), 10, time.Hour))); diff != "" {
		t.Errorf("second claim (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"msg_d"}, itemIDs(claim(t, s, t0.Add(time.Hour), 10, 2*time.Hour))); diff != "" {
		t.Errorf("claim at t0+1h (-want +got):\n%s", diff)
	}
}

// testClaimLease checks that a claimed item is hidden for its lease, then
// claimed again with one more attempt: what happens when a dispatcher stops
// between sending and marking.
func testClaimLease(t *testing.T, s OutboxStore) {
	deviceStore(t, s)
	enqueue(t, s, outboxItem("msg_1", "acme", t0))
	first := claim(t, s, t0, 10, time.Minute)
	if len(first) != 1 || first[0].Attempts != 1 || !first[0].NextAttemptAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("first claim: %+v; want msg_1 with 1 attempt, next at t0+1m", first)
	}
	if got := claim(t, s, t0.Add(time.Minute-time.Millisecond), 10, time.Minute); len(got) != 0 {
		t.Errorf("claimed again during its lease: %v", itemIDs(got))
	}
	again := claim(t, s, t0.Add(time.Minute), 10, time.Minute)
	if len(again) != 1 || again[0].Attempts != 2 || again[0].ID != "msg_1" {
		t.Errorf("claim after the lease: %+v; want msg_1 with 2 attempts", again)
	}
}

// testClaimRace claims from many goroutines at once: every item is claimed
// by exactly one.
func testClaimRace(t *testing.T, s OutboxStore) {
	deviceStore(t, s)
	const n = 40
	var items []tandem.OutboxItem
	for i := range n {
		items = append(items, outboxItem(fmt.Sprintf("msg_%02d", i), "acme", t0))
	}
	enqueue(t, s, items...)
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				claimed, err := s.ClaimDue(t.Context(), t0, 3, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if len(claimed) == 0 {
					return
				}
				mu.Lock()
				got = append(got, itemIDs(claimed)...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	if diff := cmp.Diff(itemIDs(items), got); diff != "" {
		t.Errorf("items claimed (-want +got):\n%s", diff)
	}
}

func testClaimSweep(t *testing.T, s OutboxStore) {
	ctx := t.Context()
	deviceStore(t, s)
	enqueue(t, s, outboxItem("msg_old", "acme", t0), outboxItem("msg_new", "acme", t0))
	claim(t, s, t0, 10, time.Minute)
	if err := s.MarkDelivered(ctx, "msg_old", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, "msg_new", t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	claim(t, s, t0.Add(7*24*time.Hour+time.Hour), 10, time.Minute)
	wantCode(t, s.MarkDelivered(ctx, "msg_old", t0), tandem.ENOTFOUND)
	if err := s.MarkDelivered(ctx, "msg_new", t0); err != nil {
		t.Errorf("an item delivered 6 days before was deleted: %v", err)
	}
}

func testMark(t *testing.T, s OutboxStore) {
	ctx := t.Context()
	deviceStore(t, s)
	enqueue(t, s, outboxItem("msg_ok", "acme", t0), outboxItem("msg_retry", "acme", t0), outboxItem("msg_dead", "acme", t0))
	claim(t, s, t0, 10, time.Minute)

	if err := s.MarkFailed(ctx, "msg_retry", "receiver answered 500", t0.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, "msg_ok", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDead(ctx, "msg_dead", "refused: 10.0.0.1 is a private address"); err != nil {
		t.Fatal(err)
	}
	// Late answers of another dispatcher change nothing.
	for _, err := range []error{
		s.MarkFailed(ctx, "msg_ok", "late", t0),
		s.MarkDead(ctx, "msg_ok", "late"),
		s.MarkFailed(ctx, "msg_dead", "late", t0),
		s.MarkDelivered(ctx, "msg_ok", t0.Add(time.Hour)),
	} {
		if err != nil {
			t.Errorf("late mark: %v", err)
		}
	}

	retry := claim(t, s, t0.Add(5*time.Second), 10, time.Minute)
	if len(retry) != 1 || retry[0].ID != "msg_retry" || retry[0].Attempts != 2 || retry[0].LastError != "receiver answered 500" {
		t.Errorf("claim after the back-off: %+v; want msg_retry, 2 attempts, its last error", retry)
	}
	dead := listDead(t, s, "acme")
	if len(dead) != 1 || dead[0].ID != "msg_dead" || dead[0].Status != tandem.OutboxDead || dead[0].LastError != "refused: 10.0.0.1 is a private address" || dead[0].Attempts != 1 {
		t.Errorf("dead items: %+v", dead)
	}
	// A delivered item is not dead: it cannot be redelivered.
	_, err := s.Redeliver(ctx, "acme", "msg_ok", "", t0)
	wantCode(t, err, tandem.ECONFLICT)
}

func testListDead(t *testing.T, s OutboxStore) {
	ctx := t.Context()
	deviceStore(t, s)
	enqueue(t, s, outboxItem("msg_1", "acme", t0), outboxItem("msg_2", "acme", t0.Add(time.Second)),
		outboxItem("msg_3", "acme", t0.Add(time.Second)), outboxItem("msg_other", "other", t0), outboxItem("msg_live", "acme", t0))
	claim(t, s, t0.Add(time.Second), 10, time.Minute)
	for _, id := range []string{"msg_1", "msg_2", "msg_3", "msg_other"} {
		if err := s.MarkDead(ctx, id, "gave up on "+id); err != nil {
			t.Fatal(err)
		}
	}
	got := listDead(t, s, "acme")
	want := []tandem.OutboxItem{outboxItem("msg_2", "acme", t0.Add(time.Second)), outboxItem("msg_3", "acme", t0.Add(time.Second)), outboxItem("msg_1", "acme", t0)}
	for i := range want {
		want[i] = storedItem(want[i])
		want[i].Status, want[i].Attempts, want[i].LastError = tandem.OutboxDead, 1, "gave up on "+want[i].ID
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(tandem.OutboxItem{}, "NextAttemptAt")); diff != "" {
		t.Errorf("dead items of acme (-want +got):\n%s", diff)
	}
	if got := listDead(t, s, "nope"); got == nil || len(got) != 0 {
		t.Errorf("dead items of an unknown workspace: %#v, want an empty list", got)
	}
}

func testRedeliver(t *testing.T, s OutboxStore) {
	ctx := t.Context()
	deviceStore(t, s)
	enqueue(t, s, outboxItem("msg_1", "acme", t0), outboxItem("msg_2", "acme", t0), outboxItem("msg_live", "acme", t0))
	claim(t, s, t0, 10, 24*time.Hour) // msg_live stays leased
	for _, id := range []string{"msg_1", "msg_2"} {
		if err := s.MarkDead(ctx, id, "gave up"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Redeliver(ctx, "other", "msg_1", "", t0)
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.Redeliver(ctx, "acme", "msg_ghost", "", t0)
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.Redeliver(ctx, "acme", "msg_live", "", t0)
	wantCode(t, err, tandem.ECONFLICT)

	later := t0.Add(time.Hour)
	got, err := s.Redeliver(ctx, "acme", "msg_1", "", later)
	if err != nil {
		t.Fatal(err)
	}
	want := storedItem(outboxItem("msg_1", "acme", t0))
	want.NextAttemptAt = later
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("redelivered item (-want +got):\n%s", diff)
	}
	if _, err := s.Redeliver(ctx, "acme", "msg_2", "https://new.example/hook", later); err != nil {
		t.Fatal(err)
	}
	_, err = s.Redeliver(ctx, "acme", "msg_1", "", later)
	wantCode(t, err, tandem.ECONFLICT) // pending now

	if got := listDead(t, s, "acme"); len(got) != 0 {
		t.Errorf("dead items after redelivery: %v", itemIDs(got))
	}
	claimed := claim(t, s, later, 10, time.Minute)
	if diff := cmp.Diff([]string{"msg_1", "msg_2"}, itemIDs(claimed)); diff != "" {
		t.Fatalf("claimed after redelivery (-want +got):\n%s", diff)
	}
	if claimed[0].Attempts != 1 || claimed[0].URL != "https://hooks.example/msg_1" || claimed[1].URL != "https://new.example/hook" {
		t.Errorf("redelivered items: %+v", claimed)
	}
}

func testOutboxCascade(t *testing.T, s OutboxStore) {
	ctx := t.Context()
	deviceStore(t, s)
	enqueue(t, s, outboxItem("msg_1", "acme", t0), outboxItem("msg_2", "other", t0))
	claim(t, s, t0, 10, time.Minute)
	if err := s.MarkDead(ctx, "msg_1", "x"); err != nil {
		t.Fatal(err)
	}
	app := getApp(t, s, "acme", "portal")
	if err := s.PutWebhookSecret(ctx, app.ID, []byte("whsec_a"), t0, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.MarkDelivered(ctx, "msg_1", t0), tandem.ENOTFOUND)
	if err := s.MarkDelivered(ctx, "msg_2", t0); err != nil {
		t.Errorf("the item of another workspace: %v", err)
	}
	apply(t, s, sampleDoc(), 0)
	secrets, err := s.WebhookSecrets(ctx, "acme", "portal", t0)
	if err != nil || len(secrets) != 0 {
		t.Errorf("secrets of a re-created application: %q, %v; want none", secrets, err)
	}
}

func testWebhookSecrets(t *testing.T, s OutboxStore) {
	ctx := t.Context()
	deviceStore(t, s)
	app := getApp(t, s, "acme", "portal")
	valid := func(now time.Time, want ...string) {
		t.Helper()
		got, err := s.WebhookSecrets(ctx, "acme", "portal", now)
		if err != nil {
			t.Fatal(err)
		}
		var strs []string
		for _, b := range got {
			strs = append(strs, string(b))
		}
		if diff := cmp.Diff(want, strs, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("secrets valid at %v (-want +got):\n%s", now.Format(time.RFC3339Nano), diff)
		}
	}
	put := func(secret string, now, grace time.Time) {
		t.Helper()
		if err := s.PutWebhookSecret(ctx, app.ID, []byte(secret), now, grace); err != nil {
			t.Fatal(err)
		}
	}
	valid(t0)
	put("s1", t0, t0)
	valid(t0, "s1")
	t1 := t0.Add(time.Minute)
	put("s2", t1, t1.Add(time.Hour))
	valid(t1, "s2", "s1")
	valid(t1.Add(time.Hour-time.Millisecond), "s2", "s1")
	valid(t1.Add(time.Hour), "s2")
	t2 := t1.Add(2 * time.Hour)
	put("s3", t2, t2) // no grace: the earlier secret ends at once
	valid(t2, "s3")
	if got, err := s.WebhookSecrets(ctx, "other", "portal", t2); err != nil || len(got) != 0 {
		t.Errorf("secrets of another workspace's application: %q, %v", got, err)
	}
	if got, err := s.WebhookSecrets(ctx, "acme", "nope", t2); err != nil || got == nil || len(got) != 0 {
		t.Errorf("secrets of an unknown application: %#v, %v; want an empty list", got, err)
	}
}

func testWebhookSecretsRefused(t *testing.T, s OutboxStore) {
	ctx := t.Context()
	deviceStore(t, s)
	app := getApp(t, s, "acme", "portal")
	wantCode(t, s.PutWebhookSecret(ctx, app.ID, nil, t0, t0), tandem.EINVALID)
	wantCode(t, s.PutWebhookSecret(ctx, "0123456789abcdef0123456789abcdef", []byte("s"), t0, t0), tandem.ENOTFOUND)
	if got, err := s.WebhookSecrets(ctx, "acme", "portal", t0); err != nil || len(got) != 0 {
		t.Errorf("secrets after refused puts: %q, %v", got, err)
	}
}
