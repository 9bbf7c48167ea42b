// Package bench is Tandem's load tool (`tandem bench`): it drives a running
// server over HTTP through complete flows as people do them, an integrator
// starting a verification, a browser going through the web pages and
// following the page's live stream, a phone (the authenticator client,
// with real ES256 signatures) pairing from the page's code and answering
// the number prompt and proximity, and the integrator reading the
// result, and reports throughput, errors by kind and latency per phase.
// It only drives servers on the loopback interface.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config is a load run.
type Config struct {
	// URL is the server's base URL; only loopback hosts are accepted.
	URL        string
	AdminToken string
	// Workspace is the bench workspace's name ("bench" when empty).
	Workspace string
	// Mix weighs the flow kinds: {"full": 1} by default.
	Mix map[string]int
	// Concurrency is the number of flows kept running (closed loop) when
	// Rate is 0.
	Concurrency int
	// Rate, when positive, starts flows at this many per second whatever
	// the answers (open loop); latency counts from each flow's scheduled
	// start.
	Rate float64
	// MaxInFlight bounds the flows running at once in open loop; an
	// arrival over it is counted as a "dropped" error (10,000 when 0).
	MaxInFlight int
	// Duration is how long flows are measured, after Warmup (whose flows
	// are not counted).
	Duration, Warmup time.Duration
	// FlowTimeout bounds one flow (30 s when 0).
	FlowTimeout time.Duration
	// Floor measures the same number of HTTP round trips against
	// GET /healthz, at the same concurrency, after the flows.
	Floor bool
	// Waiters, when positive, holds that many browsers waiting on their
	// live streams during the run and measures the server's memory per
	// waiter.
	Waiters int
	// ServerPID is the server's process id, for its memory; when 0 it is
	// found from the process listening on the URL's port.
	ServerPID int
	// Sources is the number of loopback source addresses to connect from
	// (127.0.0.1, 127.0.0.2, …); virtual users are spread over them. When
	// 0: one per 20,000 held connections, at least one.
	Sources int
	// AppRateLimit is the rate_limit given to the bench applications
	// (requests per second); 0 gives none.
	AppRateLimit int
	// WebhookURL, when set, is the bench web applications' webhook_url.
	WebhookURL string
	// Progress receives a progress line every second (nil: none).
	Progress io.Writer
}

// Report is the outcome of a run.
type Report struct {
	Target      string         `json:"target"`
	Mode        string         `json:"mode"` // "closed" or "open"
	Concurrency int            `json:"concurrency,omitempty"`
	Rate        float64        `json:"rate,omitempty"`
	Mix         map[string]int `json:"mix"`
	DurationS   float64        `json:"duration_s"`
	WarmupS     float64        `json:"warmup_s"`
	Sources     int            `json:"sources"`
	Note        string         `json:"note,omitempty"`

	// Flows counts the measured flows that completed with the expected
	// result, by kind and in all.
	Flows       map[string]int64 `json:"flows"`
	Completed   int64            `json:"completed"`
	FlowsPerSec float64          `json:"flows_per_s"`
	// RoundTrips is the HTTP requests of the completed measured flows.
	RoundTrips        int64   `json:"round_trips"`
	RoundTripsPerFlow float64 `json:"round_trips_per_flow"`
	PeakInFlight      int64   `json:"peak_in_flight"`

	Errors ErrorReport `json:"errors"`
	// Latency has a summary per phase (see Phase) and "end_to_end".
	Latency map[string]Summary `json:"latency"`

	Floor   *FloorReport   `json:"floor,omitempty"`
	Waiters *WaitersReport `json:"waiters,omitempty"`
}

// ErrorReport counts failed flows by "phase/kind", with one message of
// each kind.
type ErrorReport struct {
	Total    int64             `json:"total"`
	ByKind   map[string]int64  `json:"by_kind"`
	Examples map[string]string `json:"examples,omitempty"`
}

// FloorReport compares the flows with trivial requests.
type FloorReport struct {
	Requests       int64   `json:"requests"`
	Concurrency    int     `json:"concurrency"`
	Seconds        float64 `json:"seconds"`
	RequestsPerSec float64 `json:"requests_per_s"`
	Errors         int64   `json:"errors"`
	// Ratio is the flows' round trips per second over the floor's
	// requests per second: 1 would mean a flow's requests cost what
	// GET /healthz costs.
	Ratio float64 `json:"ratio"`
}

// WaitersReport is the memory of held waiters.
type WaitersReport struct {
	Held      int   `json:"held"`
	Requested int   `json:"requested"`
	ServerPID int   `json:"server_pid,omitempty"`
	RSSBefore int64 `json:"rss_before_bytes,omitempty"`
	RSSAfter  int64 `json:"rss_after_bytes,omitempty"`
	// RSSPerWaiter is (RSSAfter - RSSBefore) / Held.
	RSSPerWaiter int64   `json:"rss_per_waiter_bytes,omitempty"`
	SetupS       float64 `json:"setup_s"`
	// EventLatency is the completion phase of the flows run while the
	// waiters were held: the phone's last answer to the browser's event.
	EventLatency Summary           `json:"event_latency"`
	Errors       map[string]int64  `json:"errors,omitempty"`
	Examples     map[string]string `json:"examples,omitempty"`
	MemoryNote   string            `json:"memory_note,omitempty"`
	OpenFiles    uint64            `json:"open_files_limit,omitempty"`
}

func (c *Config) check() (*url.URL, error) {
	u, err := CheckTarget(c.URL)
	if err != nil {
		return nil, err
	}
	if c.AdminToken == "" {
		return nil, errors.New("give the server's admin token with -admin-token (the bench workspace is applied with it)")
	}
	if c.Rate < 0 || c.Concurrency < 0 || c.Waiters < 0 || c.Sources < 0 || c.MaxInFlight < 0 {
		return nil, errors.New("-rate, -c, -waiters, -sources and -max-in-flight must not be negative")
	}
	if c.Rate == 0 && c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Duration <= 0 {
		return nil, errors.New("-duration must be positive")
	}
	if c.Warmup < 0 {
		return nil, errors.New("-warmup must not be negative")
	}
	if len(c.Mix) == 0 {
		c.Mix = map[string]int{KindFull: 1}
	}
	total := 0
	for k, w := range c.Mix {
		if !slices.Contains(Kinds, k) {
			return nil, fmt.Errorf("-mix: unknown flow kind %q; use %s", k, strings.Join(Kinds, ", "))
		}
		if w < 0 {
			return nil, fmt.Errorf("-mix: the weight of %s must not be negative", k)
		}
		total += w
	}
	if total == 0 {
		return nil, errors.New("-mix: give at least one flow kind a positive weight")
	}
	if c.FlowTimeout <= 0 {
		c.FlowTimeout = 30 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 10000
	}
	return u, nil
}

// ParseMix parses "full=3,web=1" (a kind alone weighs 1).
func ParseMix(s string) (map[string]int, error) {
	out := map[string]int{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, found := strings.Cut(part, "=")
		weight := 1
		if found {
			n, err := strconv.Atoi(w)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("-mix %q: the weight of %s must be a whole number ≥ 0", s, name)
			}
			weight = n
		}
		if !slices.Contains(Kinds, name) {
			return nil, fmt.Errorf("-mix %q: unknown flow kind %q; use %s", s, name, strings.Join(Kinds, ", "))
		}
		out[name] += weight
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-mix %q names no flow kind", s)
	}
	return out, nil
}

// recorder collects the measured flows.
type recorder struct {
	hist      [numPhases]Histogram
	completed atomic.Int64
	rts       atomic.Int64
	inFlight  atomic.Int64
	peak      atomic.Int64

	mu       sync.Mutex
	byKind   map[string]int64
	errs     map[string]int64
	examples map[string]string
	errTotal atomic.Int64
}

func newRecorder() *recorder {
	return &recorder{byKind: map[string]int64{}, errs: map[string]int64{}, examples: map[string]string{}}
}

func (r *recorder) add(res FlowResult) {
	if res.Err != nil {
		r.addError(ErrorKey(res.Err), res.Err.Error())
		return
	}
	for p, d := range res.Durations {
		if d >= 0 {
			r.hist[p].Record(d)
		}
	}
	r.completed.Add(1)
	r.rts.Add(res.RoundTrips)
	r.mu.Lock()
	r.byKind[res.Kind]++
	r.mu.Unlock()
}

func (r *recorder) addError(key, msg string) {
	r.errTotal.Add(1)
	r.mu.Lock()
	r.errs[key]++
	if _, ok := r.examples[key]; !ok {
		r.examples[key] = msg
	}
	r.mu.Unlock()
}

func (r *recorder) start() {
	n := r.inFlight.Add(1)
	for {
		p := r.peak.Load()
		if n <= p || r.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (r *recorder) errorReport() ErrorReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return ErrorReport{Total: r.errTotal.Load(), ByKind: maps.Clone(r.errs), Examples: maps.Clone(r.examples)}
}

// Run prepares the server (Setup), optionally holds waiters, runs the
// flows for the warm-up and the duration, measures the floor when asked,
// and returns the report. It returns an error only when the run could not
// be made (bad configuration, setup refused); failed flows are counted in
// the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	base, err := cfg.check()
	if err != nil {
		return nil, err
	}
	sources := cfg.Sources
	if sources == 0 {
		sources = max(1, (cfg.Waiters+cfg.Concurrency*2+19999)/20000)
	}
	idle := max(64, cfg.Concurrency*4)
	if cfg.Rate > 0 {
		idle = max(idle, int(cfg.Rate/4))
	}
	p := newPool(base, sources, idle)
	defer p.close()
	setupClient := &http.Client{Transport: p.get(0), Timeout: 30 * time.Second}
	target, note, err := Setup(ctx, base, SetupOptions{
		Workspace: cfg.Workspace, AdminToken: cfg.AdminToken, WebhookURL: cfg.WebhookURL,
		RateLimit: cfg.AppRateLimit, HTTP: setupClient,
	})
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Target: base.String(), Mix: cfg.Mix, DurationS: cfg.Duration.Seconds(), WarmupS: cfg.Warmup.Seconds(),
		Sources: len(p.transports), Note: note, Concurrency: cfg.Concurrency,
	}
	if cfg.Rate > 0 {
		rep.Mode, rep.Rate, rep.Concurrency = "open", cfg.Rate, 0
	} else {
		rep.Mode = "closed"
	}
	runID := randomID()

	var held *waiters
	if cfg.Waiters > 0 {
		held = holdWaiters(ctx, cfg, target, p, runID)
		defer held.release()
		rep.Waiters = held.report
	}

	rec := newRecorder()
	kinds := mixSequence(cfg.Mix)
	var next atomic.Int64
	runFlow := func(at time.Time, measured bool) {
		n := next.Add(1) - 1
		kind := kinds[int(n)%len(kinds)]
		fctx, cancel := context.WithTimeout(ctx, cfg.FlowTimeout)
		defer cancel()
		rec.start()
		res := target.Flow(fctx, kind, "bench-"+runID+"-"+strconv.FormatInt(n, 10), p.get(int(n)), at)
		rec.inFlight.Add(-1)
		if measured && ctx.Err() == nil {
			rec.add(res)
		}
	}

	begin := time.Now()
	measureFrom := begin.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)
	stopProgress := progress(cfg.Progress, rec, begin, measureFrom)
	var wg sync.WaitGroup
	if cfg.Rate > 0 {
		openLoop(ctx, begin, end, cfg.Rate, func(_ int, at time.Time) {
			measured := !at.Before(measureFrom)
			if rec.inFlight.Load() >= int64(cfg.MaxInFlight) {
				if measured {
					rec.addError("start/dropped", fmt.Sprintf("more than %d flows in flight: the arrival was not started", cfg.MaxInFlight))
				}
				return
			}
			wg.Go(func() { runFlow(at, measured) })
		})
	} else {
		for range cfg.Concurrency {
			wg.Go(func() {
				for ctx.Err() == nil {
					at := time.Now()
					if !at.Before(end) {
						return
					}
					runFlow(at, !at.Before(measureFrom))
				}
			})
		}
	}
	wg.Wait()
	stopProgress()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	rep.Completed = rec.completed.Load()
	rep.Flows = maps.Clone(rec.byKind)
	rep.FlowsPerSec = float64(rep.Completed) / cfg.Duration.Seconds()
	rep.RoundTrips = rec.rts.Load()
	if rep.Completed > 0 {
		rep.RoundTripsPerFlow = float64(rep.RoundTrips) / float64(rep.Completed)
	}
	rep.PeakInFlight = rec.peak.Load()
	rep.Errors = rec.errorReport()
	rep.Latency = map[string]Summary{}
	for ph := range numPhases {
		if rec.hist[ph].Count() > 0 {
			rep.Latency[ph.String()] = rec.hist[ph].Summary()
		}
	}
	if held != nil {
		held.report.EventLatency = rec.hist[PhaseCompletion].Summary()
	}
	if cfg.Floor && rep.RoundTrips > 0 {
		conc := cfg.Concurrency
		if cfg.Rate > 0 {
			conc = int(max(1, rep.PeakInFlight))
		}
		rep.Floor = floor(ctx, base, p, rep.RoundTrips, conc)
		if rep.Floor.Seconds > 0 {
			flowRTs := float64(rep.RoundTrips) / cfg.Duration.Seconds()
			rep.Floor.Ratio = flowRTs / rep.Floor.RequestsPerSec
		}
	}
	return rep, nil
}

// mixSequence expands the weights into the repeating order of kinds.
func mixSequence(mix map[string]int) []string {
	var out []string
	names := slices.Sorted(maps.Keys(mix))
	for _, k := range names {
		for range mix[k] {
			out = append(out, k)
		}
	}
	return out
}

func randomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// progress prints a line every second until the returned function is
// called.
func progress(w io.Writer, rec *recorder, begin, measureFrom time.Time) func() {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := rec.completed.Load()
				label := "measuring"
				if now.Before(measureFrom) {
					label = "warm-up"
				}
				fmt.Fprintf(w, "%5.0fs %-9s flows %d  %.0f/s  errors %d  in flight %d  p99 %.1f ms\n",
					now.Sub(begin).Seconds(), label, n, float64(n-last), rec.errTotal.Load(), rec.inFlight.Load(),
					float64(rec.hist[PhaseEndToEnd].Quantile(0.99).Microseconds())/1000)
				last = n
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// floor sends n GET /healthz over the run's transports with conc workers.
func floor(ctx context.Context, base *url.URL, p *pool, n int64, conc int) *FloorReport {
	var left atomic.Int64
	left.Store(n)
	var errs, rts atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conc {
		hc := newClient(p.get(w), &rts)
		wg.Go(func() {
			for left.Add(-1) >= 0 && ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/healthz", nil)
				resp, err := hc.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return &FloorReport{Requests: n, Concurrency: conc, Seconds: secs, RequestsPerSec: float64(n) / secs, Errors: errs.Load()}
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "target      %s\n", r.Target)
	if r.Mode == "open" {
		fmt.Fprintf(w, "load        open loop, %.1f flows/s scheduled (peak %d in flight)\n", r.Rate, r.PeakInFlight)
	} else {
		fmt.Fprintf(w, "load        closed loop, %d concurrent flows\n", r.Concurrency)
	}
	fmt.Fprintf(w, "mix         %s\n", mixString(r.Mix))
	fmt.Fprintf(w, "duration    %.1fs measured after %.1fs warm-up, from %d source address(es)\n", r.DurationS, r.WarmupS, r.Sources)
	if r.Note != "" {
		fmt.Fprintf(w, "note        %s\n", r.Note)
	}
	fmt.Fprintf(w, "completed   %d flows (%s), %.1f flows/s\n", r.Completed, mixString(toInt(r.Flows)), r.FlowsPerSec)
	fmt.Fprintf(w, "round trips %d (%.1f per flow)\n", r.RoundTrips, r.RoundTripsPerFlow)
	fmt.Fprintf(w, "errors      %d\n", r.Errors.Total)
	for _, k := range slices.Sorted(maps.Keys(r.Errors.ByKind)) {
		fmt.Fprintf(w, "  %-36s %d  e.g. %s\n", k, r.Errors.ByKind[k], r.Errors.Examples[k])
	}
	fmt.Fprintf(w, "\nlatency (ms)        count      p50      p95      p99      max\n")
	for ph := range numPhases {
		s, ok := r.Latency[ph.String()]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "  %-15s %9d %8.2f %8.2f %8.2f %8.2f\n", ph, s.Count, s.P50MS, s.P95MS, s.P99MS, s.MaxMS)
	}
	if f := r.Floor; f != nil {
		fmt.Fprintf(w, "\nfloor       %d × GET /healthz at concurrency %d: %.0f requests/s (%d errors)\n", f.Requests, f.Concurrency, f.RequestsPerSec, f.Errors)
		fmt.Fprintf(w, "ratio       %.3f (the flows' round trips per second ÷ the floor's requests per second)\n", f.Ratio)
	}
	if wr := r.Waiters; wr != nil {
		fmt.Fprintf(w, "\nwaiters     %d of %d held (open-files limit %d), set up in %.1fs\n", wr.Held, wr.Requested, wr.OpenFiles, wr.SetupS)
		if wr.MemoryNote != "" {
			fmt.Fprintf(w, "  memory    %s\n", wr.MemoryNote)
		} else {
			fmt.Fprintf(w, "  memory    server pid %d: %.1f MiB before, %.1f MiB after: %.1f KiB per waiter\n", wr.ServerPID,
				float64(wr.RSSBefore)/(1<<20), float64(wr.RSSAfter)/(1<<20), float64(wr.RSSPerWaiter)/1024)
		}
		fmt.Fprintf(w, "  event     phone's last answer → browser event, %d flows: p50 %.2f ms, p99 %.2f ms\n", wr.EventLatency.Count, wr.EventLatency.P50MS, wr.EventLatency.P99MS)
		for _, k := range slices.Sorted(maps.Keys(wr.Errors)) {
			fmt.Fprintf(w, "  error     %s: %d, e.g. %s\n", k, wr.Errors[k], wr.Examples[k])
		}
	}
}

func toInt(m map[string]int64) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = int(v)
	}
	return out
}

func mixString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Itoa(m[k])
	}
	return strings.Join(parts, ",")
}
