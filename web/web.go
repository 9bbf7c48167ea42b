// Package web is the browser side of a verification, served under /v/: the
// pages a person goes through after opening a verification link, the form
// posts of web steps, and a Server-Sent Events stream that lets an open page
// move on by itself when the verification changes elsewhere.
//
// Pages are rendered on the server and work without JavaScript, except
// for sharing the computer's location before a proximity check (the
// browser's Geolocation API); a small ES module adds that, live updates,
// countdowns and double-submit protection. Every response carries a strict
// Content-Security-Policy (no inline script or style), nosniff and
// no-referrer; POSTs are protected against cross-site request forgery by
// http.CrossOriginProtection and are rate limited.
//
// The verification link's secret (the path's token) is never logged: logs
// name a link by a short prefix of its SHA-256 only.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/ratelimit"
)

//go:embed templates
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Defaults of the Server's optional fields and its fixed limits.
const (
	DefaultSSEKeepAlive   = 15 * time.Second
	DefaultSSEMaxLifetime = 10 * time.Minute

	// MaxFormBytes, MaxFormFields and MaxFieldBytes bound a step's form post.
	MaxFormBytes  = 16 << 10
	MaxFormFields = 20
	MaxFieldBytes = 1 << 10

	cookieName   = "tandem_b"
	cookieMaxAge = 24 * 60 * 60
	// sseRetry is the reconnection delay sent before a stream is closed.
	sseRetry = 3 * time.Second
)

// Server serves the verification pages. Engine and Events must be set; the
// other fields have defaults. Set the fields before calling Handler and do
// not change them afterwards.
type Server struct {
	Engine *engine.Engine
	Events *events.Hub
	Logger *slog.Logger // nil: slog.Default()
	Now    func() time.Time
	// SecureCookies marks the browser cookie Secure; set it when the public
	// URL is https.
	SecureCookies bool
	// SSEKeepAlive is the interval of keep-alive comments on an event
	// stream (DefaultSSEKeepAlive when 0).
	SSEKeepAlive time.Duration
	// SSEMaxLifetime is how long an event stream stays open before the
	// server closes it and the browser reconnects (DefaultSSEMaxLifetime
	// when 0).
	SSEMaxLifetime time.Duration
	// RateLimits holds the limits per client address, per browser and on
	// open event streams (see limit.go), the exempt networks and the
	// refusal counter; nil is the default limits.
	RateLimits *ratelimit.Guard

	once      sync.Once
	closeOnce sync.Once
	closing   chan struct{} // closed by CloseStreams
	handler   http.Handler
	pages     map[string]*template.Template
	assets    map[string]asset
	byAddr    *ratelimit.Limit
	byBrowser *ratelimit.Limit
	streams   *streamCounter
	held      heldStreams // event streams taken over from net/http (sse.go)
}

// asset is an embedded static file.
type asset struct {
	body  []byte
	ctype string
	hash  string // a prefix of the SHA-256 of body, for cache busting
}

// Handler returns the handler of every /v/ route. It answers only paths
// under /v/; the caller mounts it there.
//
//	GET  /v/{token}                  the page of the verification's current state
//	POST /v/{token}/steps/{index}    a web step's form
//	GET  /v/{token}/events           Server-Sent Events of the state (bound browser only)
//	GET  /v/{token}/pairing          a new hand-over QR code, JSON (bound browser only)
//	POST /v/{token}/location         this computer's location for a proximity check, JSON (bound browser only)
//	GET  /v/static/{file}            style.css, app.js
func (s *Server) Handler() http.Handler {
	s.once.Do(s.init)
	return s.handler
}

// CloseStreams ends every open event stream, telling each browser to
// reconnect (to this server once it is back, or to another instance).
// http.Server.Shutdown does not end streaming responses by itself: call
// CloseStreams from http.Server.RegisterOnShutdown. Streams opened later
// end at once.
func (s *Server) CloseStreams() {
	s.once.Do(s.init)
	s.closeOnce.Do(func() { close(s.closing) })
	s.held.closeAll()
}

func (s *Server) init() {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	s.closing = make(chan struct{})
	s.initLimits()
	s.assets = loadAssets()
	s.pages = s.parsePages()

	mux := http.NewServeMux()
	mux.Handle("GET /v/{token}", s.handle(s.page))
	mux.Handle("POST /v/{token}/steps/{index}", s.handle(s.submit))
	mux.Handle("GET /v/{token}/events", s.handle(s.events))
	mux.Handle("GET /v/{token}/pairing", s.handleJSON(s.pairing))
	mux.Handle("POST /v/{token}/location", s.handleJSON(s.location))
	// Static files are registered one by one: a "/v/static/{file}" pattern
	// would conflict with "/v/{token}/events".
	for name := range s.assets {
		mux.Handle("GET /v/static/"+name, http.HandlerFunc(s.static))
	}
	mux.Handle("/v/", s.handle(func(http.ResponseWriter, *http.Request) error {
		return tandem.Errorf(tandem.ENOTFOUND, "There is no such page.")
	}))

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(s.handleAny(func(http.ResponseWriter, *http.Request) error {
		return errCrossOrigin
	}))
	s.handler = securityHeaders(cop.Handler(s.limit(mux)))
}

var errCrossOrigin = tandem.Errorf(tandem.EFORBIDDEN, "This form was sent from another site, so it was refused. Go back to the verification page and try again.")

// securityHeaders sets the headers every response of the web surface
// carries. Static files replace Cache-Control; a step page whose
// verification has a redirect URL adds that URL's origin to form-action
// (browsers check the redirects that follow a form post against it).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy(""))
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy returns the pages' policy; extraFormAction, when
// not empty, is an origin added to form-action (a form's redirect chain
// ends there).
func contentSecurityPolicy(extraFormAction string) string {
	formAction := "'self'"
	if extraFormAction != "" {
		formAction += " " + extraFormAction
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action " +
		formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

// handlerFunc is a handler that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts h: an error it returns is rendered as an error page, or,
// when h already started its response, only logged.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &responseWriter{ResponseWriter: w}
		if err := h(rw, r); err != nil {
			s.fail(rw, r, err)
		}
	})
}

// handleAny is handle for a page route and handleJSON for a JSON route
// (see jsonRoute): for handlers that serve every route.
func (s *Server) handleAny(h handlerFunc) http.Handler {
	page, js := s.handle(h), s.handleJSON(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if jsonRoute(r) {
			js.ServeHTTP(w, r)
			return
		}
		page.ServeHTTP(w, r)
	})
}

// fail logs err and, unless the response has started, writes its page.
func (s *Server) fail(w *responseWriter, r *http.Request, err error) {
	status, p := errorPage(err)
	s.logFailure(r, status, err)
	if w.started {
		return
	}
	if ra, ok := errors.AsType[*rateLimitError](err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(ra.seconds()))
	}
	s.render(w, status, "error.html", p)
}

// logFailure logs a failed request: an error for a failure of the server,
// a debug line for a refusal. The link's token is never logged.
func (s *Server) logFailure(r *http.Request, status int, err error) {
	attrs := []any{"route", r.Pattern, "status", status}
	if tok := r.PathValue("token"); tok != "" {
		attrs = append(attrs, "link", linkRef(tok))
	}
	attrs = append(attrs, "err", err)
	switch {
	case status >= 500:
		s.Logger.ErrorContext(r.Context(), "web request failed", attrs...)
	default:
		s.Logger.DebugContext(r.Context(), "web request refused", attrs...)
	}
}

// errorPage maps err to a status and the page that explains it. Messages
// of internal errors are never shown.
func errorPage(err error) (int, *pageData) {
	p := &pageData{Error: &errorData{}}
	e := p.Error
	status := http.StatusInternalServerError
	switch tandem.ErrorCode(err) {
	case tandem.ENOTFOUND:
		status = http.StatusNotFound
		p.Title, e.Heading = "Link not valid", "This link is not valid"
		e.Paragraphs = []string{
			"Check that you opened the whole link from your message or email.",
			"If it still does not work, ask the site that sent you here for a new link.",
		}
	case tandem.EFORBIDDEN, tandem.EUNAUTHORIZED:
		status = http.StatusForbidden
		if errors.Is(err, engine.ErrBoundElsewhere) {
			p.Title, e.Heading = "Opened in another browser", "This link was opened in another browser"
			e.Paragraphs = []string{
				"For your security, a verification link works only in the browser that opened it first.",
				"Go back to that browser to continue, or ask the site that sent you here for a new link.",
			}
		} else {
			p.Title, e.Heading = "Request refused", "This request was refused"
			e.Paragraphs = []string{tandem.ErrorMessage(err)}
		}
	case tandem.EINVALID:
		status = http.StatusBadRequest
		p.Title, e.Heading = "Request not valid", "Something was wrong with the request"
		e.Paragraphs = []string{tandem.ErrorMessage(err), "Go back to the verification page and try again."}
	case tandem.ERATELIMIT:
		status = http.StatusTooManyRequests
		p.Title, e.Heading = "Too many requests", "Too many requests"
		e.Paragraphs = []string{"Wait a few seconds, then try again."}
	case tandem.EGONE:
		status = http.StatusGone
		p.Title, e.Heading = "Link expired", "This link has expired"
		e.Paragraphs = []string{"Ask the site that sent you here for a new link."}
	case tandem.ECONFLICT:
		status = http.StatusConflict
		p.Title, e.Heading = "Page out of date", "This page is out of date"
		e.Paragraphs = []string{"Reload the page to see where you are."}
	case tandem.EUNAVAILABLE:
		status = http.StatusServiceUnavailable
		p.Title, e.Heading = "Unavailable", "The service is unavailable"
		e.Paragraphs = []string{"Try again in a few minutes."}
	default:
		p.Title, e.Heading = "Something went wrong", "Something went wrong"
		e.Paragraphs = []string{"This is a problem on our side. Try again in a few minutes."}
	}
	e.Status = status
	return status, p
}

// rateLimitError is an ERATELIMIT error that says when to retry.
type rateLimitError struct {
	after time.Duration
	// msg says what was limited and when to retry; empty is a generic
	// text.
	msg string
}

func (e *rateLimitError) Error() string { return "rate limited; retry after " + e.after.String() }

func (e *rateLimitError) Unwrap() error {
	if e.msg != "" {
		return tandem.Errorf(tandem.ERATELIMIT, "%s", e.msg)
	}
	return tandem.Errorf(tandem.ERATELIMIT, "Too many requests.")
}

// seconds is the Retry-After value: whole seconds, at least 1.
func (e *rateLimitError) seconds() int {
	return max(1, int(math.Ceil(e.after.Seconds())))
}

// render executes the page template name with p and writes it with status.
// The page is rendered in full before anything is written, so a template
// failure still gives a clean 500.
func (s *Server) render(w http.ResponseWriter, status int, name string, p *pageData) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.Logger.Error("render web page", "page", name, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintln(w, "Something went wrong. Try again in a few minutes.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// responseWriter records whether the response has started. Unwrap lets
// http.ResponseController reach the connection (flush, deadlines).
type responseWriter struct {
	http.ResponseWriter
	started bool
}

func (w *responseWriter) WriteHeader(code int) {
	w.started = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// parsePages parses every page template together with the layout. The
// templates are embedded, so a failure is a programming error: it panics.
func (s *Server) parsePages() map[string]*template.Template {
	funcs := template.FuncMap{"static": s.staticURL}
	layout := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html"))
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		pages[base] = template.Must(template.Must(layout.Clone()).ParseFS(templateFiles, n))
	}
	return pages
}

// staticURL returns the URL of an embedded file, versioned by its content
// so that it can be cached for long.
func (s *Server) staticURL(name string) (string, error) {
	a, ok := s.assets[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/v/static/" + name + "?v=" + a.hash, nil
}

func loadAssets() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(staticFiles, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) { // not left to the system's MIME table
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case ".css":
			ctype = "text/css; charset=utf-8"
		}
		out[path.Base(p)] = asset{body: b, ctype: ctype, hash: hex.EncodeToString(sum[:6])}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return out
}

// static serves an embedded file. A request that names the file's current
// version (?v=hash, as pages do) may be cached for a year.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/v/static/")
	a := s.assets[name]
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", `"`+a.hash+`"`)
	if r.URL.Query().Get("v") == a.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

// linkRef names a verification link in logs without revealing it.
func linkRef(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:4])
}
