package engine_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

// benchClaims is the claim set of a finished demo verification (Aadhaar,
// hand-over, number prompt, proximity, PAN): what /result returns.
func benchClaims(id string) map[string]string {
	return map[string]string{
		"request_id": id, "workflow": "login", "user_id": "mark@example.com",
		"aadhaar_number": "234123412346", "aadhaar_verified": "true", "aadhaar_verified_at": "1733729102",
		"web_to_device": "true", "allow_new_device": "true", "web_2_device_cred_id": "8a44858f34bd24ab21dc9d8d2fe05c76",
		"push_type": "", "push_token": "", "web_ip": "198.51.100.7",
		"prompt_success": "true", "prompt_completed_at": "1733729110",
		"proximity_verified": "true", "proximity_verified_at": "1733729118", "web_lat": "12.94739", "web_long": "80.24207",
		"web_geo_acc": "18.082", "mob_lat": "12.9478", "mob_long": "80.24207", "web_mob_dist": "45.2", "prx_read_at": "1733729117",
		"pan_number": "ABCPE1234F", "pan_verified": "true", "pan_verified_at": "1733729125",
	}
}

// BenchmarkResultJSON measures the claim encoding of GET /result: the flat
// claims of a finished verification (engine.Result) encoded as JSON.
func BenchmarkResultJSON(b *testing.B) {
	v := &tandem.Verification{ID: "6f1c1d8e-3b0a-4c55-9a8e-2f1d3c4b5a69", Workflow: "login", UserID: "mark@example.com", Status: tandem.StatusCompleted}
	v.Claims = benchClaims(v.ID)
	for b.Loop() {
		out, err := json.Marshal(engine.Result(v))
		if err != nil || len(out) < 500 {
			b.Fatalf("%d bytes, %v", len(out), err)
		}
	}
}

const flowWorkspace = `{"name": "bench",
 "applications": [
   {"name": "web", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone", "mobile": {"proximity": true}}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone", "number_prompt": true}}]},
   {"name": "on-phone", "modules": [
     {"type": "number_prompt", "display_name": "Match the number"},
     {"type": "proximity", "display_name": "Near your computer?", "configs": {"distance_m": 200}}]}]}`

// flowBench is an engine on a SQLite file (WAL, synchronous=FULL: every
// commit is durable, as in production) with the flow workspace, and a pool
// of phones, one per user.
type flowBench struct {
	db     *store.DB
	eng    *engine.Engine
	app    *tandem.AppRef
	phones []*ecdsa.PrivateKey
	next   atomic.Int64
}

// newFlowBench opens the database in a temporary directory, under
// $TANDEM_BENCH_DIR when it is set (e.g. /dev/shm, to take the disk's
// fsync out of the measure and see the CPU cost alone).
func newFlowBench(b testing.TB) *flowBench {
	ctx := context.Background()
	dir := b.TempDir()
	if base := os.Getenv("TANDEM_BENCH_DIR"); base != "" {
		var err error
		if dir, err = os.MkdirTemp(base, "tandem-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	env, err := rules.NewEnv()
	if err != nil {
		b.Fatal(err)
	}
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(flowWorkspace), &doc); err != nil {
		b.Fatal(err)
	}
	if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		b.Fatal(err)
	}
	fb := &flowBench{db: db, eng: &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Inboxes: events.NewHub(), Now: time.Now, PublicURL: "https://verify.example"}}
	if fb.app, err = db.GetApplication(ctx, "bench", "web"); err != nil {
		b.Fatal(err)
	}
	for range 64 {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		fb.phones = append(fb.phones, k)
	}
	return fb
}

// flow runs one whole verification the way the browser and the phone
// drive it: create, open in a browser, record the browser's location, make
// a pairing code, pair the phone, read the number the page shows, pick it
// on the phone, answer the phone's location, and read the result.
func (fb *flowBench) flow(ctx context.Context) error {
	n := fb.next.Add(1)
	key := fb.phones[n%int64(len(fb.phones))]
	user := fmt.Sprintf("user-%d@example.com", n%int64(len(fb.phones)))
	browser := fmt.Sprintf("browser-%d", n)
	const webIP, phoneIP = "198.51.100.7", "192.0.2.50"
	const lat, lon = 12.94739, 80.24207
	e := fb.eng

	c, err := e.Create(ctx, fb.app, engine.CreateRequest{UserID: user, AllowNewDevice: true}, "203.0.113.1")
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	token := strings.TrimPrefix(c.URL, "https://verify.example/v/")
	if _, err := e.Open(ctx, token, browser, webIP, "Mozilla/5.0"); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	if _, err := e.SetWebLocation(ctx, token, browser, tandem.WebLocation{Lat: lat, Lon: lon, AccuracyM: 18, ReadAt: time.Now()}, webIP); err != nil {
		return fmt.Errorf("web location: %w", err)
	}
	p, err := e.NewPairing(ctx, token, browser, webIP)
	if err != nil {
		return fmt.Errorf("pairing: %w", err)
	}
	pairJWS, err := deviceproto.SignPair(key, deviceproto.PairClaims{PairingToken: strings.TrimPrefix(p.URL, "https://verify.example/d/"), IssuedAt: time.Now().Unix(), Platform: "android"})
	if err != nil {
		return err
	}
	s, err := e.Pair(ctx, pairJWS, phoneIP)
	if err != nil {
		return fmt.Errorf("pair: %w", err)
	}
	// The web page shows the number.
	v, err := e.Lookup(ctx, token, browser, webIP)
	if err != nil {
		return fmt.Errorf("lookup: %w", err)
	}
	number := ""
	if h := e.ViewOf(v, nil, nil).Handover; h != nil {
		for _, nd := range h.Nodes {
			if nd.Kind == "number" {
				number = nd.Text
			}
		}
	}
	if s.Step == nil || s.Step.Type != "number_prompt" || number == "" {
		return fmt.Errorf("no number prompt: step %+v, number %q", s.Step, number)
	}
	answer := func(s *deviceproto.Session, ans string) (*deviceproto.Session, error) {
		step := s.Step.Index
		raw := map[string]json.RawMessage{}
		if err := json.Unmarshal([]byte(ans), &raw); err != nil {
			return nil, err
		}
		jws, err := deviceproto.SignRequest(key, deviceproto.RequestClaims{CredID: s.CredID, Challenge: s.Challenge, Action: deviceproto.ActionAnswer,
			VerificationID: s.VerificationID, Step: &step, IssuedAt: time.Now().Unix(), Answer: raw})
		if err != nil {
			return nil, err
		}
		return e.Answer(ctx, jws, phoneIP)
	}
	if s, err = answer(s, `{"number": "`+number+`"}`); err != nil || s.Step == nil || s.Step.Type != "proximity" {
		return fmt.Errorf("number prompt: %+v %v", s, err)
	}
	loc := fmt.Sprintf(`{"location": {"lat": %v, "lon": %v, "accuracy_m": 8, "accuracy_kind": "p68", "read_at": %d}}`, lat+40/111195.0, lon, time.Now().Unix())
	if s, err = answer(s, loc); err != nil || s.Status != "passed" {
		return fmt.Errorf("proximity: %+v %v", s, err)
	}
	v, err = e.Get(ctx, fb.app.ID, c.Verification.ID)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	res := engine.Result(v)
	if v.Status != tandem.StatusCompleted || res["prompt_success"] != "true" || res["proximity_verified"] != "true" {
		return fmt.Errorf("result %s: %v", v.Status, res)
	}
	_, err = json.Marshal(res)
	return err
}

// BenchmarkFlow measures one complete number prompt + proximity
// verification through the engine per op, in-process (no HTTP, no HTML, no
// QR code image), on a durable SQLite file. The op includes the phone's
// three ES256 signatures (see deviceproto's BenchmarkSignRequest), which a
// real phone makes. flows/s on one core ≈ 1e9 / (ns/op).
func BenchmarkFlow(b *testing.B) {
	fb := newFlowBench(b)
	ctx := context.Background()
	cpu := startCPU(b, fb.db)
	for b.Loop() {
		if err := fb.flow(ctx); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report()
}

// BenchmarkFlowParallel runs flows from GOMAXPROCS goroutines at once:
// what one process does when many people verify at the same time. Commits
// are serialized by SQLite's single writer.
func BenchmarkFlowParallel(b *testing.B) {
	fb := newFlowBench(b)
	ctx := context.Background()
	cpu := startCPU(b, fb.db)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := fb.flow(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu.report()
}

// BenchmarkFlowParallel32 runs flows from 32 goroutines at once (16 per
// GOMAXPROCS): many people verifying at the same time, each of their
// requests waiting for its commit, as on a busy server.
func BenchmarkFlowParallel32(b *testing.B) {
	fb := newFlowBench(b)
	ctx := context.Background()
	cpu := startCPU(b, fb.db)
	b.SetParallelism(32 / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := fb.flow(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cpu.report()
}

// cpuMeter measures the CPU time (user + system, all threads, the garbage
// collector included) the process spends per op. On a shared machine it
// varies far less than the wall time per op, which waits for other
// processes' CPU.
// It also counts the store's writes and COMMITs (durable transactions,
// each with its fsync) per op.
type cpuMeter struct {
	b      *testing.B
	db     *store.DB
	start  time.Duration
	writes store.WriteStats
}

func startCPU(b *testing.B, db *store.DB) cpuMeter {
	b.ResetTimer()
	return cpuMeter{b: b, db: db, start: processCPU(b), writes: db.WriteStats()}
}

// report adds the metrics cpu-ns/op, writes/op and commits/op.
func (m cpuMeter) report() {
	if m.b.N == 0 {
		return
	}
	n := float64(m.b.N)
	m.b.ReportMetric(float64(processCPU(m.b)-m.start)/n, "cpu-ns/op")
	w := m.db.WriteStats()
	m.b.ReportMetric(float64(w.Writes-m.writes.Writes)/n, "writes/op")
	m.b.ReportMetric(float64(w.Commits-m.writes.Commits)/n, "commits/op")
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
