// Package crashtest checks that a Tandem server keeps its promises when it
// is killed (SIGKILL, no shutdown) at random moments under load: it runs
// the load tool's flows against a `tandem serve` process on a SQLite
// database, kills the process again and again, restarts it on the same
// database each time, and then checks what the integrator, the browser,
// the phone and the webhook receiver were told against what the server
// says afterwards. cmd/tandem-crashtest and scripts/crash-safety.sh run
// it.
package crashtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite", for the final look at the database

	"github.com/tandem-id/tandem/bench"
	"github.com/tandem-id/tandem/webhook"
)

// Config is a crash-safety run.
type Config struct {
	// Tandem is the path of the tandem binary to run as the server.
	Tandem string
	// Dir holds the database and the server's logs (a new temporary
	// directory when empty; it is kept).
	Dir string
	// Kills is how many times the server is killed (20 when 0).
	Kills int
	// Concurrency is the number of flows kept running (4 when 0).
	Concurrency int
	// MinUp and MaxUp bound the random time the server runs under load
	// before each kill (300 ms and 2 s when 0).
	MinUp, MaxUp time.Duration
	// Seed seeds the random kill moments (random when 0).
	Seed uint64
	// WaitExpiry waits, at the end, until every verification the kills
	// interrupted has ended (their links expire after 60 s); without it,
	// only overdue ones must read as ended.
	WaitExpiry bool
	// WebhookWait bounds the wait for every completed verification's
	// webhook (150 s when 0: more than the outbox's 2-minute lease of an
	// item whose delivery a kill interrupted).
	WebhookWait time.Duration
	// Replays is how many accepted device messages are sent again after
	// the restarts (100 when 0).
	Replays int
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Summary is what a run found. Violations lists every broken promise;
// the run passed when it is empty.
type Summary struct {
	Kills             int
	Completed         map[string]int // by flow kind
	Interrupted       int            // flows a kill cut, with a verification created
	ErrorsWhileUp     int            // flows that failed while the server was up
	Continued         int            // hand-overs held across a kill and finished after it
	ContinuedOf       int
	AcceptedAnswers   int
	AcceptedPairings  int
	DuplicateAccepted int // challenges or pairing tokens accepted twice
	Replayed          int
	ReplayRefused     int
	Reread            int // completed verifications read again at the end
	RereadIdentical   int
	States            map[string]int // verifications known to the client, by final status
	PendingAtEnd      int            // not ended at the end (links not yet expired)
	ExpiredCleanly    int            // interrupted verifications that ended as expired
	WebhooksExpected  int
	WebhooksArrived   int
	WebhookDeliveries int
	WebhookBadSig     int
	WebhookWait       time.Duration
	DBIntegrity       string
	DBStates          map[string]int
	Violations        []string
	Dir               string
}

const (
	adminToken = "crashtest-admin-token-0123456789abcdef"
	secretKey  = "crashtest-secret-key-0123456789abcdefghij"
	linkExpiry = 60 // seconds, the least the server allows
)

// run is the state of one run.
type run struct {
	cfg    Config
	log    func(format string, args ...any)
	srv    *server
	target *bench.Target
	rec    *recorder
	hooks  *receiver
	rng    *mrand.Rand

	mu          sync.Mutex
	completed   map[string]bench.FlowResult // by request_id
	known       map[string]string           // request_id → flow kind, every verification the client created
	interrupted map[string]bool
	violations  []string
	errsUp      int
	heldTotal   int // hand-overs held across a kill
	continued   int // of which finished after the restart
	userN       atomic.Int64
}

func (r *run) violation(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msg := fmt.Sprintf(format, args...)
	r.violations = append(r.violations, msg)
	r.log("VIOLATION: %s", msg)
}

// Run runs the crash test and returns its summary; an error means the
// test itself could not run (the binary does not start, …).
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.Tandem == "" {
		return nil, errors.New("crashtest: no tandem binary given")
	}
	if cfg.Kills <= 0 {
		cfg.Kills = 20
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MinUp <= 0 {
		cfg.MinUp = 300 * time.Millisecond
	}
	if cfg.MaxUp < cfg.MinUp {
		cfg.MaxUp = max(cfg.MinUp, 2*time.Second)
	}
	if cfg.WebhookWait <= 0 {
		cfg.WebhookWait = 150 * time.Second
	}
	if cfg.Replays <= 0 {
		cfg.Replays = 100
	}
	if cfg.Seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		cfg.Seed = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "tandem-crashtest-")
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	start := time.Now()
	var logMu sync.Mutex
	r := &run{
		cfg: cfg,
		log: func(format string, args ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			fmt.Fprintf(logw, "%6.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		},
		rng:         mrand.New(mrand.NewPCG(cfg.Seed, 0x7a6e64656d)),
		completed:   map[string]bench.FlowResult{},
		known:       map[string]string{},
		interrupted: map[string]bool{},
		rec:         newRecorder(),
	}
	r.log("seed %d, directory %s", cfg.Seed, cfg.Dir)

	hooks, err := startReceiver()
	if err != nil {
		return nil, err
	}
	defer hooks.close()
	r.hooks = hooks

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r.srv = &server{bin: cfg.Tandem, dir: cfg.Dir, port: port}
	if err := r.srv.start(ctx); err != nil {
		return nil, err
	}
	defer r.srv.kill()
	base, _ := url.Parse(r.srv.url())
	target, _, err := bench.Setup(ctx, base, bench.SetupOptions{
		AdminToken: adminToken, WebhookURL: hooks.url + "/hooks", LinkExpiryS: linkExpiry, RateLimit: 1_000_000,
	})
	if err != nil {
		return nil, fmt.Errorf("crashtest: %w", err)
	}
	r.target = target
	for _, app := range []string{bench.AppFull, bench.AppWeb} {
		secret, err := issueWebhookSecret(ctx, base, app)
		if err != nil {
			return nil, err
		}
		hooks.addSecret(secret)
	}

	for k := 1; k <= cfg.Kills; k++ {
		if err := r.round(ctx, k); err != nil {
			return nil, err
		}
	}
	r.log("%d kills done; checking", cfg.Kills)
	s := r.check(ctx)
	s.Kills = cfg.Kills
	s.Dir = cfg.Dir
	return s, nil
}

// round runs load with two hand-overs held open, kills the server at a
// random moment, restarts it, and finishes the held hand-overs.
func (r *run) round(ctx context.Context, k int) error {
	rt := r.rec.transport(http.DefaultTransport.(*http.Transport).Clone())
	// Two hand-overs held across the kill: one waiting for a phone, one
	// whose phone has paired and has the number prompt to answer.
	var held []*bench.Handover
	for i := range 2 {
		hctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		h, err := r.target.StartHandover(hctx, r.user(), rt)
		if err == nil && i == 1 {
			err = h.PairPhone(hctx)
		}
		cancel()
		if h != nil && h.ID != "" {
			r.remember(h.ID, bench.KindFull)
		}
		if err != nil {
			r.violation("round %d: preparing a held hand-over failed while the server was up: %v", k, err)
			continue
		}
		held = append(held, h)
	}

	lctx, stopLoad := context.WithCancel(ctx)
	var killedAt atomic.Int64 // unix nanos; 0 while the server is up
	var wg sync.WaitGroup
	var flows atomic.Int64
	for w := range r.cfg.Concurrency {
		wg.Go(func() {
			for n := 0; lctx.Err() == nil; n++ {
				kind := bench.KindFull
				if (w+n)%4 == 3 {
					kind = bench.KindWeb
				}
				fctx, cancel := context.WithTimeout(lctx, 20*time.Second)
				res := r.target.Flow(fctx, kind, r.user(), rt, time.Now())
				cancel()
				failedAt := time.Now().UnixNano()
				if res.ID != "" {
					r.remember(res.ID, kind)
				}
				if res.Err == nil {
					flows.Add(1)
					r.mu.Lock()
					r.completed[res.ID] = res
					r.mu.Unlock()
					continue
				}
				if ka := killedAt.Load(); ka == 0 || failedAt < ka {
					if lctx.Err() == nil {
						r.mu.Lock()
						r.errsUp++
						r.mu.Unlock()
						r.violation("round %d: a %s flow failed while the server was up: %v", k, kind, res.Err)
					}
					continue
				}
				if res.ID != "" {
					r.mu.Lock()
					r.interrupted[res.ID] = true
					r.mu.Unlock()
				}
				// The server is down: wait for the round to end.
				<-lctx.Done()
			}
		})
	}
	up := r.cfg.MinUp + time.Duration(r.rng.Int64N(int64(r.cfg.MaxUp-r.cfg.MinUp)+1))
	if err := sleep(ctx, up); err != nil {
		stopLoad()
		wg.Wait()
		return err
	}
	r.rec.markKill()
	killedAt.Store(time.Now().UnixNano())
	r.srv.kill()
	stopLoad()
	wg.Wait()
	r.log("round %d: killed after %v under load (%d flows completed in the round)", k, up.Round(time.Millisecond), flows.Load())
	if err := r.srv.start(ctx); err != nil {
		return err
	}

	for i, h := range held {
		hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res := h.Finish(hctx)
		cancel()
		r.mu.Lock()
		r.heldTotal++
		r.mu.Unlock()
		if res.Err != nil {
			what := "waiting for a phone"
			if i == 1 {
				what = "paired, number prompt open"
			}
			r.violation("round %d: a hand-over held across the kill (%s) could not be finished after the restart: %v", k, what, res.Err)
			continue
		}
		r.mu.Lock()
		r.completed[res.ID] = res
		r.continued++
		r.mu.Unlock()
	}
	return nil
}

func (r *run) user() string {
	return "crash-" + strconv.FormatUint(r.cfg.Seed, 36) + "-" + strconv.FormatInt(r.userN.Add(1), 10)
}

func (r *run) remember(id, kind string) {
	r.mu.Lock()
	r.known[id] = kind
	r.mu.Unlock()
}

// check runs the checks after the last restart and stops the server.
func (r *run) check(ctx context.Context) *Summary {
	s := &Summary{Completed: map[string]int{}, States: map[string]int{}}
	r.mu.Lock()
	completed := maps.Clone(r.completed)
	known := maps.Clone(r.known)
	interrupted := maps.Clone(r.interrupted)
	s.ErrorsWhileUp, s.Continued, s.ContinuedOf = r.errsUp, r.continued, r.heldTotal
	r.mu.Unlock()
	for _, res := range completed {
		s.Completed[res.Kind]++
	}
	for id := range interrupted {
		if _, ok := completed[id]; !ok {
			s.Interrupted++
		}
	}
	base, _ := url.Parse(r.srv.url())
	creds := r.target.Apps

	// No challenge (or pairing token) accepted twice, and no accepted
	// message accepted again after the restarts.
	s.AcceptedAnswers, s.AcceptedPairings, s.DuplicateAccepted = r.rec.counts()
	if s.DuplicateAccepted > 0 {
		r.violation("%d device challenges or pairing tokens were accepted twice", s.DuplicateAccepted)
	}
	for _, m := range r.rec.sample(r.cfg.Replays, r.rng) {
		s.Replayed++
		status, body, err := post(ctx, base.String()+m.path, m.body)
		switch {
		case err != nil:
			r.violation("replay of an accepted %s: %v", m.path, err)
		case status >= 400 && status < 500:
			s.ReplayRefused++
		default:
			r.violation("replay of a %s accepted before a restart was answered %d (want a refusal): %s", m.path, status, body)
		}
	}

	// Completed verifications still read completed with the same claims.
	for id, res := range completed {
		s.Reread++
		claims, status, err := getJSON[map[string]string](ctx, base.String()+"/v1/verifications/"+id+"/result", creds[res.Kind])
		switch {
		case err != nil:
			r.violation("re-reading completed verification %s: %v", id, err)
		case status != http.StatusOK:
			r.violation("completed verification %s now answers %d", id, status)
		case !maps.Equal(claims, res.Claims):
			r.violation("completed verification %s changed: claims were %v, now %v", id, res.Claims, claims)
		default:
			s.RereadIdentical++
		}
	}

	// Every verification the client created is in a legal state; the ones
	// the kills interrupted end (expire) or were finished.
	deadline := time.Now()
	if r.cfg.WaitExpiry {
		deadline = deadline.Add((linkExpiry + 20) * time.Second)
		r.log("waiting up to %ds for the interrupted verifications to expire", linkExpiry+20)
	}
	for {
		pending := 0
		for id, kind := range known {
			v, status, err := getJSON[verification](ctx, base.String()+"/v1/verifications/"+id, creds[kind])
			if err != nil || status != http.StatusOK {
				continue // counted in the last pass
			}
			if !terminal(v.Status) {
				pending++
			}
		}
		if pending == 0 || !time.Now().Before(deadline) {
			break
		}
		if sleep(ctx, 2*time.Second) != nil {
			break
		}
	}
	for id, kind := range known {
		v, status, err := getJSON[verification](ctx, base.String()+"/v1/verifications/"+id, creds[kind])
		if err != nil || status != http.StatusOK {
			r.violation("reading verification %s: status %d, %v", id, status, err)
			continue
		}
		s.States[v.Status]++
		for _, problem := range v.illegal(time.Now()) {
			r.violation("verification %s: %s", id, problem)
		}
		if !terminal(v.Status) {
			s.PendingAtEnd++
			if r.cfg.WaitExpiry {
				r.violation("verification %s is still %s %v after its link expired", id, v.Status, time.Since(v.ExpiresAt).Round(time.Second))
			}
		}
		if _, done := completed[id]; !done && v.Status == "expired" {
			s.ExpiredCleanly++
		}
		if _, done := completed[id]; done && v.Status != "completed" {
			r.violation("verification %s was seen completed and now reads %s", id, v.Status)
		}
	}

	// Every completed verification's webhook arrives, with its claims.
	s.WebhooksExpected = len(completed)
	waitStart := time.Now()
	for {
		missing := 0
		for id := range completed {
			if _, ok := r.hooks.first(id); !ok {
				missing++
			}
		}
		if missing == 0 || time.Since(waitStart) > r.cfg.WebhookWait {
			break
		}
		if sleep(ctx, time.Second) != nil {
			break
		}
	}
	s.WebhookWait = time.Since(waitStart).Round(100 * time.Millisecond)
	for id, res := range completed {
		data, ok := r.hooks.first(id)
		if !ok {
			r.violation("the webhook of completed verification %s did not arrive within %v", id, r.cfg.WebhookWait)
			continue
		}
		s.WebhooksArrived++
		if !maps.Equal(data, res.Claims) {
			r.violation("the webhook of %s carries %v, the result was %v", id, data, res.Claims)
		}
	}
	s.WebhookDeliveries, s.WebhookBadSig = r.hooks.totals()
	if s.WebhookBadSig > 0 {
		r.violation("%d webhooks had no valid signature", s.WebhookBadSig)
	}

	// The database after a clean stop: intact, every verification in a
	// known status.
	r.srv.stop()
	s.DBIntegrity, s.DBStates = r.inspectDB()
	r.mu.Lock()
	s.Violations = slices.Clone(r.violations)
	r.mu.Unlock()
	return s
}

func (r *run) inspectDB() (string, map[string]int) {
	states := map[string]int{}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(r.cfg.Dir, "crash.db")+"?mode=ro")
	if err != nil {
		r.violation("open the database: %v", err)
		return "", states
	}
	defer db.Close()
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil {
		r.violation("integrity_check: %v", err)
	} else if integrity != "ok" {
		r.violation("integrity_check: %s", integrity)
	}
	rows, err := db.Query("SELECT status, count(*) FROM verifications GROUP BY status")
	if err != nil {
		r.violation("count verifications: %v", err)
		return integrity, states
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			r.violation("count verifications: %v", err)
			break
		}
		states[st] = n
		if !slices.Contains(statuses, st) {
			r.violation("%d verifications in the database have the unknown status %q", n, st)
		}
	}
	return integrity, states
}

var statuses = []string{"pending", "in_progress", "completed", "failed", "expired", "cancelled"}

func terminal(s string) bool {
	return s == "completed" || s == "failed" || s == "expired" || s == "cancelled"
}

// verification is the integrator's view of a verification.
type verification struct {
	Status     string     `json:"status"`
	ExpiresAt  time.Time  `json:"expires_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Steps      []struct {
		Status string `json:"status"`
	} `json:"steps"`
}

// illegal returns what is wrong with v's state.
func (v *verification) illegal(now time.Time) []string {
	var out []string
	if !slices.Contains(statuses, v.Status) {
		out = append(out, fmt.Sprintf("unknown status %q", v.Status))
	}
	if terminal(v.Status) != (v.FinishedAt != nil) {
		out = append(out, fmt.Sprintf("status %s with finished_at %v", v.Status, v.FinishedAt))
	}
	if !terminal(v.Status) && now.After(v.ExpiresAt.Add(time.Second)) {
		out = append(out, fmt.Sprintf("status %s although its link expired at %s", v.Status, v.ExpiresAt.Format(time.RFC3339)))
	}
	for i, st := range v.Steps {
		switch st.Status {
		case "pending", "running", "passed", "failed", "skipped":
		default:
			out = append(out, fmt.Sprintf("step %d has the unknown status %q", i, st.Status))
		}
		if v.Status == "completed" && st.Status != "passed" && st.Status != "skipped" {
			out = append(out, fmt.Sprintf("completed, but step %d is %s", i, st.Status))
		}
		if v.Status == "pending" && st.Status != "pending" {
			out = append(out, fmt.Sprintf("pending, but step %d is %s", i, st.Status))
		}
	}
	return out
}

// server is the tandem serve process.
type server struct {
	bin, dir string
	port     int
	n        int
	cmd      *exec.Cmd
	done     chan struct{}
	logFile  *os.File
}

func (s *server) url() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) }

// start starts the server on the database and waits until it is ready.
func (s *server) start(ctx context.Context) error {
	s.n++
	logPath := filepath.Join(s.dir, fmt.Sprintf("server-%02d.log", s.n))
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "serve",
		"-addr", "127.0.0.1:"+strconv.Itoa(s.port),
		"-db", "sqlite:"+filepath.Join(s.dir, "crash.db"),
		"-secret-key", secretKey, "-admin-token", adminToken,
		"-allow-insecure-webhooks", "-rate-limit-exempt", "127.0.0.0/8",
		"-expiry-sweep", "1s", "-log-level", "warn")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("crashtest: start %s: %w", s.bin, err)
	}
	s.cmd, s.logFile, s.done = cmd, f, make(chan struct{})
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("crashtest: the server exited at start (%s); see %s", cmd.ProcessState, logPath)
		default:
		}
		resp, err := http.Get(s.url() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			s.kill()
			return err
		}
	}
	s.kill()
	return fmt.Errorf("crashtest: the server was not ready within 30 s; see %s", logPath)
}

// kill sends SIGKILL and waits for the process to end.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.logFile.Close()
	s.cmd = nil
}

// stop asks the server to stop (SIGTERM) and waits, killing it after 20 s.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		s.logFile.Close()
		s.cmd = nil
	case <-time.After(20 * time.Second):
		s.kill()
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// recorder keeps the device messages the server accepted: the bodies of
// POST /device/v1/answer and /device/v1/pair answered 200.
type recorder struct {
	mu       sync.Mutex
	accepted []message
	seen     map[string]int // challenge or pairing token → times accepted
	answers  int
	pairs    int
	kills    []int // len(accepted) at each kill
}

type message struct {
	path string
	body []byte
}

func newRecorder() *recorder { return &recorder{seen: map[string]int{}} }

func (rec *recorder) transport(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		p := req.URL.Path
		if req.Method != http.MethodPost || (p != "/device/v1/answer" && p != "/device/v1/pair") || req.Body == nil {
			return rt.RoundTrip(req)
		}
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := rt.RoundTrip(req)
		if err == nil && resp.StatusCode == http.StatusOK {
			rec.add(p, body)
		}
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// add records an accepted message and the challenge (or pairing token)
// its signed payload carries.
func (rec *recorder) add(path string, body []byte) {
	var env struct {
		JWS string `json:"jws"`
	}
	var claims struct {
		Challenge    string `json:"challenge"`
		PairingToken string `json:"pairing_token"`
	}
	key := ""
	if json.Unmarshal(body, &env) == nil {
		if parts := strings.Split(env.JWS, "."); len(parts) == 3 {
			if payload, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil && json.Unmarshal(payload, &claims) == nil {
				key = claims.Challenge + claims.PairingToken
			}
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.accepted = append(rec.accepted, message{path: path, body: body})
	if path == "/device/v1/pair" {
		rec.pairs++
	} else {
		rec.answers++
	}
	if key != "" {
		rec.seen[key]++
	}
}

func (rec *recorder) markKill() {
	rec.mu.Lock()
	rec.kills = append(rec.kills, len(rec.accepted))
	rec.mu.Unlock()
}

func (rec *recorder) counts() (answers, pairs, duplicates int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, n := range rec.seen {
		if n > 1 {
			duplicates += n - 1
		}
	}
	return rec.answers, rec.pairs, duplicates
}

// sample returns up to n accepted messages: the last two accepted before
// each kill (the ones a lost write would let through again), then others
// at random.
func (rec *recorder) sample(n int, rng *mrand.Rand) []message {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	picked := map[int]bool{}
	var out []message
	for _, k := range rec.kills {
		for i := k - 2; i < k; i++ {
			if i >= 0 && !picked[i] && len(out) < n {
				picked[i] = true
				out = append(out, rec.accepted[i])
			}
		}
	}
	for _, i := range rng.Perm(len(rec.accepted)) {
		if len(out) >= n {
			break
		}
		if !picked[i] {
			picked[i] = true
			out = append(out, rec.accepted[i])
		}
	}
	return out
}

// receiver is the bench applications' webhook endpoint.
type receiver struct {
	url string
	srv *http.Server
	ln  net.Listener

	mu         sync.Mutex
	secrets    []string
	firsts     map[string]map[string]string // request_id → data of its first valid delivery
	deliveries int
	badSig     int
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc := &receiver{url: "http://" + ln.Addr().String(), ln: ln, firsts: map[string]map[string]string{}}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve), ReadHeaderTimeout: 10 * time.Second}
	go rc.srv.Serve(ln)
	return rc, nil
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.deliveries++
	valid := false
	for _, s := range rc.secrets {
		if webhook.VerifyRequest(s, r.Header, body, time.Now(), 5*time.Minute) == nil {
			valid = true
			break
		}
	}
	if !valid {
		rc.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var p struct {
		Type string            `json:"type"`
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Data["request_id"] == "" {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	if _, ok := rc.firsts[p.Data["request_id"]]; !ok {
		rc.firsts[p.Data["request_id"]] = p.Data
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) addSecret(s string) {
	rc.mu.Lock()
	rc.secrets = append(rc.secrets, s)
	rc.mu.Unlock()
}

func (rc *receiver) first(id string) (map[string]string, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	d, ok := rc.firsts[id]
	return d, ok
}

func (rc *receiver) totals() (deliveries, badSig int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.deliveries, rc.badSig
}

func (rc *receiver) close() { rc.srv.Close() }

func issueWebhookSecret(ctx context.Context, base *url.URL, app string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+"/admin/v1/workspaces/bench/applications/"+app+"/webhook-secret", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("crashtest: issue the webhook secret of %s: %w", app, err)
	}
	defer resp.Body.Close()
	var out struct {
		Secret string `json:"secret"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &out) != nil || out.Secret == "" {
		return "", fmt.Errorf("crashtest: issue the webhook secret of %s: HTTP %d: %s", app, resp.StatusCode, b)
	}
	return out.Secret, nil
}

func post(ctx context.Context, target string, body []byte) (int, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), nil
}

func getJSON[T any](ctx context.Context, target string, cred bench.Credentials) (T, int, error) {
	var out T
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	req.SetBasicAuth(cred.ClientID, cred.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return out, resp.StatusCode, err
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &out); err != nil {
			return out, resp.StatusCode, fmt.Errorf("decode %s: %w", b, err)
		}
	}
	return out, resp.StatusCode, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WriteText writes the summary for people.
func (s *Summary) WriteText(w io.Writer) {
	total := 0
	for _, n := range s.Completed {
		total += n
	}
	fmt.Fprintf(w, "crash safety: the server was killed (SIGKILL) %d times under load and restarted on the same database\n", s.Kills)
	fmt.Fprintf(w, "flows completed            %d (full %d, web %d)\n", total, s.Completed[bench.KindFull], s.Completed[bench.KindWeb])
	fmt.Fprintf(w, "flows cut by a kill        %d (with a verification created)\n", s.Interrupted)
	fmt.Fprintf(w, "flows failed while up      %d\n", s.ErrorsWhileUp)
	fmt.Fprintf(w, "held across a kill         %d of %d hand-overs finished after the restart\n", s.Continued, s.ContinuedOf)
	fmt.Fprintf(w, "device messages accepted   %d answers, %d pairings; accepted twice: %d\n", s.AcceptedAnswers, s.AcceptedPairings, s.DuplicateAccepted)
	fmt.Fprintf(w, "replayed after restarts    %d, refused %d\n", s.Replayed, s.ReplayRefused)
	fmt.Fprintf(w, "completed, re-read         %d, identical claims %d\n", s.Reread, s.RereadIdentical)
	fmt.Fprintf(w, "states (API)               %s; not ended at the end %d; interrupted and expired %d\n", counts(s.States), s.PendingAtEnd, s.ExpiredCleanly)
	fmt.Fprintf(w, "webhooks                   %d of %d completed arrived (%d deliveries, %d bad signatures), waited %v\n", s.WebhooksArrived, s.WebhooksExpected, s.WebhookDeliveries, s.WebhookBadSig, s.WebhookWait)
	fmt.Fprintf(w, "database                   integrity_check %s; %s\n", s.DBIntegrity, counts(s.DBStates))
	fmt.Fprintf(w, "violations                 %d\n", len(s.Violations))
	for _, v := range s.Violations {
		fmt.Fprintf(w, "  - %s\n", v)
	}
	fmt.Fprintf(w, "logs and database          %s\n", s.Dir)
}

func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+" "+strconv.Itoa(m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
