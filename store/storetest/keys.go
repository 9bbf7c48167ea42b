package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandem-id/tandem"
)

// KeyStore is a store of workspaces and their signing keys.
type KeyStore interface {
	tandem.WorkspaceStore
	tandem.KeyStore
}

// RunKeys runs the contract tests of tandem.KeyStore. open must return a
// new, empty store for each call and arrange for it to be closed with
// t.Cleanup.
func RunKeys(t *testing.T, open func(t *testing.T) KeyStore) {
	t.Run("UnknownWorkspace", func(t *testing.T) { testKeysUnknownWorkspace(t, open(t)) })
	t.Run("NoKey", func(t *testing.T) { testNoKey(t, open(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testKeyRoundTrip(t, open(t)) })
	t.Run("OneActiveKey", func(t *testing.T) { testOneActiveKey(t, open(t)) })
	t.Run("Retire", func(t *testing.T) { testRetireKeys(t, open(t)) })
	t.Run("RetireKeepsEarlierTime", func(t *testing.T) { testRetireKeepsEarlier(t, open(t)) })
	t.Run("Workspaces", func(t *testing.T) { testKeysPerWorkspace(t, open(t)) })
	t.Run("ConcurrentFirstKey", func(t *testing.T) { testConcurrentFirstKey(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testKeyInvalid(t, open(t)) })
	t.Run("DeleteWorkspace/Cascade", func(t *testing.T) { testKeyCascade(t, open(t)) })
}

// keyWorkspaces creates the empty workspaces names.
func keyWorkspaces(t *testing.T, s KeyStore, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := s.ApplyWorkspace(t.Context(), tandem.WorkspaceDoc{Name: n}, tandem.AnyVersion); err != nil {
			t.Fatal(err)
		}
	}
}

// sampleKey returns an active key of workspace; its creation time is in a
// zone other than UTC and below the millisecond.
func sampleKey(workspace, kid string, created time.Time) tandem.SigningKey {
	return tandem.SigningKey{
		KID:        kid,
		Workspace:  workspace,
		Alg:        tandem.AlgES256,
		PublicJWK:  json.RawMessage(`{"kty":"EC","crv":"P-256","x":"` + kid + `-x","y":"` + kid + `-y","kid":"` + kid + `"}`),
		PrivateEnc: []byte("\x01sealed-" + kid + "\x00\xff"),
		CreatedAt:  created,
	}
}

// storedKey is k as a store gives it back: times in UTC, to the millisecond.
func storedKey(k tandem.SigningKey) tandem.SigningKey {
	k.CreatedAt = k.CreatedAt.Truncate(time.Millisecond).UTC()
	if !k.RetireAt.IsZero() {
		k.RetireAt = k.RetireAt.Truncate(time.Millisecond).UTC()
	}
	return k
}

func putKey(t *testing.T, s KeyStore, k tandem.SigningKey) {
	t.Helper()
	if err := s.PutKey(t.Context(), k); err != nil {
		t.Fatalf("put key %s: %v", k.KID, err)
	}
}

// kids returns the key ids of keys, in order.
func kids(keys []tandem.SigningKey) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.KID)
	}
	return out
}

func listKids(t *testing.T, s KeyStore, workspace string, now time.Time) []string {
	t.Helper()
	keys, err := s.ListKeys(t.Context(), workspace, now)
	if err != nil {
		t.Fatalf("list keys of %s: %v", workspace, err)
	}
	return kids(keys)
}

func testKeysUnknownWorkspace(t *testing.T, s KeyStore) {
	ctx := t.Context()
	_, err := s.ActiveKey(ctx, "nope")
	wantCode(t, err, tandem.ENOTFOUND)
	_, err = s.ListKeys(ctx, "nope", t0)
	wantCode(t, err, tandem.ENOTFOUND)
	wantCode(t, s.PutKey(ctx, sampleKey("nope", "k1", t0)), tandem.ENOTFOUND)
	wantCode(t, s.RetireKeys(ctx, "nope", "", t0), tandem.ENOTFOUND)
}

func testNoKey(t *testing.T, s KeyStore) {
	keyWorkspaces(t, s, "acme")
	_, err := s.ActiveKey(t.Context(), "acme")
	wantCode(t, err, tandem.ENOTFOUND)
	keys, err := s.ListKeys(t.Context(), "acme", t0)
	if err != nil || len(keys) != 0 {
		t.Errorf("ListKeys of a workspace without keys = %v, %v; want none", keys, err)
	}
	if err := s.RetireKeys(t.Context(), "acme", "", t0); err != nil {
		t.Errorf("RetireKeys of a workspace without keys: %v", err)
	}
}

func testKeyRoundTrip(t *testing.T, s KeyStore) {
	ctx := t.Context()
	keyWorkspaces(t, s, "acme")
	k := sampleKey("acme", "k1", time.Date(2030, 1, 2, 8, 34, 5, 123_456_789, tz))
	putKey(t, s, k)

	got, err := s.ActiveKey(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(storedKey(k), *got); diff != "" {
		t.Errorf("ActiveKey (-want +got):\n%s", diff)
	}
	list, err := s.ListKeys(ctx, "acme", t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]tandem.SigningKey{storedKey(k)}, list); diff != "" {
		t.Errorf("ListKeys (-want +got):\n%s", diff)
	}

	// A key stored already retiring is listed until then, and is not
	// active.
	r := sampleKey("acme", "k0", t0.Add(-time.Hour))
	r.RetireAt = t0.Add(time.Hour).In(tz)
	putKey(t, s, r)
	list, err = s.ListKeys(ctx, "acme", t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]tandem.SigningKey{storedKey(k), storedKey(r)}, list); diff != "" {
		t.Errorf("ListKeys with a retiring key (-want +got):\n%s", diff)
	}
	if got, err := s.ActiveKey(ctx, "acme"); err != nil || got.KID != "k1" {
		t.Errorf("ActiveKey = %v, %v; want k1", got, err)
	}
}

func testOneActiveKey(t *testing.T, s KeyStore) {
	ctx := t.Context()
	keyWorkspaces(t, s, "acme")
	putKey(t, s, sampleKey("acme", "k1", t0))
	wantCode(t, s.PutKey(ctx, sampleKey("acme", "k2", t0.Add(time.Second))), tandem.ECONFLICT)

	// The same kid is refused too, even as a retiring key.
	dup := sampleKey("acme", "k1", t0)
	dup.RetireAt = t0.Add(time.Hour)
	wantCode(t, s.PutKey(ctx, dup), tandem.ECONFLICT)

	if got := listKids(t, s, "acme", t0); !cmp.Equal(got, []string{"k1"}) {
		t.Errorf("keys after refused puts = %v, want [k1]", got)
	}
}

func testRetireKeys(t *testing.T, s KeyStore) {
	ctx := t.Context()
	keyWorkspaces(t, s, "acme")
	putKey(t, s, sampleKey("acme", "k1", t0))
	retire := t0.Add(24 * time.Hour)

	// Retire-then-put: the rotation of the keys package.
	if err := s.RetireKeys(ctx, "acme", "", retire); err != nil {
		t.Fatal(err)
	}
	_, err := s.ActiveKey(ctx, "acme")
	wantCode(t, err, tandem.ENOTFOUND)
	putKey(t, s, sampleKey("acme", "k2", t0.Add(time.Minute)))

	got, err := s.ActiveKey(ctx, "acme")
	if err != nil || got.KID != "k2" {
		t.Fatalf("ActiveKey after rotation = %v, %v; want k2", got, err)
	}
	list, err := s.ListKeys(ctx, "acme", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"k2", "k1"}, kids(list)); diff != "" {
		t.Fatalf("keys before retirement (-want +got):\n%s", diff)
	}
	if !list[1].RetireAt.Equal(retire) || list[1].Active() || !list[0].Active() {
		t.Errorf("k1 retires at %v (active %v), k2 active %v; want k1 retiring at %v, k2 active", list[1].RetireAt, list[1].Active(), list[0].Active(), retire)
	}
	// Listed until the retire time, excluded.
	if got := listKids(t, s, "acme", retire.Add(-time.Millisecond)); !cmp.Equal(got, []string{"k2", "k1"}) {
		t.Errorf("keys just before retirement = %v, want [k2 k1]", got)
	}
	if got := listKids(t, s, "acme", retire); !cmp.Equal(got, []string{"k2"}) {
		t.Errorf("keys at retirement = %v, want [k2]", got)
	}

	// keepKID spares the key it names.
	putKey(t, s, func() tandem.SigningKey {
		k := sampleKey("acme", "k3", t0.Add(2*time.Minute))
		k.RetireAt = retire.Add(time.Hour)
		return k
	}())
	if err := s.RetireKeys(ctx, "acme", "k2", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ActiveKey(ctx, "acme"); err != nil || got.KID != "k2" {
		t.Errorf("ActiveKey after RetireKeys keeping k2 = %v, %v; want k2", got, err)
	}
	if got := listKids(t, s, "acme", t0.Add(2*time.Hour)); !cmp.Equal(got, []string{"k2"}) {
		t.Errorf("keys after everything but k2 retired = %v, want [k2]", got)
	}
}

func testRetireKeepsEarlier(t *testing.T, s KeyStore) {
	ctx := t.Context()
	keyWorkspaces(t, s, "acme")
	early := sampleKey("acme", "early", t0)
	early.RetireAt = t0.Add(time.Hour)
	putKey(t, s, early)
	putKey(t, s, sampleKey("acme", "active", t0.Add(time.Second)))
	if err := s.RetireKeys(ctx, "acme", "", t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListKeys(ctx, "acme", t0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]time.Time{}
	for _, k := range list {
		got[k.KID] = k.RetireAt
	}
	want := map[string]time.Time{"active": t0.Add(48 * time.Hour), "early": t0.Add(time.Hour)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("retire times (-want +got):\n%s", diff)
	}
	// A sooner time moves both.
	if err := s.RetireKeys(ctx, "acme", "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := listKids(t, s, "acme", t0.Add(time.Minute)); len(got) != 0 {
		t.Errorf("keys after retiring everything at t0+1m = %v, want none", got)
	}
}

func testKeysPerWorkspace(t *testing.T, s KeyStore) {
	ctx := t.Context()
	keyWorkspaces(t, s, "acme", "globex")
	putKey(t, s, sampleKey("acme", "a1", t0))
	putKey(t, s, sampleKey("globex", "g1", t0)) // each workspace has its own active key
	if err := s.RetireKeys(ctx, "acme", "", t0); err != nil {
		t.Fatal(err)
	}
	if got := listKids(t, s, "globex", t0); !cmp.Equal(got, []string{"g1"}) {
		t.Errorf("globex keys = %v, want [g1]", got)
	}
	if got, err := s.ActiveKey(ctx, "globex"); err != nil || got.KID != "g1" || got.Workspace != "globex" {
		t.Errorf("globex ActiveKey = %v, %v", got, err)
	}
	if got := listKids(t, s, "acme", t0); len(got) != 0 {
		t.Errorf("acme keys = %v, want none", got)
	}
	// A kid is unique across workspaces.
	wantCode(t, s.PutKey(ctx, sampleKey("acme", "g1", t0)), tandem.ECONFLICT)
}

func testConcurrentFirstKey(t *testing.T, s KeyStore) {
	keyWorkspaces(t, s, "acme")
	const workers = 16
	var (
		wg              sync.WaitGroup
		start           = make(chan struct{})
		mu              sync.Mutex
		wins, conflicts int
	)
	for g := range workers {
		wg.Go(func() {
			<-start
			err := s.PutKey(t.Context(), sampleKey("acme", fmt.Sprintf("k%02d", g), t0))
			mu.Lock()
			defer mu.Unlock()
			switch tandem.ErrorCode(err) {
			case "":
				wins++
			case tandem.ECONFLICT:
				conflicts++
			default:
				t.Errorf("worker %d: %v", g, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 || conflicts != workers-1 {
		t.Errorf("%d puts succeeded and %d conflicted, want 1 and %d", wins, conflicts, workers-1)
	}
	if got := listKids(t, s, "acme", t0); len(got) != 1 {
		t.Errorf("keys = %v, want exactly one", got)
	}
}

func testKeyInvalid(t *testing.T, s KeyStore) {
	keyWorkspaces(t, s, "acme")
	for _, tc := range []struct {
		name  string
		edit  func(*tandem.SigningKey)
		field string
	}{
		{"NoKID", func(k *tandem.SigningKey) { k.KID = "" }, "kid"},
		{"NoAlg", func(k *tandem.SigningKey) { k.Alg = "" }, "alg"},
		{"BadJWK", func(k *tandem.SigningKey) { k.PublicJWK = json.RawMessage(`{`) }, "public_jwk"},
		{"NoPrivate", func(k *tandem.SigningKey) { k.PrivateEnc = nil }, "private_enc"},
		{"NoCreated", func(k *tandem.SigningKey) { k.CreatedAt = time.Time{} }, "created_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := sampleKey("acme", "k1", t0)
			tc.edit(&k)
			err := s.PutKey(t.Context(), k)
			wantCode(t, err, tandem.EINVALID)
			if f := tandem.ErrorFields(err); len(f) != 1 || f[0].Path != tc.field {
				t.Errorf("fields %v, want one for %s", f, tc.field)
			}
		})
	}
	if got := listKids(t, s, "acme", t0); len(got) != 0 {
		t.Errorf("invalid keys were stored: %v", got)
	}
}

func testKeyCascade(t *testing.T, s KeyStore) {
	ctx := t.Context()
	keyWorkspaces(t, s, "acme")
	putKey(t, s, sampleKey("acme", "k1", t0))
	if err := s.DeleteWorkspace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	keyWorkspaces(t, s, "acme")
	if got := listKids(t, s, "acme", t0); len(got) != 0 {
		t.Errorf("keys of a recreated workspace = %v, want none", got)
	}
	// The kid is free again.
	putKey(t, s, sampleKey("acme", "k1", t0))
}
