package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tandem-id/tandem/authenticator"
	"github.com/tandem-id/tandem/deviceproto"
)

// Flow kinds of the mix.
const (
	// KindFull is a web step, this computer's location, the hand-over by
	// QR code to a phone that answers the number prompt and proximity,
	// and the result.
	KindFull = "full"
	// KindWeb is a flow of web steps only.
	KindWeb = "web"
)

// Kinds lists the flow kinds.
var Kinds = []string{KindFull, KindWeb}

// Phase is a timed part of a flow.
type Phase int

// Phases of a flow, in order.
const (
	// PhaseCreate is the integrator's POST /v1/verifications.
	PhaseCreate Phase = iota
	// PhaseWeb is the browser from opening the link to the page that
	// shows the pairing code (or, in a web flow, the end page): every web
	// step's form post with its redirect and, before a hand-over whose
	// phone compares locations, the post of this computer's location.
	PhaseWeb
	// PhasePairing is from the phone's pairing request to the browser
	// showing the number to pick (its live event and the page's reload).
	PhasePairing
	// PhaseNumberPrompt is the phone's signed answer to the number prompt.
	PhaseNumberPrompt
	// PhaseProximity is the phone's signed answer with its location.
	PhaseProximity
	// PhaseCompletion is from the moment the phone sends its last answer
	// to the browser receiving the live event of the verification's end
	// (an upper bound of "device answer → browser event": it includes
	// the server's handling of the answer). When a reload for an earlier
	// event already shows the end page, the reload's end counts.
	PhaseCompletion
	// PhaseResult is the integrator's GET /v1/verifications/{id}/result.
	PhaseResult
	// PhaseEndToEnd is the whole flow, from its start (its scheduled
	// start in open loop) to the result.
	PhaseEndToEnd
	numPhases
)

var phaseNames = [numPhases]string{"create", "web", "pairing", "number_prompt", "proximity", "completion", "result", "end_to_end"}

func (p Phase) String() string { return phaseNames[p] }

// Credentials are an application's client id and secret.
type Credentials struct {
	ClientID     string
	ClientSecret string
}

// Target is a server prepared for flows by Setup: its base URL and the
// credentials of the bench applications, by flow kind.
type Target struct {
	Base *url.URL
	Apps map[string]Credentials
}

// FlowResult is the outcome of one flow.
type FlowResult struct {
	Kind string
	// ID is the verification's request_id, once created.
	ID string
	// Claims are the integrator's result, once read.
	Claims map[string]string
	// Durations of the phases the flow went through (-1: not reached or
	// not part of this kind of flow).
	Durations [numPhases]time.Duration
	// RoundTrips counts the HTTP requests the flow sent (a live stream is
	// one).
	RoundTrips int64
	// Err is nil for a flow that completed with the expected result; a
	// *flowError otherwise (see ErrorKey).
	Err error
}

// ErrorKey returns "phase/kind" of a failed flow's error (e.g.
// "web/http_429"), "" when it did not fail.
func ErrorKey(err error) string {
	if err == nil {
		return ""
	}
	if fe, ok := errors.AsType[*flowError](err); ok {
		return fe.key()
	}
	return "other/error"
}

// Where the browser and the phone are: about 55 m apart.
var (
	browserAt = webLocation{Lat: 12.94739, Lon: 80.24207, AccuracyM: 18}
	phoneLat  = 12.94789
	phoneLon  = 80.24207
)

// formValues are the answers to the web steps' fields.
var formValues = map[string]string{
	"aadhaar_number": "234123412346",
	"pan_number":     "ABCPE1234F",
}

// Flow runs one flow of kind for user (a new user id for every flow: the
// server's fatigue limits are per user) over rt. start is when the flow
// was due (its scheduled start in open loop), from which the end-to-end
// latency counts. The flow ends at ctx's deadline at the latest.
func (t *Target) Flow(ctx context.Context, kind, user string, rt http.RoundTripper, start time.Time) FlowResult {
	var rts atomic.Int64
	hc := newClient(rt, &rts)
	r := FlowResult{Kind: kind}
	for i := range r.Durations {
		r.Durations[i] = -1
	}
	f := &flow{t: t, hc: hc, res: &r}
	switch kind {
	case KindFull:
		r.Err = f.full(ctx, user)
	case KindWeb:
		r.Err = f.web(ctx, user)
	default:
		r.Err = &flowError{phase: "create", kind: "bad_kind", err: fmt.Errorf("no flow kind %q", kind)}
	}
	if r.Err == nil {
		r.Durations[PhaseEndToEnd] = time.Since(start)
	}
	r.RoundTrips = rts.Load()
	return r
}

type flow struct {
	t   *Target
	hc  *http.Client
	res *FlowResult
}

func (f *flow) timed(p Phase, since time.Time) { f.res.Durations[p] = time.Since(since) }

func (f *flow) origin() string { return f.t.Base.Scheme + "://" + f.t.Base.Host }

// create starts a verification for user with the application of kind.
func (f *flow) create(ctx context.Context, kind, user string) (link string, err error) {
	t0 := time.Now()
	cred, ok := f.t.Apps[kind]
	if !ok {
		return "", &flowError{phase: "create", kind: "no_application", err: fmt.Errorf("no bench application for %q flows", kind)}
	}
	body, _ := json.Marshal(map[string]any{"user_id": user, "allow_new_device": true, "ip": "127.0.0.1", "user_agent": "tandem-bench"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.t.Base.String()+"/v1/verifications", bytes.NewReader(body))
	if err != nil {
		return "", fail("create", err)
	}
	req.SetBasicAuth(cred.ClientID, cred.ClientSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.hc.Do(req)
	if err != nil {
		return "", fail("create", err)
	}
	rb, err := readBody(resp)
	if err != nil {
		return "", fail("create", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", statusError("create", resp, rb)
	}
	var out struct {
		RequestID string `json:"request_id"`
		URL       string `json:"url"`
	}
	if err := json.Unmarshal(rb, &out); err != nil || out.RequestID == "" || out.URL == "" {
		return "", &flowError{phase: "create", kind: "bad_answer", err: fmt.Errorf("create answered %s", rb)}
	}
	f.res.ID = out.RequestID
	f.timed(PhaseCreate, t0)
	return out.URL, nil
}

// result reads the integrator's result and checks it against want.
func (f *flow) result(ctx context.Context, kind string, want map[string]string) error {
	t0 := time.Now()
	cred := f.t.Apps[kind]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.t.Base.String()+"/v1/verifications/"+url.PathEscape(f.res.ID)+"/result", nil)
	if err != nil {
		return fail("result", err)
	}
	req.SetBasicAuth(cred.ClientID, cred.ClientSecret)
	resp, err := f.hc.Do(req)
	if err != nil {
		return fail("result", err)
	}
	rb, err := readBody(resp)
	if err != nil {
		return fail("result", err)
	}
	if resp.StatusCode != http.StatusOK {
		return statusError("result", resp, rb)
	}
	var claims map[string]string
	if err := json.Unmarshal(rb, &claims); err != nil {
		return &flowError{phase: "result", kind: "bad_answer", err: fmt.Errorf("result %s: %w", rb, err)}
	}
	f.res.Claims = claims
	for k, v := range want {
		if claims[k] != v {
			return &flowError{phase: "result", kind: "wrong_result", err: fmt.Errorf("claim %s = %q, want %q (status %q, reason in %s)", k, claims[k], v, claims["status"], rb)}
		}
	}
	f.timed(PhaseResult, t0)
	return nil
}

// webSteps fills and posts the forms of p and the pages that follow until
// a page without a form.
func (f *flow) webSteps(ctx context.Context, b *browser, p *page) (*page, error) {
	for p.formAction != "" {
		values := url.Values{}
		for _, name := range p.inputs {
			v, ok := formValues[name]
			if !ok {
				return nil, unexpected("web", "the form asks for %q, which the load tool cannot fill", name)
			}
			values.Set(name, v)
		}
		next, err := b.submit(ctx, "web", p.formAction, values)
		if err != nil {
			return nil, err
		}
		if next.formAction == p.formAction && next.end == "" {
			return nil, unexpected("web", "the form %s was refused", p.formAction)
		}
		p = next
	}
	return p, nil
}

func (f *flow) web(ctx context.Context, user string) error {
	link, err := f.create(ctx, KindWeb, user)
	if err != nil {
		return err
	}
	t0 := time.Now()
	b := &browser{hc: f.hc, origin: f.origin()}
	p, err := b.navigate(ctx, "web", link, true)
	if err != nil {
		return err
	}
	if p, err = f.webSteps(ctx, b, p); err != nil {
		return err
	}
	if p.end != "completed" {
		return unexpected("web", "after the web steps the browser shows a %s, not the end page of a completed verification", p)
	}
	f.timed(PhaseWeb, t0)
	return f.result(ctx, KindWeb, map[string]string{"status": "completed", "aadhaar_verified": "true", "pan_verified": "true"})
}

func (f *flow) full(ctx context.Context, user string) error {
	b, p, err := f.toHandover(ctx, user)
	if err != nil {
		return err
	}
	return f.phone(ctx, b, p, nil, nil)
}

// toHandover creates a verification of the full flow and takes the
// browser through its web steps and the sharing of its location, to the
// page with the pairing code.
func (f *flow) toHandover(ctx context.Context, user string) (*browser, *page, error) {
	link, err := f.create(ctx, KindFull, user)
	if err != nil {
		return nil, nil, err
	}
	t0 := time.Now()
	b := &browser{hc: f.hc, origin: f.origin()}
	p, err := b.navigate(ctx, "web", link, true)
	if err != nil {
		return nil, nil, err
	}
	if p, err = f.webSteps(ctx, b, p); err != nil {
		return nil, nil, err
	}
	if p.locationPath == "" {
		return nil, nil, unexpected("web", "the hand-over shows a %s, not the request for this computer's location", p)
	}
	if p, err = b.shareLocation(ctx, "web", p.locationPath, p.path, browserAt); err != nil {
		return nil, nil, err
	}
	if p.pairingURL == "" || !p.live {
		return nil, nil, unexpected("web", "after sharing the location the browser shows a %s, not a live page with the pairing code", p)
	}
	f.timed(PhaseWeb, t0)
	return b, p, nil
}

// phone runs the hand-over from the browser's live page p: the browser
// follows its live stream while the phone pairs from p's code (unless dev
// has already paired: s is then its session), answers the number the
// browser's page shows and its location; then the browser sees the end and
// the integrator reads the result.
func (f *flow) phone(ctx context.Context, b *browser, p *page, dev *authenticator.Client, s *deviceproto.Session) error {
	// The browser follows its live stream while the phone answers.
	var phase atomic.Value
	phase.Store("pairing")
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	pages := make(chan seen, 8)
	berr := make(chan error, 1)
	go func() {
		err := b.follow(bctx, func() string { return phase.Load().(string) }, p, pages)
		berr <- err
		close(pages)
	}()
	// waitPage waits for the browser to load a page for which ok is true.
	waitPage := func(what string, ok func(*page) bool) (seen, error) {
		ph := phase.Load().(string)
		for {
			select {
			case s, open := <-pages:
				if !open {
					if err := <-berr; err != nil {
						return seen{}, err
					}
					return seen{}, unexpected(ph, "the browser stopped at a %s while waiting for %s", p, what)
				}
				p = s.page
				if ok(s.page) {
					return s, nil
				}
				if s.page.end != "" {
					return seen{}, &flowError{phase: ph, kind: "wrong_result", err: fmt.Errorf("the verification ended (%s) while the browser waited for %s", s.page.end, what)}
				}
			case <-ctx.Done():
				return seen{}, fail(ph, ctx.Err())
			}
		}
	}

	var number string
	pairing := time.Now()
	if dev == nil {
		// The phone scans the code: a fresh key for every flow.
		if p.pairingURL == "" {
			return unexpected("pairing", "the browser shows a %s, not the pairing code", p)
		}
		key, err := authenticator.NewKey()
		if err != nil {
			return fail("pairing", err)
		}
		dev = &authenticator.Client{HTTP: f.hc, Key: key}
		if s, err = dev.Pair(ctx, p.pairingURL, "bench phone", "cli"); err != nil {
			return deviceError("pairing", err)
		}
	} else {
		pairing = time.Time{} // paired earlier: not timed
		number = p.number
	}
	var err error
	var last time.Time // when the phone sent its last answer
	for s.Status == "in_progress" && s.Step != nil {
		answer := map[string]any{}
		ph := PhaseNumberPrompt
		for _, n := range s.Step.Nodes {
			switch n.Kind {
			case "choice":
				if number == "" {
					// The person reads the number on the browser's page.
					np, err := waitPage("the number", func(p *page) bool { return p.number != "" })
					if err != nil {
						return err
					}
					number = np.page.number
					if !pairing.IsZero() {
						f.timed(PhasePairing, pairing)
					}
				}
				if !slices.Contains(n.Options, number) {
					return &flowError{phase: "number_prompt", kind: "number_not_offered", err: fmt.Errorf("the page shows %s; the phone offers %v", number, n.Options)}
				}
				answer[n.Name] = number
			case "location":
				ph = PhaseProximity
				answer[n.Name] = deviceproto.Location{Lat: phoneLat, Lon: phoneLon, AccuracyM: 10, AccuracyKind: "p95", ReadAt: time.Now().Unix()}
			case "text", "deadline", "number":
			default:
				return &flowError{phase: "device", kind: "unexpected_step", err: fmt.Errorf("the phone's step %q has a %q node, which the load tool cannot answer", s.Step.Type, n.Kind)}
			}
		}
		phase.Store(ph.String())
		t1 := time.Now()
		last = t1
		if s, err = dev.Answer(ctx, f.res.ID, s.Step.Index, answer); err != nil {
			return deviceError(ph.String(), err)
		}
		if s.Step != nil && s.Step.Error != "" {
			return &flowError{phase: ph.String(), kind: "answer_refused", err: fmt.Errorf("the phone's answer was refused: %s", s.Step.Error)}
		}
		f.timed(ph, t1)
	}
	if s.Status != "passed" {
		return &flowError{phase: "device", kind: "wrong_result", err: fmt.Errorf("the phone's part ended %q: %s", s.Status, s.Message)}
	}
	if number == "" {
		return &flowError{phase: "device", kind: "wrong_result", err: fmt.Errorf("the phone was never asked for the number")}
	}
	phase.Store("completion")
	end, err := waitPage("the end page", func(p *page) bool { return p.end != "" })
	if err != nil {
		return err
	}
	if end.page.end != "completed" {
		return &flowError{phase: "completion", kind: "wrong_result", err: fmt.Errorf("the browser's end page says %q", end.page.end)}
	}
	f.res.Durations[PhaseCompletion] = end.learnedAfter(last).Sub(last)
	stop()
	return f.result(ctx, KindFull, map[string]string{"status": "completed", "prompt_success": "true", "proximity_verified": "true"})
}

// deviceError is a failed device request as a flowError: its problem code
// (or HTTP status) is the kind.
func deviceError(phase string, err error) error {
	if p, ok := errors.AsType[*authenticator.ProblemError](err); ok {
		kind := "http_" + fmt.Sprint(p.Status)
		if p.Code != "" {
			kind += "_" + p.Code
		}
		return &flowError{phase: phase, kind: kind, err: err}
	}
	return fail(phase, err)
}

// Handover is a full flow stopped at its hand-over: the browser shows the
// pairing code (and, after PairPhone, the phone has paired). It lets a
// test stop a server between the steps of a flow and finish the flow
// afterwards.
type Handover struct {
	// ID is the verification's request_id.
	ID  string
	rts *atomic.Int64
	f   *flow
	b   *browser
	p   *page
	dev *authenticator.Client
	s   *deviceproto.Session
}

// StartHandover runs a full flow for user over rt up to the page with the
// pairing code.
func (t *Target) StartHandover(ctx context.Context, user string, rt http.RoundTripper) (*Handover, error) {
	h := &Handover{rts: &atomic.Int64{}}
	res := &FlowResult{Kind: KindFull}
	for i := range res.Durations {
		res.Durations[i] = -1
	}
	h.f = &flow{t: t, hc: newClient(rt, h.rts), res: res}
	b, p, err := h.f.toHandover(ctx, user)
	h.ID = res.ID
	if err != nil {
		return h, err
	}
	h.b, h.p = b, p
	return h, nil
}

// PairPhone pairs a phone (a fresh key) with the code the browser shows;
// the browser does not look meanwhile.
func (h *Handover) PairPhone(ctx context.Context) error {
	key, err := authenticator.NewKey()
	if err != nil {
		return fail("pairing", err)
	}
	h.dev = &authenticator.Client{HTTP: h.f.hc, Key: key}
	s, err := h.dev.Pair(ctx, h.p.pairingURL, "bench phone", "cli")
	if err != nil {
		h.dev = nil
		return deviceError("pairing", err)
	}
	h.s = s
	return nil
}

// Finish goes on with the flow: the browser loads its page again (as a
// person does after the server was away), the phone pairs from the page's
// new code unless it has paired, answers, and the integrator reads the
// result.
func (h *Handover) Finish(ctx context.Context) FlowResult {
	start := time.Now()
	res := h.f.res
	res.Err = func() error {
		p, err := h.b.navigate(ctx, "resume", h.p.path, false)
		if err != nil {
			return err
		}
		if !p.live {
			return unexpected("resume", "after the restart the browser shows a %s, not the live hand-over page", p)
		}
		return h.f.phone(ctx, h.b, p, h.dev, h.s)
	}()
	if res.Err == nil {
		res.Durations[PhaseEndToEnd] = time.Since(start)
	}
	res.RoundTrips = h.rts.Load()
	return *res
}
