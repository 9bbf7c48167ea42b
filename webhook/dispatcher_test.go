package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/webhook"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// request is what the receiver saw of one delivery.
type request struct {
	id, timestamp, signature, body string
	status                         int
	verifyErr                      error
}

// receiver is an httptest server that answers each request with the next
// status of its script (200 when the script is done) and checks every
// signature with the application's secret.
type receiver struct {
	srv    *httptest.Server
	clock  *clock
	secret string

	mu     sync.Mutex
	script map[string][]int // per webhook-id
	always int              // when not 0, the answer to every request
	seen   []request
	// block, when set, holds the first request until its client gives up.
	block chan struct{}
}

func newReceiver(t *testing.T, c *clock, secret string) *receiver {
	r := &receiver{clock: c, secret: secret, script: map[string][]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		block := r.block
		r.block = nil
		r.mu.Unlock()
		if block != nil {
			close(block)
			<-req.Context().Done() // the dispatcher stops mid-way
			return
		}
		seen := request{id: req.Header.Get("webhook-id"), timestamp: req.Header.Get("webhook-timestamp"),
			signature: req.Header.Get("webhook-signature"), body: string(body), status: http.StatusOK}
		seen.verifyErr = webhook.VerifyRequest(r.secret, req.Header, body, r.clock.Now(), 5*time.Minute)
		if req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", req.Header.Get("Content-Type"))
		}
		r.mu.Lock()
		if s := r.script[seen.id]; len(s) > 0 {
			seen.status, r.script[seen.id] = s[0], s[1:]
		} else if r.always != 0 {
			seen.status = r.always
		}
		r.seen = append(r.seen, seen)
		r.mu.Unlock()
		w.WriteHeader(seen.status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.seen...)
}

type dispatchFixture struct {
	db     *store.DB
	path   string
	clock  *clock
	secret string
	rcv    *receiver
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// newDispatchFixture returns a database with the workspace acme, whose
// application web has a webhook secret, and a receiver.
func newDispatchFixture(t *testing.T) *dispatchFixture {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tandem.db")
	db := openDB(t, path)
	doc := tandem.WorkspaceDoc{Name: "acme",
		Applications: []tandem.Application{
			{Name: "web", VerificationWay: tandem.WayWeb, Workflow: "w"},
			{Name: "late", VerificationWay: tandem.WayWeb, Workflow: "w"}, // no secret yet
		},
		Workflows: []tandem.Workflow{{Name: "w"}}}
	if _, err := db.ApplyWorkspace(ctx, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	f := &dispatchFixture{db: db, path: path, clock: &clock{t: t0}, secret: webhook.NewSecret()}
	f.putSecret(t, "web", f.secret, t0, t0)
	f.rcv = newReceiver(t, f.clock, f.secret)
	return f
}

func openDB(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), "sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (f *dispatchFixture) putSecret(t *testing.T, app, secret string, now, grace time.Time) {
	t.Helper()
	ref, err := f.db.GetApplication(t.Context(), "acme", app)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.PutWebhookSecret(t.Context(), ref.ID, []byte(secret), now, grace); err != nil {
		t.Fatal(err)
	}
}

// enqueue commits a webhook item of the application web for verification
// vid to url.
func (f *dispatchFixture) enqueue(t *testing.T, vid, url string) tandem.OutboxItem {
	t.Helper()
	return f.enqueueFor(t, "web", vid, url)
}

func (f *dispatchFixture) enqueueFor(t *testing.T, app, vid, url string) tandem.OutboxItem {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"type": "verification.finished", "timestamp": t0.Format(time.RFC3339),
		"data": map[string]string{"request_id": vid, "status": "completed"}})
	it := tandem.OutboxItem{ID: tandem.NewMessageID(), Kind: tandem.OutboxWebhook, Workspace: "acme", Application: app,
		VerificationID: vid, URL: url, Payload: body, CreatedAt: f.clock.Now()}
	if err := f.db.Commit(t.Context(), tandem.Commit{Outbox: []tandem.OutboxItem{it}}); err != nil {
		t.Fatal(err)
	}
	return it
}

// dispatcher returns a dispatcher on db that may reach the test receiver
// (the -allow-insecure-webhooks equivalent) and whose back-off is its
// ceiling, without jitter.
func (f *dispatchFixture) dispatcher(db *store.DB) *webhook.Dispatcher {
	return &webhook.Dispatcher{
		Store: db, Policy: &webhook.Policy{AllowInsecure: true}, Now: f.clock.Now,
		Jitter: func(max time.Duration) time.Duration { return max },
		Lease:  time.Minute, Interval: 10 * time.Millisecond,
	}
}

func runOnce(t *testing.T, d *webhook.Dispatcher) int {
	t.Helper()
	n, err := d.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func auditActions(t *testing.T, db *store.DB, vid string) []string {
	t.Helper()
	evs, err := db.ListAudit(t.Context(), vid)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Actor+":"+e.Action)
	}
	return out
}

// TestRetriesUntilDelivered: the receiver answers 500 twice, then 200, to
// each of two webhooks. Every attempt carries the item's webhook-id, the
// same body and a valid signature of its own timestamp; each body is
// accepted exactly once.
func TestRetriesUntilDelivered(t *testing.T) {
	f := newDispatchFixture(t)
	a := f.enqueue(t, "v-a", f.rcv.srv.URL+"/hook")
	b := f.enqueue(t, "v-b", f.rcv.srv.URL+"/hook")
	f.rcv.script[a.ID] = []int{500, 500}
	f.rcv.script[b.ID] = []int{503, 500}
	d := f.dispatcher(f.db)

	if n := runOnce(t, d); n != 2 {
		t.Fatalf("first run claimed %d, want 2", n)
	}
	// The first back-off is at most 5 s (here exactly, without jitter).
	f.clock.Add(5*time.Second - time.Millisecond)
	if n := runOnce(t, d); n != 0 {
		t.Fatalf("claimed %d before the back-off ended", n)
	}
	f.clock.Add(time.Millisecond)
	if n := runOnce(t, d); n != 2 {
		t.Fatalf("second run claimed %d, want 2", n)
	}
	f.clock.Add(10 * time.Second) // the second back-off: 10 s
	if n := runOnce(t, d); n != 2 {
		t.Fatalf("third run claimed %d, want 2", n)
	}
	f.clock.Add(time.Hour)
	if n := runOnce(t, d); n != 0 {
		t.Fatalf("claimed %d after delivery", n)
	}

	ok := map[string]int{}
	attempts := map[string]int{}
	for _, r := range f.rcv.requests() {
		if r.verifyErr != nil {
			t.Errorf("request %s at %s: signature %q does not verify: %v", r.id, r.timestamp, r.signature, r.verifyErr)
		}
		want := a
		if r.id == b.ID {
			want = b
		} else if r.id != a.ID {
			t.Errorf("request with webhook-id %q, not one of the items", r.id)
		}
		if r.body != string(want.Payload) {
			t.Errorf("request %s body %s, want %s", r.id, r.body, want.Payload)
		}
		attempts[r.id]++
		if r.status == http.StatusOK {
			ok[r.id]++
		}
	}
	if diff := cmp.Diff(map[string]int{a.ID: 1, b.ID: 1}, ok); diff != "" {
		t.Errorf("accepted deliveries per webhook-id (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{a.ID: 3, b.ID: 3}, attempts); diff != "" {
		t.Errorf("attempts per webhook-id (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"system:webhook.delivered"}, auditActions(t, f.db, "v-a")); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	// The timestamp is that of each attempt.
	var stamps []string
	for _, r := range f.rcv.requests() {
		if r.id == a.ID {
			stamps = append(stamps, r.timestamp)
		}
	}
	want := []string{unix(t0), unix(t0.Add(5 * time.Second)), unix(t0.Add(15 * time.Second))}
	if diff := cmp.Diff(want, stamps); diff != "" {
		t.Errorf("webhook-timestamp of the attempts (-want +got):\n%s", diff)
	}
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// TestRestartResends stops a dispatcher while it sends an item and starts
// another one, on a second handle of the database as a new process would:
// after the lease, the item is sent again with the same webhook-id and
// delivered.
func TestRestartResends(t *testing.T) {
	f := newDispatchFixture(t)
	it := f.enqueue(t, "v-1", f.rcv.srv.URL+"/hook")
	sent := make(chan struct{})
	f.rcv.block = sent

	ctx, stop := context.WithCancel(t.Context())
	first := f.dispatcher(f.db)
	done := make(chan struct{})
	go func() { first.Run(ctx); close(done) }()
	select {
	case <-sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the first dispatcher sent nothing")
	}
	stop()
	<-done

	db2 := openDB(t, f.path)
	second := f.dispatcher(db2)
	if n := runOnce(t, second); n != 0 {
		t.Fatalf("the new dispatcher claimed %d during the first one's lease", n)
	}
	f.clock.Add(time.Minute)
	// After the lease the new process claims the item and delivers it; its
	// pass ends only once the outcome is recorded.
	if n := runOnce(t, second); n != 1 {
		t.Fatalf("the new dispatcher claimed %d after the lease, want 1", n)
	}
	got := f.rcv.requests()
	if len(got) != 1 || got[0].id != it.ID || got[0].status != http.StatusOK || got[0].verifyErr != nil {
		t.Fatalf("requests after the restart: %+v; want one accepted, signed delivery of %s", got, it.ID)
	}
	if n := runOnce(t, second); n != 0 {
		t.Errorf("claimed %d after delivery", n)
	}
	f.clock.Add(time.Hour)
	if n := runOnce(t, f.dispatcher(f.db)); n != 0 {
		t.Errorf("the first handle claimed %d after delivery", n)
	}
}

// TestDeadAfterMaxAttemptsThenRedelivered: an item that keeps failing is
// dead after MaxAttempts, listed, and delivered once redelivered.
func TestDeadAfterMaxAttemptsThenRedelivered(t *testing.T) {
	ctx := t.Context()
	f := newDispatchFixture(t)
	f.rcv.always = http.StatusInternalServerError
	it := f.enqueue(t, "v-1", f.rcv.srv.URL+"/hook")
	d := f.dispatcher(f.db)
	d.MaxAttempts = 3
	for i := range 3 {
		if n := runOnce(t, d); n != 1 {
			t.Fatalf("attempt %d: claimed %d", i+1, n)
		}
		f.clock.Add(time.Hour)
	}
	if n := runOnce(t, d); n != 0 {
		t.Fatalf("a dead item was claimed")
	}
	dead, err := f.db.ListDead(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	wantErr := "gave up after 3 attempts: the receiver answered 500 Internal Server Error"
	if len(dead) != 1 || dead[0].ID != it.ID || dead[0].Attempts != 3 || dead[0].LastError != wantErr {
		t.Fatalf("dead items: %+v; want %s after 3 attempts with %q", dead, it.ID, wantErr)
	}
	if diff := cmp.Diff([]string{"system:webhook.dead"}, auditActions(t, f.db, "v-1")); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}

	f.rcv.mu.Lock()
	f.rcv.always = 0
	f.rcv.mu.Unlock()
	if _, err := f.db.Redeliver(ctx, "acme", it.ID, "", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n := runOnce(t, d); n != 1 {
		t.Fatalf("the redelivered item was not claimed")
	}
	reqs := f.rcv.requests()
	if last := reqs[len(reqs)-1]; len(reqs) != 4 || last.id != it.ID || last.status != http.StatusOK || last.verifyErr != nil {
		t.Errorf("requests: %+v; want 4, the last one accepted", reqs)
	}
	if dead, _ := f.db.ListDead(ctx, "acme"); len(dead) != 0 {
		t.Errorf("dead items after redelivery: %+v", dead)
	}
}

// TestRefusedIsDeadAtOnce: a delivery the policy refuses is not retried,
// records why, and is audited.
func TestRefusedIsDeadAtOnce(t *testing.T) {
	ctx := t.Context()
	f := newDispatchFixture(t)
	port := strings.TrimPrefix(f.rcv.srv.URL, "http://127.0.0.1:")
	items := map[string]string{
		f.enqueue(t, "v-http", f.rcv.srv.URL+"/hook").ID:                 "uses http",
		f.enqueue(t, "v-loop", "https://127.0.0.1:"+port+"/hook").ID:     "127.0.0.1 is a loopback address",
		f.enqueue(t, "v-meta", "https://169.254.169.254/latest").ID:      "169.254.169.254 is a link-local address",
		f.enqueue(t, "v-name", "https://internal.example:"+port+"/x").ID: "10.0.0.7 is a private address",
	}
	d := &webhook.Dispatcher{Store: f.db, Now: f.clock.Now, Policy: &webhook.Policy{
		Resolver: fakeResolver{"internal.example": {mustAddr("10.0.0.7")}},
	}}
	if n := runOnce(t, d); n != 4 {
		t.Fatalf("claimed %d, want 4", n)
	}
	dead, err := f.db.ListDead(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 4 {
		t.Fatalf("%d dead items, want 4: %+v", len(dead), dead)
	}
	for _, it := range dead {
		if it.Attempts != 1 || !strings.Contains(it.LastError, "webhook delivery refused") || !strings.Contains(it.LastError, items[it.ID]) {
			t.Errorf("dead item %s: %d attempts, last error %q; want 1 and a refusal saying %q", it.URL, it.Attempts, it.LastError, items[it.ID])
		}
		if diff := cmp.Diff([]string{"system:refused.webhook"}, auditActions(t, f.db, it.VerificationID)); diff != "" {
			t.Errorf("audit of %s (-want +got):\n%s", it.VerificationID, diff)
		}
	}
	if n := len(f.rcv.requests()); n != 0 {
		t.Errorf("the receiver got %d requests", n)
	}
}

// TestNoSecretRetries: the webhook of an application without a webhook
// secret is retried, not sent unsigned, and delivered once a secret is
// issued.
func TestNoSecretRetries(t *testing.T) {
	f := newDispatchFixture(t)
	it := f.enqueueFor(t, "late", "v-1", f.rcv.srv.URL+"/hook")
	d := f.dispatcher(f.db)
	runOnce(t, d)
	if n := len(f.rcv.requests()); n != 0 {
		t.Fatalf("%d requests sent without a secret", n)
	}
	f.clock.Add(time.Hour)
	claimed, err := f.db.ClaimDue(t.Context(), f.clock.Now(), 10, 0) // a lease of 0: still due
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 || claimed[0].ID != it.ID || claimed[0].Status != tandem.OutboxPending ||
		!strings.Contains(claimed[0].LastError, `application "late" has no webhook secret; issue one with POST /admin/v1/workspaces/acme/applications/late/webhook-secret`) {
		t.Fatalf("after an attempt without a secret: %+v; want it pending with the reason", claimed)
	}
	f.putSecret(t, "late", f.secret, f.clock.Now(), f.clock.Now())
	runOnce(t, d)
	reqs := f.rcv.requests()
	if len(reqs) != 1 || reqs[0].id != it.ID || reqs[0].status != http.StatusOK || reqs[0].verifyErr != nil {
		t.Errorf("requests: %+v; want one signed, accepted delivery", reqs)
	}
}

// TestRotationSignsWithBothSecrets: during a rotation's grace period, a
// receiver that still has the old secret, and one that has the new, both
// verify.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	f := newDispatchFixture(t)
	newSecret := webhook.NewSecret()
	f.putSecret(t, "web", newSecret, t0, t0.Add(time.Hour))
	f.enqueue(t, "v-1", f.rcv.srv.URL+"/hook")
	runOnce(t, f.dispatcher(f.db))
	reqs := f.rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	ts, _ := strconv.ParseInt(r.timestamp, 10, 64)
	for name, s := range map[string]string{"old": f.secret, "new": newSecret} {
		if err := webhook.Verify(s, r.id, time.Unix(ts, 0), []byte(r.body), r.signature); err != nil {
			t.Errorf("the %s secret does not verify %q: %v", name, r.signature, err)
		}
	}
	if n := len(strings.Fields(r.signature)); n != 2 {
		t.Errorf("signature header %q has %d signatures, want 2", r.signature, n)
	}
}
