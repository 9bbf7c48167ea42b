// Package ciba serves OpenID Connect Client-Initiated Backchannel
// Authentication (CIBA Core 1.0) for every workspace: a client (an
// application with its client id and secret) asks for a person to be
// verified with a backchannel authentication request, and gets the result
// as an ID token signed by the workspace's key, by polling the token
// endpoint (poll mode), after a notification (ping mode), or pushed to its
// notification endpoint (push mode).
//
// The issuer of a workspace is {public-url}/w/{workspace}. Its endpoints:
//
//	GET  /w/{workspace}/.well-known/openid-configuration  discovery
//	POST /w/{workspace}/ciba/bc-authorize                 backchannel authentication
//	POST /w/{workspace}/ciba/token                        token (grant urn:openid:params:grant-type:ciba)
//	GET  /w/{workspace}/ciba/userinfo (or POST)           the claims, with the access token
//
// The JWKS is the workspace's, served by the httpapi package at
// /w/{workspace}/.well-known/jwks.json.
//
// A request starts a verification of the client's application (as
// POST /v1/verifications does) for the user named by login_hint; the
// response also carries the verification link as "url", which the client
// sends to the person. Requests and responses are those of the
// specification: form-encoded requests, JSON answers, errors as
// {"error", "error_description"} (not problem+json).
package ciba

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/httpapi"
	"github.com/tandem-id/tandem/keys"
	"github.com/tandem-id/tandem/ratelimit"
	"github.com/tandem-id/tandem/webhook"
)

// Protocol names.
const (
	// GrantType is the grant type of the token endpoint.
	GrantType = "urn:openid:params:grant-type:ciba"
	// ClaimAuthReqID is the ID token claim that carries the auth_req_id.
	ClaimAuthReqID = "urn:openid:params:jwt:claim:auth_req_id"
)

// Lifetimes and limits.
const (
	// Interval is the least number of seconds a client waits between two
	// polls; a poll that comes sooner gets slow_down and adds 5 seconds.
	Interval = 5
	// TokenTTL is the lifetime of the ID token and of the access token.
	TokenTTL = 10 * time.Minute
	// MaxNotificationToken is the longest client_notification_token.
	MaxNotificationToken = 1024
	// maxBody caps form request bodies.
	maxBody = 64 << 10
)

// purposeAuthReqID is the purpose (webhook.Box.SealToken) of the
// auth_req_id kept for a ping or push notification.
const purposeAuthReqID = "CIBA auth_req_id"

// Store is what the endpoints need.
type Store interface {
	tandem.WorkspaceStore
	tandem.VerificationStore
	tandem.CIBAStore
}

// Server serves the CIBA endpoints. Store, Engine and Keys are required.
type Server struct {
	Store  Store
	Engine *engine.Engine
	Keys   *keys.Manager
	// Box seals the client_notification_token and the auth_req_id of ping
	// and push requests at rest; nil keeps them in clear. The webhook
	// dispatcher opens the token with the same box.
	Box    *webhook.Box
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// RateLimits holds the per-address limit of discovery and userinfo
	// (Limits.API), the exempt networks and the refusal counter; nil is
	// the default limits.
	RateLimits *ratelimit.Guard
	// Clients authenticates and limits the clients (per application, per
	// user, the lockout after wrong credentials); share the integrator
	// API's so that both count against one budget. Nil: Handler makes one
	// from RateLimits.
	Clients *httpapi.Clients

	byAddr *ratelimit.Limit
}

func (s *Server) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// issuer returns the issuer of a workspace: {public-url}/w/{workspace}.
func (s *Server) issuer(workspace string) string {
	return s.Engine.PublicURL + "/w/" + workspace
}

// Handler returns the handler of /w/{workspace}/ciba/ and of
// /w/{workspace}/.well-known/openid-configuration.
func (s *Server) Handler() http.Handler {
	s.initLimits()
	mux := http.NewServeMux()
	mux.Handle("/w/{workspace}/.well-known/openid-configuration", s.limitAddr(s.discovery))
	mux.HandleFunc("/w/{workspace}/ciba/bc-authorize", s.authorize)
	mux.HandleFunc("/w/{workspace}/ciba/token", s.token)
	mux.Handle("/w/{workspace}/ciba/userinfo", s.limitAddr(s.userinfo))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &oauthError{status: http.StatusNotFound, code: "not_found", desc: "No such endpoint: " + r.URL.Path})
	})
	return mux
}

// Discovery is the OpenID Provider metadata of a workspace.
type Discovery struct {
	Issuer                                 string   `json:"issuer"`
	BackchannelAuthenticationEndpoint      string   `json:"backchannel_authentication_endpoint"`
	TokenEndpoint                          string   `json:"token_endpoint"`
	UserinfoEndpoint                       string   `json:"userinfo_endpoint"`
	JWKSURI                                string   `json:"jwks_uri"`
	BackchannelTokenDeliveryModesSupported []string `json:"backchannel_token_delivery_modes_supported"`
	BackchannelUserCodeParameterSupported  bool     `json:"backchannel_user_code_parameter_supported"`
	GrantTypesSupported                    []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported      []string `json:"token_endpoint_auth_methods_supported"`
	IDTokenSigningAlgValuesSupported       []string `json:"id_token_signing_alg_values_supported"`
	SubjectTypesSupported                  []string `json:"subject_types_supported"`
	ScopesSupported                        []string `json:"scopes_supported"`
	// ResponseTypesSupported is required by OpenID Connect Discovery; the
	// only response is the ID token of the token endpoint (there is no
	// authorization endpoint).
	ResponseTypesSupported    []string `json:"response_types_supported"`
	ClaimsParameterSupported  bool     `json:"claims_parameter_supported"`
	RequestParameterSupported bool     `json:"request_parameter_supported"`
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	ws := r.PathValue("workspace")
	if _, err := s.Store.GetWorkspace(r.Context(), ws); err != nil {
		if tandem.ErrorCode(err) == tandem.ENOTFOUND {
			writeError(w, &oauthError{status: http.StatusNotFound, code: "not_found", desc: fmt.Sprintf("Workspace %q not found.", ws)})
			return
		}
		s.serverError(w, r, err)
		return
	}
	iss := s.issuer(ws)
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, Discovery{
		Issuer:                                 iss,
		BackchannelAuthenticationEndpoint:      iss + "/ciba/bc-authorize",
		TokenEndpoint:                          iss + "/ciba/token",
		UserinfoEndpoint:                       iss + "/ciba/userinfo",
		JWKSURI:                                iss + "/.well-known/jwks.json",
		BackchannelTokenDeliveryModesSupported: []string{tandem.CIBAPoll, tandem.CIBAPing, tandem.CIBAPush},
		GrantTypesSupported:                    []string{GrantType},
		TokenEndpointAuthMethodsSupported:      []string{"client_secret_basic", "client_secret_post"},
		IDTokenSigningAlgValuesSupported:       []string{tandem.AlgES256},
		SubjectTypesSupported:                  []string{"public"},
		ScopesSupported:                        []string{"openid"},
		ResponseTypesSupported:                 []string{"id_token"},
	})
}

// oauthError is an error answer: {"error", "error_description"}.
type oauthError struct {
	status int
	code   string
	desc   string
	// challenge is the WWW-Authenticate of a 401.
	challenge string
	// retryAfter is the Retry-After of a 429, in seconds.
	retryAfter int
}

func badRequest(code, format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, desc: fmt.Sprintf(format, args...)}
}

func invalidClient(desc string) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: desc, challenge: `Basic realm="tandem", charset="UTF-8"`}
}

func writeError(w http.ResponseWriter, e *oauthError) {
	if e.challenge != "" {
		w.Header().Set("WWW-Authenticate", e.challenge)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.desc})
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "Use " + allow + "."})
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log().ErrorContext(r.Context(), "CIBA request failed", "path", r.URL.Path, "err", err)
	writeError(w, &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "Internal error."})
}

// writeJSON writes v; answers that carry tokens or results must not be
// cached, which every answer but discovery's says.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error","error_description":"Internal error."}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
	}
	w.WriteHeader(status)
	w.Write(b)
}

// parseForm reads a form-encoded POST body. A parameter given twice is
// refused (RFC 6749 §3.1); parameters in the query string are ignored.
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, *oauthError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return nil, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "Use POST with a form-encoded body."}
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "The request body must be application/x-www-form-urlencoded.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, badRequest("invalid_request", "The request body is too large or could not be read (at most %d bytes).", maxBody)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest("invalid_request", "The request body is not a valid form: %v.", err)
	}
	for name, values := range form {
		if len(values) > 1 {
			return nil, badRequest("invalid_request", "Parameter %s is given more than once.", name)
		}
	}
	return form, nil
}

// client authenticates the client of a request by client_secret_basic
// (HTTP Basic with the form-encoded client id and secret) or
// client_secret_post (client_id and client_secret in the body), and checks
// that its application belongs to the workspace of the path.
func (s *Server) client(r *http.Request, form url.Values, workspace string) (*tandem.AppRef, *oauthError) {
	id, secret, basic := r.BasicAuth()
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	switch {
	case basic && postSecret != "":
		return nil, badRequest("invalid_request", "Use one client authentication method: HTTP Basic or client_secret in the body, not both.")
	case basic:
		id, secret = formUnescape(id), formUnescape(secret)
		if postID != "" && postID != id {
			return nil, badRequest("invalid_request", "client_id differs from the client id of the Authorization header.")
		}
	case postSecret != "":
		id, secret = postID, postSecret
	default:
		return nil, invalidClient("Client authentication is required: send the client id and secret with HTTP Basic (client_secret_basic) or as client_id and client_secret in the body (client_secret_post).")
	}
	ref, err := s.Clients.Authenticate(r.Context(), httpapi.SurfaceCIBA, id, secret, ratelimit.ClientAddr(r))
	if refusal, ok := ratelimit.AsRefusal(err); ok {
		return nil, slowDown(refusal)
	}
	switch tandem.ErrorCode(err) {
	case "":
	case tandem.EUNAUTHORIZED:
		return nil, invalidClient("The client credentials are not valid.")
	default:
		s.log().ErrorContext(r.Context(), "client lookup failed", "err", err)
		return nil, &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "Internal error."}
	}
	if ref.Workspace != workspace {
		s.log().Warn("CIBA client of another workspace refused", "client_id", id, "workspace", workspace, "addr", remoteHost(r))
		return nil, invalidClient("The client credentials are not valid.")
	}
	return ref, nil
}

// formUnescape decodes a client id or secret of an Authorization header,
// which RFC 6749 §2.3.1 form-encodes; a value that does not decode is used
// as it is.
func formUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// AuthResponse is the answer to a backchannel authentication request.
type AuthResponse struct {
	AuthReqID string `json:"auth_req_id"`
	ExpiresIn int    `json:"expires_in"`
	// Interval is absent in push mode, where the client does not poll.
	Interval int `json:"interval,omitempty"`
	// URL is the verification link to send the person to (an extension of
	// the specification: Tandem verifies the person in a browser).
	URL string `json:"url"`
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ws := r.PathValue("workspace")
	form, oe := parseForm(w, r)
	if oe == nil {
		var ref *tandem.AppRef
		if ref, oe = s.client(r, form, ws); oe == nil {
			oe = s.startAuth(w, r, ref, form)
		}
	}
	if oe != nil {
		if oe.status == http.StatusInternalServerError {
			s.log().ErrorContext(ctx, "CIBA authentication request failed", "workspace", ws, "error", oe.desc)
		}
		writeError(w, oe)
	}
}

// startAuth checks a backchannel authentication request of the client ref,
// starts its verification and answers. It returns the error to write
// instead.
func (s *Server) startAuth(w http.ResponseWriter, r *http.Request, ref *tandem.AppRef, form url.Values) *oauthError {
	ctx := r.Context()
	wsDoc, err := s.Store.GetWorkspace(ctx, ref.Workspace)
	if err != nil {
		return s.internal(ctx, err)
	}
	app, ok := wsDoc.Doc.Application(ref.Name)
	if !ok {
		return invalidClient("The client's application no longer exists.")
	}
	if app.VerificationWay != tandem.WayWeb {
		return badRequest("unauthorized_client", "Application %q has verification_way %q; backchannel authentication requests go to a web application.", app.Name, app.VerificationWay)
	}
	mode := app.CIBA.Mode()

	if form.Has("request") {
		return badRequest("invalid_request", "Signed authentication requests (the request parameter) are not supported; send the parameters in the form.")
	}
	scopes := strings.Fields(form.Get("scope"))
	if len(scopes) == 0 {
		return badRequest("invalid_request", "scope is required and must include openid.")
	}
	if !containsString(scopes, "openid") {
		return badRequest("invalid_scope", "scope must include openid.")
	}
	if form.Has("login_hint_token") || form.Has("id_token_hint") {
		return badRequest("invalid_request", "login_hint_token and id_token_hint are not supported; name the person with login_hint (the user id).")
	}
	hint := form.Get("login_hint")
	if hint == "" {
		return badRequest("invalid_request", "login_hint is required: the user id of the person to verify.")
	}
	var maxExpiry time.Duration
	if raw := form.Get("requested_expiry"); raw != "" {
		n, ok := positiveInt(raw)
		if !ok {
			return badRequest("invalid_request", "requested_expiry must be a positive number of seconds, not %q.", raw)
		}
		maxExpiry = time.Duration(n) * time.Second
	}
	notifyToken := form.Get("client_notification_token")
	if mode != tandem.CIBAPoll {
		switch {
		case notifyToken == "":
			return badRequest("invalid_request", "client_notification_token is required: application %q receives %s notifications.", app.Name, mode)
		case len(notifyToken) > MaxNotificationToken:
			return badRequest("invalid_request", "client_notification_token has %d characters; at most %d are allowed.", len(notifyToken), MaxNotificationToken)
		case !isB64Token(notifyToken):
			return badRequest("invalid_request", "client_notification_token must be a bearer token: letters, digits and - . _ ~ + /, then = signs (RFC 6750).")
		}
	}

	if refusal := s.Clients.StartVerification(httpapi.SurfaceCIBA, ref, hint); refusal != nil {
		return slowDown(refusal)
	}
	created, err := s.Engine.Create(ctx, ref, engine.CreateRequest{
		UserID: hint, BindingMessage: form.Get("binding_message"), MaxExpiry: maxExpiry,
	}, remoteHost(r))
	if err != nil {
		return s.createError(ctx, err)
	}
	v := created.Verification
	authReqID := randomToken()
	req := tandem.CIBARequest{
		IDHash: hash(authReqID), Workspace: v.Workspace, AppID: ref.ID, Application: v.Application,
		ClientID: ref.ClientID, VerificationID: v.ID, DeliveryMode: mode,
		IntervalS: Interval, ExpiresAt: v.ExpiresAt, CreatedAt: v.CreatedAt,
	}
	if mode != tandem.CIBAPoll {
		req.NotificationEndpoint = app.CIBA.NotificationEndpoint
		req.NotificationToken = s.Box.SealToken(webhook.BearerPurpose, v.Workspace, v.Application, notifyToken)
		req.AuthReqID = s.Box.SealToken(purposeAuthReqID, v.Workspace, v.Application, authReqID)
	}
	if err := s.Store.CreateCIBARequest(ctx, req); err != nil {
		// The verification has no request to report to: end it.
		if _, cerr := s.Engine.Cancel(ctx, ref.ID, v.ID, remoteHost(r)); cerr != nil {
			s.log().ErrorContext(ctx, "cancel of a verification whose CIBA request was not stored failed", "request_id", v.ID, "err", cerr)
		}
		return s.internal(ctx, err)
	}
	s.audit(ctx, v, "ciba.requested", remoteHost(r), map[string]any{"client_id": ref.ClientID, "delivery_mode": mode})
	out := AuthResponse{AuthReqID: authReqID, ExpiresIn: secondsUntil(v.ExpiresAt, s.now()), URL: created.URL}
	if mode != tandem.CIBAPush {
		out.Interval = Interval
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createError turns an error of engine.Create into the error to answer.
func (s *Server) createError(ctx context.Context, err error) *oauthError {
	switch tandem.ErrorCode(err) {
	case tandem.EINVALID:
		for _, f := range tandem.ErrorFields(err) {
			switch f.Path {
			case "body.binding_message":
				return badRequest("invalid_binding_message", "%s.", f.Message)
			case "body.user_id":
				return badRequest("invalid_request", "login_hint: %s.", strings.Replace(f.Message, "user_id", "the user id", 1))
			}
		}
		return badRequest("invalid_request", "%s", tandem.ErrorMessage(err))
	case tandem.EFORBIDDEN:
		return &oauthError{status: http.StatusForbidden, code: "access_denied", desc: tandem.ErrorMessage(err)}
	case tandem.ENOTFOUND:
		return invalidClient("The client's application no longer exists.")
	}
	return s.internal(ctx, err)
}

func (s *Server) internal(ctx context.Context, err error) *oauthError {
	s.log().ErrorContext(ctx, "CIBA request failed", "err", err)
	return &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "Internal error."}
}

// TokenResponse is the answer of the token endpoint, and the body of a
// push of tokens (with AuthReqID).
type TokenResponse struct {
	AuthReqID   string `json:"auth_req_id,omitempty"`
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	IDToken     string `json:"id_token"`
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ws := r.PathValue("workspace")
	form, oe := parseForm(w, r)
	if oe == nil {
		var ref *tandem.AppRef
		if ref, oe = s.client(r, form, ws); oe == nil {
			oe = s.exchange(w, r, ref, form)
		}
	}
	if oe != nil {
		if oe.status == http.StatusInternalServerError {
			s.log().ErrorContext(ctx, "CIBA token request failed", "workspace", ws, "error", oe.desc)
		}
		writeError(w, oe)
	}
}

// exchange answers a token request of the client ref, or returns the error
// to write instead.
func (s *Server) exchange(w http.ResponseWriter, r *http.Request, ref *tandem.AppRef, form url.Values) *oauthError {
	ctx := r.Context()
	switch gt := form.Get("grant_type"); gt {
	case GrantType:
	case "":
		return badRequest("invalid_request", "grant_type is required: %s.", GrantType)
	default:
		return badRequest("unsupported_grant_type", "grant_type %q is not supported; use %s.", gt, GrantType)
	}
	authReqID := form.Get("auth_req_id")
	if authReqID == "" {
		return badRequest("invalid_request", "auth_req_id is required.")
	}
	if len(authReqID) > 128 {
		return badRequest("invalid_grant", "auth_req_id is not valid.")
	}
	req, err := s.Store.CIBARequest(ctx, hash(authReqID))
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return badRequest("invalid_grant", "auth_req_id is not valid.")
	} else if err != nil {
		return s.internal(ctx, err)
	}
	if req.Workspace != ref.Workspace || req.AppID != ref.ID {
		s.log().Warn("auth_req_id of another client refused", "client_id", ref.ClientID, "request_id", req.VerificationID, "addr", remoteHost(r))
		return badRequest("invalid_grant", "auth_req_id is not valid.")
	}
	if req.DeliveryMode == tandem.CIBAPush {
		return badRequest("unauthorized_client", "This request is in push mode: its result is sent to the client's notification endpoint, not fetched from the token endpoint.")
	}
	if !req.ConsumedAt.IsZero() {
		return badRequest("invalid_grant", "auth_req_id was already used: it yields tokens once.")
	}
	now := s.now()
	if !now.Before(req.ExpiresAt) {
		return badRequest("expired_token", "auth_req_id has expired.")
	}
	v, err := s.Engine.Get(ctx, ref.ID, req.VerificationID)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return badRequest("invalid_grant", "auth_req_id is not valid.")
	} else if err != nil {
		return s.internal(ctx, err)
	}
	switch v.Status {
	case tandem.StatusPending, tandem.StatusInProgress:
		early, interval, err := s.Store.PollCIBA(ctx, req.IDHash, now)
		if err != nil {
			return s.internal(ctx, err)
		}
		if early {
			return badRequest("slow_down", "Polled too soon: wait at least %d seconds between requests.", interval)
		}
		return badRequest("authorization_pending", "The person has not finished the verification yet.")
	case tandem.StatusExpired:
		return badRequest("expired_token", "auth_req_id has expired: the verification was not finished in time.")
	case tandem.StatusFailed, tandem.StatusCancelled:
		return badRequest("access_denied", "The verification %s.", endedWords(v))
	}
	out, grant, err := s.issue(ctx, v, req, authReqID, now)
	if err != nil {
		return s.internal(ctx, err)
	}
	if err := s.Store.GrantCIBA(ctx, grant); tandem.ErrorCode(err) == tandem.ECONFLICT {
		return badRequest("invalid_grant", "auth_req_id was already used: it yields tokens once.")
	} else if err != nil {
		return s.internal(ctx, err)
	}
	s.audit(ctx, v, "ciba.tokens_issued", remoteHost(r), map[string]any{"client_id": ref.ClientID})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// endedWords says how a verification that is not completed ended.
func endedWords(v *tandem.Verification) string {
	if v.Status == tandem.StatusCancelled {
		return "was cancelled"
	}
	if v.Reason != "" {
		return "failed: " + strings.TrimSuffix(v.Reason, ".")
	}
	return "failed"
}

// issue returns the tokens of a completed verification and the grant that
// records them.
func (s *Server) issue(ctx context.Context, v *tandem.Verification, req *tandem.CIBARequest, authReqID string, now time.Time) (*TokenResponse, tandem.CIBAGrant, error) {
	access := randomToken()
	idToken, err := s.idToken(ctx, v, req.ClientID, authReqID, access, now)
	if err != nil {
		return nil, tandem.CIBAGrant{}, err
	}
	out := &TokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(TokenTTL / time.Second), IDToken: idToken}
	return out, tandem.CIBAGrant{IDHash: req.IDHash, AccessHash: hash(access), AccessExpiresAt: now.Add(TokenTTL), At: now}, nil
}

// oidcClaims are the ID token claim names that OpenID Connect and CIBA
// define besides the registered JWT claims; a result claim never replaces
// them either.
var oidcClaims = []string{"auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash", ClaimAuthReqID}

// idToken signs the ID token of a completed verification for the client
// clientID: the claims of a result token (iss, aud, sub, iat, exp, jti and
// the flat result claims; see httpapi.ResultClaims), auth_time (when the
// verification completed), at_hash of the access token, and the
// auth_req_id.
func (s *Server) idToken(ctx context.Context, v *tandem.Verification, clientID, authReqID, access string, now time.Time) (string, error) {
	claims, dropped := httpapi.ResultClaims(v, s.issuer(v.Workspace), clientID, now, TokenTTL)
	for _, name := range oidcClaims {
		if _, ok := claims[name]; ok {
			delete(claims, name)
			dropped = append(dropped, name)
		}
	}
	if len(dropped) > 0 {
		s.log().WarnContext(ctx, "result claims with registered names left out of the ID token", "request_id", v.ID, "claims", dropped)
	}
	claims["auth_time"] = v.FinishedAt.Unix()
	claims["at_hash"] = atHash(access)
	claims[ClaimAuthReqID] = authReqID
	return s.Keys.SignJWT(ctx, v.Workspace, claims)
}

// atHash is the at_hash of an access token for ES256: the base64url of the
// left half of its SHA-256.
func atHash(access string) string {
	h := sha256.Sum256([]byte(access))
	return base64.RawURLEncoding.EncodeToString(h[:len(h)/2])
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		methodNotAllowed(w, "GET, POST")
		return
	}
	ctx := r.Context()
	const realm = `Bearer realm="tandem"`
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		writeError(w, &oauthError{status: http.StatusUnauthorized, code: "invalid_request", desc: "Send the access token as \"Authorization: Bearer <token>\".", challenge: realm})
		return
	}
	invalid := &oauthError{status: http.StatusUnauthorized, code: "invalid_token", desc: "The access token is not valid or has expired.",
		challenge: realm + `, error="invalid_token", error_description="The access token is not valid or has expired."`}
	if len(tok) > 128 {
		writeError(w, invalid)
		return
	}
	req, err := s.Store.CIBARequestByAccessToken(ctx, hash(tok))
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		writeError(w, invalid)
		return
	} else if err != nil {
		s.serverError(w, r, err)
		return
	}
	if req.Workspace != r.PathValue("workspace") || !s.now().Before(req.AccessExpiresAt) {
		writeError(w, invalid)
		return
	}
	v, err := s.Store.GetVerification(ctx, req.VerificationID)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		writeError(w, invalid)
		return
	} else if err != nil {
		s.serverError(w, r, err)
		return
	}
	claims, _ := httpapi.FlatClaims(v)
	claims["sub"] = v.UserID
	writeJSON(w, http.StatusOK, claims)
}

func (s *Server) audit(ctx context.Context, v *tandem.Verification, action, addr string, detail map[string]any) {
	b, _ := json.Marshal(detail)
	ev := tandem.AuditEvent{Workspace: v.Workspace, VerificationID: v.ID, Actor: tandem.ActorAPI, Action: action, Detail: b, Addr: addr, At: s.now()}
	if err := s.Store.AddAudit(ctx, ev); err != nil {
		s.log().ErrorContext(ctx, "audit failed", "action", action, "err", err)
	}
}

// randomToken returns 256 bits from crypto/rand, base64url: an auth_req_id
// or an access token.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// positiveInt parses a positive decimal number of at most 9 digits.
func positiveInt(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n > 0
}

// isB64Token reports whether s is a b64token of RFC 6750 §2.1: what a
// bearer token in an Authorization header may be.
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range body {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("-._~+/", c):
		default:
			return false
		}
	}
	return true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// secondsUntil returns the whole seconds from now to t, rounded up, and
// at least 0.
func secondsUntil(t, now time.Time) int {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
