// Package authenticatortest provides a fake of Tandem's device protocol
// server for tests of device clients: one verification, a scripted list of
// phone steps, real signature checks (deviceproto.VerifyPair and
// VerifyRequest), single-use pairing tokens and challenges, and a log of
// every request it got. It is not the real server: use it to test how a
// client behaves, and the engine's own tests for the server.
package authenticatortest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/module"
)

// ChallengeTTL is the lifetime of the fake's challenges.
const ChallengeTTL = 5 * time.Minute

// Step is one scripted phone step.
type Step struct {
	Type        string
	DisplayName string
	Nodes       []module.Node
	// Check judges an answer: a non-empty retry asks for the step again
	// with that error; otherwise pass says whether the step passed. Nil
	// passes every answer.
	Check func(answer map[string]json.RawMessage) (pass bool, retry string)
}

// Request is one request the fake received.
type Request struct {
	Path  string
	Query string // the raw query
	// Pair holds the claims of a pairing, Claims those of a signed
	// request (both verified), CredID the body of a challenge request.
	Pair   *deviceproto.PairClaims
	Claims *deviceproto.RequestClaims
	CredID string
	// Code is the problem code answered, "" for a success.
	Code string
}

// Server is the fake. Its fields may be set before the first request.
type Server struct {
	URL            string
	Token          string // the pairing token of the QR code
	VerificationID string
	Context        deviceproto.Context
	Steps          []Step
	// FirstIndex is the Prompt.Index of Steps[0] (default 2, as if a web
	// step and the hand-over came first).
	FirstIndex int
	Now        func() time.Time

	mu         sync.Mutex
	srv        *httptest.Server
	tokenUsed  bool
	devices    map[string][]byte // cred id → public JWK
	paired     string            // the cred id of the paired device
	challenges map[string]*challenge
	cur        int
	status     string
	message    string
	retry      string
	inbox      map[string]bool // cred id → a prompt waits
	revoked    map[string]bool // cred ids revoked by POST /device/v1/revoke
	requests   []Request
	answers    []map[string]json.RawMessage
}

type challenge struct {
	credID, verificationID string
	expires                time.Time
	used                   bool
}

// New starts a fake running steps; it is closed when the test ends.
func New(t testing.TB, steps ...Step) *Server {
	t.Helper()
	s := &Server{
		Token:          randomToken(),
		VerificationID: "0b7e3f52-9c1d-4e8a-a5b6-3f2e1d0c9b8a",
		Context:        deviceproto.Context{Application: "mobile-app", WebIP: "203.0.113.7", WebUserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", RequestedAt: time.Now().Unix()},
		Steps:          steps,
		FirstIndex:     2,
		devices:        map[string][]byte{},
		challenges:     map[string]*challenge{},
		inbox:          map[string]bool{},
		revoked:        map[string]bool{},
		status:         "in_progress",
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device/v1/pair", s.handle(s.pair))
	mux.HandleFunc("POST /device/v1/challenge", s.handle(s.challenge))
	mux.HandleFunc("POST /device/v1/session", s.handle(s.signed(deviceproto.ActionSession, s.session)))
	mux.HandleFunc("POST /device/v1/answer", s.handle(s.answer))
	mux.HandleFunc("POST /device/v1/inbox", s.handle(s.signed(deviceproto.ActionInbox, s.inboxRead)))
	mux.HandleFunc("POST /device/v1/accept", s.handle(s.signed(deviceproto.ActionAccept, s.accept)))
	mux.HandleFunc("POST /device/v1/revoke", s.handle(s.signed(deviceproto.ActionRevoke, s.revoke)))
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// QRURL returns the content of the QR code: {URL}/d/{Token}.
func (s *Server) QRURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.URL + "/d/" + s.Token
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Answers returns the answers accepted so far (denials are not answers).
func (s *Server) Answers() []map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]json.RawMessage(nil), s.answers...)
}

// Status returns the phone's status and message: "in_progress", "passed"
// or "failed".
func (s *Server) Status() (string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, s.message
}

// Revoke marks a device revoked, as an administrator would: its later
// signed requests are refused with device_revoked.
func (s *Server) Revoke(credID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[credID] = true
}

// Register makes a device with this public key known to the fake (as if
// it had paired and registered before) and returns its credential id.
func (s *Server) Register(pub *ecdsa.PublicKey) string {
	jwk := deviceproto.PublicJWK(pub)
	b, err := jwk.MarshalJSON()
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := newCredID()
	s.devices[id] = b
	return id
}

// Restart starts the steps over for a new verification with a new pairing
// token; the devices that paired stay known.
func (s *Server) Restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Token, s.tokenUsed = randomToken(), false
	s.VerificationID = "v-" + newCredID()
	s.paired, s.cur, s.status, s.message, s.retry = "", 0, "in_progress", "", ""
	s.answers = nil
}

// InvalidateChallenges uses up every challenge issued so far, as if
// another request had taken them.
func (s *Server) InvalidateChallenges() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.challenges {
		c.used = true
	}
}

// Push puts the verification in the inbox of a registered device (push
// mode).
func (s *Server) Push(credID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inbox[credID] = true
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

type handler func(r *http.Request, body []byte, req *Request) (any, error)

func (s *Server) handle(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		req := Request{Path: r.URL.Path, Query: r.URL.RawQuery}
		var out any
		if err == nil {
			out, err = h(r, body, &req)
		}
		if err != nil {
			req.Code = reason(err)
		}
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		if err != nil {
			st := tandem.HTTPStatus(tandem.ErrorCode(err))
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(st)
			json.NewEncoder(w).Encode(deviceproto.Problem{Title: http.StatusText(st), Status: st, Detail: tandem.ErrorMessage(err), Code: req.Code})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}
}

func reason(err error) string {
	if r := tandem.ErrorReason(err); r != "" {
		return r
	}
	return tandem.ErrorCode(err)
}

func refuse(code, reason, msg string) error { return tandem.Refusef(code, reason, "%s", msg) }

func envelope(body []byte) (string, error) {
	var env deviceproto.Envelope
	if err := json.Unmarshal(body, &env); err != nil || env.JWS == "" {
		return "", refuse(tandem.EINVALID, "bad_request", `The body must be {"jws": "<compact JWS>"}.`)
	}
	return env.JWS, nil
}

func (s *Server) checkIAT(iat int64) error {
	t, now := time.Unix(iat, 0), s.now()
	if iat == 0 || t.Before(now.Add(-deviceproto.MaxClockSkew)) || t.After(now.Add(deviceproto.MaxClockSkew)) {
		return refuse(tandem.EUNAUTHORIZED, "stale_request", "The issue time is too far from the server's clock.")
	}
	return nil
}

func (s *Server) pair(r *http.Request, body []byte, req *Request) (any, error) {
	jws, err := envelope(body)
	if err != nil {
		return nil, err
	}
	claims, jwk, _, err := deviceproto.VerifyPair(jws)
	if err != nil {
		return nil, err
	}
	req.Pair = claims
	if err := s.checkIAT(claims.IssuedAt); err != nil {
		return nil, err
	}
	pub, err := jwk.MarshalJSON()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if claims.PairingToken != s.Token || s.tokenUsed {
		return nil, refuse(tandem.ENOTFOUND, "pairing_invalid", "This code is not valid or was already used.")
	}
	s.tokenUsed = true
	if s.paired != "" {
		return nil, refuse(tandem.ECONFLICT, "handover_taken", "Another phone is already continuing this verification.")
	}
	id := ""
	for cid, k := range s.devices {
		if string(k) == string(pub) {
			id = cid
		}
	}
	if id == "" {
		id = newCredID()
		s.devices[id] = pub
	}
	s.paired = id
	return s.sessionLocked(id), nil
}

func (s *Server) challenge(r *http.Request, body []byte, req *Request) (any, error) {
	var c deviceproto.ChallengeRequest
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, refuse(tandem.EINVALID, "bad_request", "The body must be {\"cred_id\": \"...\"}.")
	}
	req.CredID = c.CredID
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.devices[c.CredID]; !ok || s.revoked[c.CredID] {
		return nil, refuse(tandem.EUNAUTHORIZED, "unknown_credential", "This device is not known here.")
	}
	v, exp := s.newChallengeLocked(c.CredID, "")
	return &deviceproto.ChallengeResponse{Challenge: v, ChallengeExpiresAt: exp}, nil
}

func (s *Server) newChallengeLocked(credID, verificationID string) (string, int64) {
	v := randomToken()
	exp := s.now().Add(ChallengeTTL)
	s.challenges[v] = &challenge{credID: credID, verificationID: verificationID, expires: exp}
	return v, exp.Unix()
}

// signed verifies a signed request of action and hands its claims to h,
// with the lock held.
func (s *Server) signed(action string, h func(c *deviceproto.RequestClaims, r *http.Request) (any, error)) handler {
	return func(r *http.Request, body []byte, req *Request) (any, error) {
		c, err := s.authenticate(body, req, action)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return h(c, r)
	}
}

func (s *Server) authenticate(body []byte, req *Request, actions ...string) (*deviceproto.RequestClaims, error) {
	jws, err := envelope(body)
	if err != nil {
		return nil, err
	}
	kid, err := deviceproto.KeyID(jws)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	pub, ok := s.devices[kid]
	revoked := s.revoked[kid]
	s.mu.Unlock()
	if !ok {
		return nil, refuse(tandem.EUNAUTHORIZED, "unknown_credential", "This device is not known here.")
	}
	if revoked {
		return nil, refuse(tandem.EFORBIDDEN, "device_revoked", "This device was removed.")
	}
	c, err := deviceproto.VerifyRequest(jws, pub)
	if err != nil {
		return nil, err
	}
	req.Claims = c
	if err := s.checkIAT(c.IssuedAt); err != nil {
		return nil, err
	}
	okAction := false
	for _, a := range actions {
		okAction = okAction || c.Action == a
	}
	if !okAction {
		return nil, refuse(tandem.EINVALID, "wrong_action", "This endpoint takes another action.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.challenges[c.Challenge]
	switch {
	case ch == nil || ch.used || ch.credID != kid:
		return nil, refuse(tandem.EUNAUTHORIZED, "challenge_invalid", "The challenge is unknown or was already used.")
	case !s.now().Before(ch.expires):
		ch.used = true
		return nil, refuse(tandem.EUNAUTHORIZED, "challenge_expired", "The challenge has expired.")
	}
	ch.used = true
	if ch.verificationID != "" && ch.verificationID != c.VerificationID {
		return nil, refuse(tandem.EUNAUTHORIZED, "wrong_verification", "The challenge was issued for another verification.")
	}
	return c, nil
}

// revoke revokes the signing device: its later requests are refused.
func (s *Server) revoke(c *deviceproto.RequestClaims, r *http.Request) (any, error) {
	s.revoked[c.CredID] = true
	return &deviceproto.RevokeResponse{CredID: c.CredID, State: "revoked", RevokedAt: s.now().Unix()}, nil
}

// sessionLocked builds the session of the paired device.
func (s *Server) sessionLocked(credID string) *deviceproto.Session {
	v, exp := s.newChallengeLocked(credID, s.VerificationID)
	out := &deviceproto.Session{
		CredID: credID, VerificationID: s.VerificationID, Status: s.status, Message: s.message,
		Context: s.Context, Challenge: v, ChallengeExpiresAt: exp,
	}
	if s.status == "in_progress" && s.cur < len(s.Steps) {
		st := s.Steps[s.cur]
		nodes := st.Nodes
		if nodes == nil {
			nodes = []module.Node{}
		}
		out.Step = &deviceproto.Prompt{Index: s.FirstIndex + s.cur, Type: st.Type, DisplayName: st.DisplayName, Nodes: nodes, Error: s.retry}
	}
	return out
}

func (s *Server) forThisVerification(c *deviceproto.RequestClaims) error {
	if c.VerificationID != s.VerificationID || c.CredID != s.paired {
		return refuse(tandem.EFORBIDDEN, "wrong_verification", "This device is not paired to that verification.")
	}
	return nil
}

func (s *Server) session(c *deviceproto.RequestClaims, r *http.Request) (any, error) {
	if err := s.forThisVerification(c); err != nil {
		return nil, err
	}
	return s.sessionLocked(c.CredID), nil
}

func (s *Server) answer(r *http.Request, body []byte, req *Request) (any, error) {
	c, err := s.authenticate(body, req, deviceproto.ActionAnswer, deviceproto.ActionDeny)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.forThisVerification(c); err != nil {
		return nil, err
	}
	if s.status != "in_progress" {
		return nil, refuse(tandem.ECONFLICT, "verification_ended", "This verification has already ended.")
	}
	if c.Step == nil || *c.Step != s.FirstIndex+s.cur {
		return nil, refuse(tandem.ECONFLICT, "wrong_step", "This answer is for another step; read the session again.")
	}
	s.retry = ""
	if c.Action == deviceproto.ActionDeny {
		s.status, s.message = "failed", "The person on the phone said this wasn't them."
		return s.sessionLocked(c.CredID), nil
	}
	s.answers = append(s.answers, c.Answer)
	pass, retry := true, ""
	if chk := s.Steps[s.cur].Check; chk != nil {
		pass, retry = chk(c.Answer)
	}
	switch {
	case retry != "":
		s.retry = retry
	case !pass:
		s.status, s.message = "failed", s.Steps[s.cur].DisplayName+" failed."
	default:
		s.cur++
		if s.cur == len(s.Steps) {
			s.status, s.message = "passed", "Done. Continue on the web page."
		}
	}
	return s.sessionLocked(c.CredID), nil
}

func (s *Server) inboxRead(c *deviceproto.RequestClaims, r *http.Request) (any, error) {
	wait := time.Duration(0)
	if q := r.URL.Query().Get("wait"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d < 0 || d > 60*time.Second {
			return nil, refuse(tandem.EINVALID, "bad_request", "wait must be a duration from 0s to 60s.")
		}
		wait = d
	}
	deadline := time.Now().Add(wait)
	for !s.inbox[c.CredID] && time.Now().Before(deadline) {
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Millisecond):
		}
		s.mu.Lock()
		if r.Context().Err() != nil {
			return nil, r.Context().Err()
		}
	}
	out := &deviceproto.InboxResponse{Prompts: []deviceproto.InboxPrompt{}}
	if s.inbox[c.CredID] {
		out.Prompts = append(out.Prompts, deviceproto.InboxPrompt{VerificationID: s.VerificationID, Context: s.Context, ExpiresAt: s.now().Add(10 * time.Minute).Unix()})
	}
	out.Challenge, out.ChallengeExpiresAt = s.newChallengeLocked(c.CredID, "")
	return out, nil
}

func (s *Server) accept(c *deviceproto.RequestClaims, r *http.Request) (any, error) {
	if c.VerificationID != s.VerificationID || !s.inbox[c.CredID] {
		return nil, refuse(tandem.ENOTFOUND, "wrong_verification", "There is no such prompt.")
	}
	if s.paired != "" {
		return nil, refuse(tandem.ECONFLICT, "handover_taken", "Another phone already answered this prompt.")
	}
	s.paired = c.CredID
	clear(s.inbox)
	return s.sessionLocked(c.CredID), nil
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newCredID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
