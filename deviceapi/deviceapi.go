// Package deviceapi serves the device protocol under /device/v1 (see
// docs/device-protocol.md) and the pairing landing page /d/{token}: JSON
// in and out, every request after pairing signed by the device's key.
package deviceapi

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/ratelimit"
	"github.com/tandem-id/tandem/strictjson"
)

// Limits of the device API. The rate limits are in RateLimits.
const (
	maxBody = 64 << 10
	MaxWait = 60 * time.Second
)

// Server serves the device protocol.
type Server struct {
	Engine *engine.Engine
	Logger *slog.Logger
	Now    func() time.Time
	// VAPIDPublicKey is the server's Web Push application server key
	// (RFC 8292: the uncompressed P-256 point, base64url) that apps
	// subscribe with; empty when the server does not send Web Push.
	VAPIDPublicKey string
	// RateLimits holds the per-address and per-device limits (Limits.DeviceAddr,
	// Limits.Device), the exempt networks and the refusal counter; nil
	// is the default limits.
	RateLimits *ratelimit.Guard

	byAddr   *ratelimit.Limit
	byDevice *ratelimit.Limit
	waits    waits
}

// Handler returns the handler of /device/v1/... and /d/{token}.
func (s *Server) Handler() http.Handler {
	s.initLimits()
	mux := http.NewServeMux()
	mux.Handle("POST /device/v1/pair", s.handle(s.pair))
	mux.Handle("POST /device/v1/challenge", s.handle(s.challenge))
	mux.Handle("POST /device/v1/session", s.handle(s.session))
	mux.Handle("POST /device/v1/answer", s.handle(s.answer))
	mux.Handle("POST /device/v1/inbox", s.handle(s.inbox))
	mux.Handle("POST /device/v1/accept", s.handle(s.accept))
	mux.Handle("POST /device/v1/push", s.handle(s.push))
	mux.Handle("POST /device/v1/revoke", s.handle(s.revoke))
	mux.Handle("GET /device/v1/push/vapid-public-key", s.handle(s.vapidPublicKey))
	mux.HandleFunc("GET /d/{token}", s.landing)
	mux.Handle("/device/", s.handle(func(w http.ResponseWriter, r *http.Request) (any, error) {
		return nil, tandem.Refusef(tandem.ENOTFOUND, "not_found", "No such device endpoint: %s %s.", r.Method, r.URL.Path)
	}))
	return s.limit(mux)
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// handle runs h and writes its answer as JSON, or its error as a problem.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		out, err := h(w, r)
		if err != nil {
			s.writeProblem(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	code := tandem.ErrorCode(err)
	st := tandem.HTTPStatus(code)
	p := deviceproto.Problem{Title: http.StatusText(st), Status: st, Detail: tandem.ErrorMessage(err), Code: tandem.ErrorReason(err)}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		st = http.StatusRequestEntityTooLarge
		p = deviceproto.Problem{Title: http.StatusText(st), Status: st, Detail: "The request body is larger than 64 KiB.", Code: "too_large"}
	case errors.Is(err, context.Canceled):
		return
	case code == tandem.EINTERNAL:
		s.Logger.ErrorContext(r.Context(), "device request failed", "path", r.URL.Path, "err", err)
		p.Code = "internal"
	}
	if p.Code == "" {
		p.Code = code
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(p)
}

// envelope decodes the {"jws": "..."} body.
func envelope(r *http.Request) (string, error) {
	var env deviceproto.Envelope
	if err := decode(r, &env); err != nil {
		return "", err
	}
	if env.JWS == "" {
		return "", &tandem.Error{Code: tandem.EINVALID, Reason: "bad_request", Message: "The body must be {\"jws\": \"<compact JWS>\"}.", Fields: []tandem.FieldError{{Path: "body.jws", Message: "required"}}}
	}
	return env.JWS, nil
}

func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if errs := strictjson.Decode(body, v, "body"); len(errs) > 0 {
		return &tandem.Error{Code: tandem.EINVALID, Reason: "bad_request", Message: "The request body is not valid: " + errs[0].Error(), Fields: errs}
	}
	return nil
}

func (s *Server) pair(w http.ResponseWriter, r *http.Request) (any, error) {
	jws, err := envelope(r)
	if err != nil {
		return nil, err
	}
	return s.Engine.Pair(r.Context(), jws, ratelimit.ClientAddr(r))
}

func (s *Server) challenge(w http.ResponseWriter, r *http.Request) (any, error) {
	var req deviceproto.ChallengeRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if len(req.CredID) != 32 {
		return nil, tandem.Refusef(tandem.EINVALID, "bad_request", "cred_id must be the 32 hex characters the server assigned at pairing.")
	}
	return s.Engine.Challenge(r.Context(), req.CredID, ratelimit.ClientAddr(r))
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) (any, error) {
	jws, err := envelope(r)
	if err != nil {
		return nil, err
	}
	return s.Engine.DeviceSession(r.Context(), jws, ratelimit.ClientAddr(r))
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request) (any, error) {
	jws, err := envelope(r)
	if err != nil {
		return nil, err
	}
	return s.Engine.Answer(r.Context(), jws, ratelimit.ClientAddr(r))
}

func (s *Server) accept(w http.ResponseWriter, r *http.Request) (any, error) {
	jws, err := envelope(r)
	if err != nil {
		return nil, err
	}
	return s.Engine.Accept(r.Context(), jws, ratelimit.ClientAddr(r))
}

func (s *Server) push(w http.ResponseWriter, r *http.Request) (any, error) {
	jws, err := envelope(r)
	if err != nil {
		return nil, err
	}
	return s.Engine.RegisterPush(r.Context(), jws, ratelimit.ClientAddr(r))
}

func (s *Server) vapidPublicKey(w http.ResponseWriter, r *http.Request) (any, error) {
	if s.VAPIDPublicKey == "" {
		return nil, tandem.Refusef(tandem.ENOTFOUND, "webpush_unavailable", "This server does not send Web Push notifications; read the inbox instead.")
	}
	return map[string]string{"public_key": s.VAPIDPublicKey}, nil
}

func (s *Server) inbox(w http.ResponseWriter, r *http.Request) (any, error) {
	wait := time.Duration(0)
	if q := r.URL.Query().Get("wait"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d < 0 || d > MaxWait {
			return nil, tandem.Refusef(tandem.EINVALID, "bad_request", "wait must be a duration from 0s to %s, e.g. 30s.", MaxWait)
		}
		wait = d
	}
	jws, err := envelope(r)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 10*time.Second))
	}
	ctx, stop := s.untilClosed(r.Context())
	defer stop()
	out, err := s.Engine.Inbox(ctx, jws, ratelimit.ClientAddr(r), wait)
	if err != nil && r.Context().Err() == nil && s.closing() {
		w.Header().Set("Retry-After", "1")
		return nil, tandem.Refusef(tandem.EUNAVAILABLE, "shutting_down", "The server is shutting down; ask again in a moment.")
	}
	return out, err
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) (any, error) {
	jws, err := envelope(r)
	if err != nil {
		return nil, err
	}
	return s.Engine.Revoke(r.Context(), jws, ratelimit.ClientAddr(r))
}

var landingPage = template.Must(template.New("d").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Continue with the Tandem authenticator</title></head>
<body><main>
<h1>Continue with the Tandem authenticator</h1>
{{if .App}}<p>This code continues an identity verification on your phone. <a href="{{.App}}">Open the Tandem authenticator</a> to continue.</p>
<p>With the command-line authenticator, run</p>
<pre>tandem device pair {{.Link}}</pre>
<p>Do not share this link: it is for the person in front of the web page, and it works once.</p>
{{else}}<p>This link is not a valid pairing link. Scan the code that the web page shows now.</p>{{end}}
</main></body></html>`))

// landing is what a phone's camera app opens when it follows the QR link
// instead of the authenticator scanning it. It sends the browser on to the
// mobile web app with a 303 to ../app/#pair={token} (relative, so it also
// works under a public URL with a path): the token travels in the
// fragment, which browsers never send to a server, so it is not in the
// app's request, its logs or a Referer. Viewing the landing does not use
// the token up; only POST /device/v1/pair does. The body, for clients that
// do not follow redirects, links to the app and shows the command of the
// command-line authenticator. A token with characters no pairing token has
// gets a page that says so, without a redirect.
func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	token := r.PathValue("token")
	var data struct{ App, Link string }
	if pairingTokenShape(token) {
		data.App = "../app/#pair=" + token
		data.Link = s.Engine.PublicURL + "/d/" + token
		w.Header().Set("Location", data.App)
		w.WriteHeader(http.StatusSeeOther)
	}
	landingPage.Execute(w, data)
}

// pairingTokenShape tells whether t could be a pairing token: 1 to 512
// base64url characters, which need no escaping in a URL's fragment.
func pairingTokenShape(t string) bool {
	if t == "" || len(t) > 512 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
