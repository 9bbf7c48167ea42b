package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// maxBody is the largest response body read (a page with its QR code is
// about 10 KiB).
const maxBody = 1 << 20

// flowError is why a flow failed: the phase it failed in and a short kind
// (http_429, http_500, timeout, connection, unexpected_page, wrong_result …)
// by which the report counts errors.
type flowError struct {
	phase, kind string
	err         error
}

func (e *flowError) Error() string { return e.phase + ": " + e.kind + ": " + e.err.Error() }
func (e *flowError) Unwrap() error { return e.err }

// key is the report's name of the error: phase/kind.
func (e *flowError) key() string { return e.phase + "/" + e.kind }

// fail wraps err as a flowError of phase; an err that already is one is
// returned as it is.
func fail(phase string, err error) error {
	if err == nil {
		return nil
	}
	if fe, ok := errors.AsType[*flowError](err); ok {
		return fe
	}
	kind := "error"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, context.Canceled):
		kind = "cancelled"
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			kind = "connection"
		}
	}
	return &flowError{phase: phase, kind: kind, err: err}
}

// statusError is the error of an unexpected HTTP status.
func statusError(phase string, resp *http.Response, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return &flowError{phase: phase, kind: "http_" + strconv.Itoa(resp.StatusCode),
		err: fmt.Errorf("%s %s: status %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, msg)}
}

func unexpected(phase, format string, args ...any) error {
	return &flowError{phase: phase, kind: "unexpected_page", err: fmt.Errorf(format, args...)}
}

// browser is one person's browser on the verification pages: it keeps the
// page's cookie and sends what a browser sends (the Origin and
// Sec-Fetch-Site headers that cross-origin protection checks).
type browser struct {
	hc     *http.Client
	origin string // scheme://host[:port] of the server
	cookie string // name=value of the browser cookie, once set
}

// send sends one request; the caller closes the body.
func (b *browser) send(ctx context.Context, method, target string, body []byte, header http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.resolve(target), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "tandem-bench (a load test browser)")
	if b.cookie != "" {
		req.Header.Set("Cookie", b.cookie)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, err
	}
	for _, c := range resp.Cookies() {
		if c.Name == "tandem_b" && c.Value != "" {
			b.cookie = c.Name + "=" + c.Value
		}
	}
	return resp, nil
}

func (b *browser) resolve(target string) string {
	if strings.HasPrefix(target, "/") {
		return b.origin + target
	}
	return target
}

func readBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return body, err
}

// navigate loads a page as a navigation does, following redirects; first
// is the opening of the link (from another site: Sec-Fetch-Site none).
func (b *browser) navigate(ctx context.Context, phase, target string, first bool) (*page, error) {
	site := "same-origin"
	if first {
		site = "none"
	}
	for range 5 {
		h := http.Header{
			"Accept":         {"text/html,application/xhtml+xml"},
			"Sec-Fetch-Site": {site},
			"Sec-Fetch-Mode": {"navigate"},
			"Sec-Fetch-Dest": {"document"},
		}
		resp, err := b.send(ctx, http.MethodGet, target, nil, h)
		if err != nil {
			return nil, fail(phase, err)
		}
		body, err := readBody(resp)
		if err != nil {
			return nil, fail(phase, err)
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			return parsePage(body), nil
		case resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound:
			target = resp.Header.Get("Location")
			continue
		}
		return nil, statusError(phase, resp, body)
	}
	return nil, unexpected(phase, "too many redirects")
}

// submit posts a web step's form and loads the page it redirects to.
func (b *browser) submit(ctx context.Context, phase, action string, values url.Values) (*page, error) {
	h := http.Header{
		"Content-Type":   {"application/x-www-form-urlencoded"},
		"Accept":         {"text/html,application/xhtml+xml"},
		"Origin":         {b.origin},
		"Sec-Fetch-Site": {"same-origin"},
		"Sec-Fetch-Mode": {"navigate"},
		"Sec-Fetch-Dest": {"document"},
	}
	resp, err := b.send(ctx, http.MethodPost, action, []byte(values.Encode()), h)
	if err != nil {
		return nil, fail(phase, err)
	}
	body, err := readBody(resp)
	if err != nil {
		return nil, fail(phase, err)
	}
	if resp.StatusCode != http.StatusSeeOther {
		return nil, statusError(phase, resp, body)
	}
	return b.navigate(ctx, phase, resp.Header.Get("Location"), false)
}

// webLocation is what app.js posts to share this computer's location.
type webLocation struct {
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	AccuracyM float64 `json:"accuracy_m"`
	AgeMS     int64   `json:"age_ms"`
}

// shareLocation posts this computer's location as app.js does (a
// same-origin fetch) and loads the page again.
func (b *browser) shareLocation(ctx context.Context, phase, path, pagePath string, loc webLocation) (*page, error) {
	body, _ := json.Marshal(loc)
	h := http.Header{
		"Content-Type":   {"application/json"},
		"Accept":         {"application/json"},
		"Origin":         {b.origin},
		"Sec-Fetch-Site": {"same-origin"},
		"Sec-Fetch-Mode": {"cors"},
		"Sec-Fetch-Dest": {"empty"},
	}
	resp, err := b.send(ctx, http.MethodPost, path, body, h)
	if err != nil {
		return nil, fail(phase, err)
	}
	rb, err := readBody(resp)
	if err != nil {
		return nil, fail(phase, err)
	}
	if resp.StatusCode != http.StatusNoContent {
		return nil, statusError(phase, resp, rb)
	}
	return b.navigate(ctx, phase, pagePath, false)
}

// page is what the load tool reads from a verification page.
type page struct {
	// Live pages (data-events on <main>).
	events, path string
	version      int64
	live         bool

	formAction string   // a web step's form
	inputs     []string // the names of its text inputs

	locationPath string // the hand-over asks for this computer's location
	pairingURL   string // the hand-over's pairing link (the QR code's content)
	number       string // the number prompt's number, once a phone has paired

	end string // data-status of an end page ("completed", "failed" …)
}

var (
	reEvents   = regexp.MustCompile(`data-events="([^"]*)"`)
	rePage     = regexp.MustCompile(`data-page="([^"]*)"`)
	reVersion  = regexp.MustCompile(`data-version="(-?\d+)"`)
	reForm     = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	reInput    = regexp.MustCompile(`<input type="text" id="[^"]*" name="([^"]*)"`)
	reLocation = regexp.MustCompile(`data-location="([^"]*)"`)
	rePairing  = regexp.MustCompile(`id="pairing-link"[^>]* value="([^"]*)"`)
	reNumber   = regexp.MustCompile(`<p class="big-number"[^>]*>([^<]*)</p>`)
	reEnd      = regexp.MustCompile(`data-status="([a-z_]+)"`)
)

func parsePage(body []byte) *page {
	p := &page{}
	attr := func(re *regexp.Regexp) string {
		if m := re.FindSubmatch(body); m != nil {
			return html.UnescapeString(string(m[1]))
		}
		return ""
	}
	p.events, p.path = attr(reEvents), attr(rePage)
	if v := attr(reVersion); v != "" {
		p.version, _ = strconv.ParseInt(v, 10, 64)
		p.live = p.events != ""
	}
	p.formAction = attr(reForm)
	for _, m := range reInput.FindAllSubmatch(body, -1) {
		p.inputs = append(p.inputs, html.UnescapeString(string(m[1])))
	}
	p.locationPath = attr(reLocation)
	p.pairingURL = attr(rePairing)
	p.number = strings.TrimSpace(attr(reNumber))
	p.end = attr(reEnd)
	return p
}

func (p *page) String() string {
	switch {
	case p.end != "":
		return "end page (" + p.end + ")"
	case p.number != "":
		return "number page"
	case p.pairingURL != "":
		return "pairing page"
	case p.locationPath != "":
		return "location page"
	case p.formAction != "":
		return "form page " + strings.Join(p.inputs, ",")
	}
	return "waiting page"
}

// state is the data of the live stream's "state" event.
type state struct {
	Status  string `json:"status"`
	Step    int    `json:"step"`
	Version int64  `json:"version"`
	Done    bool   `json:"done"`
}

// stream is an open live stream (Server-Sent Events) of a page.
type stream struct {
	resp *http.Response
	r    *bufio.Reader
}

// openEvents opens the page's live stream as EventSource does.
func (b *browser) openEvents(ctx context.Context, phase, path string) (*stream, error) {
	h := http.Header{
		"Accept":         {"text/event-stream"},
		"Cache-Control":  {"no-cache"},
		"Sec-Fetch-Site": {"same-origin"},
		"Sec-Fetch-Mode": {"cors"},
		"Sec-Fetch-Dest": {"empty"},
	}
	resp, err := b.send(ctx, http.MethodGet, path, nil, h)
	if err != nil {
		return nil, fail(phase, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := readBody(resp)
		return nil, statusError(phase, resp, body)
	}
	return &stream{resp: resp, r: bufio.NewReaderSize(resp.Body, 1024)}, nil
}

// next returns the next "state" event and when its last line arrived;
// io.EOF when the server ended the stream. Comments and other events are
// skipped.
func (s *stream) next() (state, time.Time, error) {
	var event, data string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return state{}, time.Time{}, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if event == "state" && data != "" {
				at := time.Now()
				var st state
				if err := json.Unmarshal([]byte(data), &st); err != nil {
					return state{}, at, fmt.Errorf("live stream: bad state event %q: %w", data, err)
				}
				return st, at, nil
			}
			event, data = "", ""
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
}

func (s *stream) close() { s.resp.Body.Close() }

// seen is a page the browser loaded after a live event: when that event
// arrived and when the page was loaded.
type seen struct {
	page     *page
	eventAt  time.Time
	loadedAt time.Time
}

// learnedAfter returns when the browser learned what the page shows, for
// a change made at t: the live event, when it came after t; otherwise the
// page's load (an earlier event's reload that already showed the change).
func (s seen) learnedAfter(t time.Time) time.Time {
	if s.eventAt.After(t) {
		return s.eventAt
	}
	return s.loadedAt
}

// follow keeps the live page p current as app.js does: it opens the
// page's live stream and, when a state event's version differs from the
// page's, closes the stream and loads the page again; the new page is
// sent on out. It returns when an end page (or any page that is not live)
// was loaded, or on the first failure. A stream the server ends is opened
// again.
func (b *browser) follow(ctx context.Context, phase func() string, p *page, out chan<- seen) error {
	for p.live {
		s, err := b.openEvents(ctx, phase(), p.events)
		if err != nil {
			return err
		}
		var next *page
		var at time.Time
		for next == nil {
			st, eventAt, err := s.next()
			if err == io.EOF {
				break // reconnect, as EventSource does
			}
			if err != nil {
				s.close()
				if ctx.Err() != nil {
					return fail(phase(), ctx.Err())
				}
				return fail(phase(), err)
			}
			if st.Version != p.version {
				s.close()
				at = eventAt
				if next, err = b.navigate(ctx, phase(), p.path, false); err != nil {
					return err
				}
			}
		}
		s.close()
		if next == nil {
			if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
				return fail(phase(), err)
			}
			continue
		}
		p = next
		select {
		case out <- seen{page: p, eventAt: at, loadedAt: time.Now()}:
		case <-ctx.Done():
			return fail(phase(), ctx.Err())
		}
	}
	return nil
}
