// Package httpapi serves Tandem's typed JSON APIs, the admin API
// (/admin/v1) and the integrator API (/v1), and their OpenAPI 3.1 document
// at /openapi.json. Handlers return errors; one function turns a
// *tandem.Error into an RFC 9457 problem response.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/keys"
	"github.com/tandem-id/tandem/ratelimit"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/strictjson"
	"github.com/tandem-id/tandem/webhook"
)

// Server holds the dependencies of the JSON APIs.
type Server struct {
	Workspaces tandem.WorkspaceStore
	Validator  *spec.Validator
	// Engine runs verifications; Verifications is its store, for the
	// audit log.
	Engine        *engine.Engine
	Verifications tandem.VerificationStore
	// Devices, when set, serves the device administration endpoints.
	Devices tandem.DeviceStore
	// Keys, when set, serves the workspaces' JWKS (/w/{workspace}/...),
	// the result tokens and the key administration endpoints.
	Keys *keys.Manager
	// Webhooks, when set, serves the webhook endpoints: secrets, and the
	// deliveries that were given up. WebhookBox encrypts the secrets at
	// rest; nil stores them in clear.
	Webhooks   WebhookStore
	WebhookBox *webhook.Box
	// AdminAuth reports whether a bearer token is the admin token.
	AdminAuth func(token string) bool
	Logger    *slog.Logger
	Now       func() time.Time
	// SecretGrace is how long a rotated client or webhook secret keeps
	// working.
	SecretGrace time.Duration
	Version     string
	// RateLimits holds the limits per address (Limits.API on the admin API
	// and the public documents), the lockout after wrong admin tokens,
	// the exempt networks and the refusal counter; nil is the default
	// limits.
	RateLimits *ratelimit.Guard
	// Clients authenticates and limits applications on /v1; share it with
	// the CIBA server. Nil: Handler makes one from RateLimits.
	Clients *Clients

	api    huma.API
	limits adminLimits
}

// maxBody caps request bodies of the JSON APIs.
const maxBody = 1 << 20

// Handler returns the handler of /admin/v1, /v1 and /openapi.json. It is
// built once; later calls return the same handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("Tandem", s.Version)
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.DocsPath = ""     // the docs renderer loads scripts from a CDN
	cfg.SchemasPath = ""
	cfg.OpenAPIPath = "/openapi"
	cfg.Info.Description = "Cross-device identity verification. The admin API manages workspaces; the integrator API starts verifications and reads their results."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"admin":  {Type: "http", Scheme: "bearer", Description: "The admin token printed at first start or set with -admin-token."},
		"client": {Type: "http", Scheme: "basic", Description: "An application's client id and client secret."},
	}
	s.api = humago.New(mux, cfg)
	s.initLimits()
	s.registerAdmin()
	if s.Engine != nil {
		s.registerIntegrator()
	}
	if s.Devices != nil {
		s.registerDevices()
	}
	if s.Keys != nil {
		s.registerKeys()
	}
	if s.Webhooks != nil {
		s.registerWebhooks()
	}
	return s.withAuth(problemFallback(mux))
}

// OpenAPI returns the OpenAPI document; Handler must have been called.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := ratelimit.ClientAddr(r)
		if !strings.HasPrefix(r.URL.Path, "/v1/") {
			// The admin API and the public documents (OpenAPI, JWKS): per
			// address. The integrator API is limited per application.
			surface := SurfaceIntegrator
			if strings.HasPrefix(r.URL.Path, "/admin/") {
				surface = SurfaceAdmin
			}
			if ref := s.limits.byAddr.AllowAddr(surface, addr); ref != nil {
				writeRefusal(w, ref)
				return
			}
		}
		if strings.HasPrefix(r.URL.Path, "/admin/") {
			if ref := s.limits.lockout.Check(SurfaceAdmin, addr); ref != nil {
				writeRefusal(w, ref)
				return
			}
			tok, ok := bearer(r)
			switch {
			case !ok:
				writeProblem(w, http.StatusUnauthorized, "Missing admin token: send it as \"Authorization: Bearer <token>\".")
				return
			case !s.AdminAuth(tok):
				s.Logger.Warn("admin token refused", "addr", r.RemoteAddr, "path", r.URL.Path)
				s.adminRefused(r, addr)
				writeProblem(w, http.StatusUnauthorized, "The admin token is not valid.")
				return
			}
		}
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			ref, ok := s.authClient(w, r, addr)
			if !ok {
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), appKey{}, ref))
		}
		r = r.WithContext(context.WithValue(r.Context(), addrKey{}, remoteHost(r)))
		r.Body = http.MaxBytesReader(w, r.Body, maxBody+1)
		next.ServeHTTP(w, r)
	})
}

// authClient authenticates an application by HTTP Basic client id and
// secret, under the limits of s.Clients. It writes the 401 or 429 itself;
// a wrong secret for a known client id is audited.
func (s *Server) authClient(w http.ResponseWriter, r *http.Request, addr string) (*tandem.AppRef, bool) {
	id, secret, ok := r.BasicAuth()
	if !ok || id == "" || secret == "" {
		writeBasicProblem(w, "Missing application credentials: send the client id and secret with HTTP Basic authentication.")
		return nil, false
	}
	ref, err := s.Clients.Authenticate(r.Context(), SurfaceIntegrator, id, secret, addr)
	if refusal, ok := ratelimit.AsRefusal(err); ok {
		writeRefusal(w, refusal)
		return nil, false
	}
	switch code := tandem.ErrorCode(err); code {
	case "":
		return ref, true
	case tandem.EUNAUTHORIZED:
		writeBasicProblem(w, "The application credentials are not valid.")
	default:
		s.Logger.ErrorContext(r.Context(), "client lookup failed", "err", err)
		writeProblem(w, http.StatusInternalServerError, "Internal error.")
	}
	return nil, false
}

// CheckClient authenticates an application by its client id and secret,
// as the integrator API and the OpenID CIBA endpoints do. It returns the
// application, or an EUNAUTHORIZED error for an unknown client id or a
// wrong secret (logged, and audited in audit when it is not nil and the
// client id is known), or another error when the lookup failed.
func CheckClient(ctx context.Context, ws tandem.WorkspaceStore, audit tandem.VerificationStore, logger *slog.Logger, id, secret, addr string, now time.Time) (*tandem.AppRef, error) {
	refused := tandem.Errorf(tandem.EUNAUTHORIZED, "The application credentials are not valid.")
	if id == "" || secret == "" || len(id) > 64 || len(secret) > 128 {
		return nil, refused
	}
	ref, hashes, err := ws.ApplicationByClientID(ctx, id, now)
	if err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return nil, err
	}
	if err != nil || !tandem.SecretMatches(secret, hashes...) {
		logger.Warn("client credentials refused", "client_id", id, "addr", addr)
		if ref != nil && audit != nil {
			detail, _ := jsonMarshal(map[string]string{"client_id": id, "application": ref.Name})
			_ = audit.AddAudit(ctx, tandem.AuditEvent{Workspace: ref.Workspace, Actor: tandem.ActorAPI, Action: "refused.credentials", Detail: detail, Addr: addr, At: now})
		}
		return nil, refused
	}
	return ref, nil
}

func writeBasicProblem(w http.ResponseWriter, detail string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="tandem", charset="UTF-8"`)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(http.StatusUnauthorized)
	b, _ := jsonMarshal(map[string]any{"title": http.StatusText(http.StatusUnauthorized), "status": http.StatusUnauthorized, "detail": detail})
	w.Write(b)
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// writeProblem writes a minimal problem+json for failures outside huma.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tandem"`)
	}
	w.WriteHeader(status)
	b, _ := jsonMarshal(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
	w.Write(b)
}

// problem turns err into the huma error that is written to the client.
// Errors that are not *tandem.Error are logged and shown as a generic 500.
func (s *Server) problem(ctx context.Context, err error) error {
	code := tandem.ErrorCode(err)
	status := statusOf(code)
	if code == tandem.EINTERNAL {
		s.Logger.ErrorContext(ctx, "request failed", "err", err)
	}
	var details []error
	for _, f := range tandem.ErrorFields(err) {
		details = append(details, &huma.ErrorDetail{Location: f.Path, Message: f.Message})
	}
	return huma.NewError(status, tandem.ErrorMessage(err), details...)
}

func statusOf(code string) int {
	if code == tandem.EINVALID {
		return http.StatusUnprocessableEntity
	}
	return tandem.HTTPStatus(code)
}

// decodeBody strictly decodes a JSON request body into v. Malformed JSON,
// unknown fields and wrong types are a 400 naming each field.
func decodeBody(body []byte, v any) error {
	if errs := strictjson.Decode(body, v, "body"); len(errs) > 0 {
		details := make([]error, len(errs))
		for i, f := range errs {
			details[i] = &huma.ErrorDetail{Location: f.Path, Message: f.Message}
		}
		msg := "The request body is not valid: " + errs[0].Error()
		if len(errs) > 1 {
			msg += " (and more; see errors)"
		}
		return huma.NewError(http.StatusBadRequest, msg, details...)
	}
	return nil
}

// prefixFields returns err with its field paths put under prefix.
func prefixFields(err error, prefix string) error {
	var e *tandem.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	out := &tandem.Error{Code: e.Code, Message: e.Message, Fields: make([]tandem.FieldError, len(e.Fields))}
	for i, f := range e.Fields {
		out.Fields[i] = tandem.FieldError{Path: prefix + "." + f.Path, Message: f.Message}
		if f.Path == "" {
			out.Fields[i].Path = prefix
		}
	}
	return out
}
