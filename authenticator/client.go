// Package authenticator is the Go client of Tandem's device protocol
// (/device/v1): it pairs with a server from the content of a QR code,
// signs every request with the device's P-256 key, answers the steps of the
// phone's workflow and reads the push-mode inbox. It keeps the device keys
// in a Keystore. The `tandem device` command, tests and the load tool use
// it; docs/device-protocol.md describes the protocol for other clients.
package authenticator

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tandem-id/tandem/deviceproto"
)

// Paths of the device protocol, relative to the server's base URL.
const (
	PathPair      = "/device/v1/pair"
	PathChallenge = "/device/v1/challenge"
	PathSession   = "/device/v1/session"
	PathAnswer    = "/device/v1/answer"
	PathInbox     = "/device/v1/inbox"
	PathAccept    = "/device/v1/accept"
	PathRevoke    = "/device/v1/revoke"
)

// maxResponse is the largest response body the client reads.
const maxResponse = 1 << 20

// challengeMargin is how long before its expiry a kept challenge is no
// longer used: a request signed just in time could arrive too late.
const challengeMargin = 10 * time.Second

// ProblemError is an error answer of the server (a problem+json body), or
// any other answer that is not a success. Code is the machine-readable
// reason ("challenge_expired", "handover_taken" …); it is empty when the
// answer was not a problem document (a proxy's error page, a redirect).
type ProblemError struct {
	Status int
	Code   string
	Detail string
}

func (e *ProblemError) Error() string {
	code := e.Code
	if code == "" {
		code = "server error"
	}
	if e.Detail == "" {
		return fmt.Sprintf("%s (HTTP %d)", code, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", code, e.Status, e.Detail)
}

// ProblemCode returns the Code of the *ProblemError in err's chain, or "".
func ProblemCode(err error) string {
	var p *ProblemError
	if errors.As(err, &p) {
		return p.Code
	}
	return ""
}

// Client speaks the device protocol to one server on behalf of one device.
//
// Server is the base URL every request goes to; Pair sets it from the QR
// code when it is empty and refuses a QR code of any other server, so a
// client never sends anything but to the server it was paired with.
// CredID is set by Pair (the server assigns it). HTTP nil means a plain
// http.Client without a timeout: give requests a deadline with ctx. Now nil
// means time.Now.
//
// A Client keeps the challenge of the last answer for its next signed
// request and fetches one when it has none. Its methods may be called from
// several goroutines; each signed request takes its own challenge.
type Client struct {
	HTTP   *http.Client
	Key    *ecdsa.PrivateKey
	CredID string
	Now    func() time.Time
	Server string

	mu           sync.Mutex
	challenge    string
	challengeExp time.Time
	// challengeFor is the verification a kept challenge is bound to (a
	// session's challenges are); "" for an unbound one.
	challengeFor string
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// ParseQRURL splits the content of a pairing QR code, {base}/d/{token},
// into the server's base URL and the pairing token. The base URL must be
// http or https, with a host and without user information, query or
// fragment.
func ParseQRURL(raw string) (base, token string, err error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("the QR code does not hold a URL: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", "", fmt.Errorf("the QR code's URL %q is not http or https", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", "", fmt.Errorf("the QR code's URL %q is not a Tandem pairing URL ({server}/d/{token})", raw)
	}
	i := strings.LastIndex(u.Path, "/d/")
	if i < 0 {
		return "", "", fmt.Errorf("the QR code's URL %q is not a Tandem pairing URL ({server}/d/{token})", raw)
	}
	token = u.Path[i+len("/d/"):]
	if token == "" || len(token) > 512 || strings.ContainsAny(token, "/?#") {
		return "", "", fmt.Errorf("the QR code's URL %q holds no valid pairing token", raw)
	}
	base = strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host) + u.Path[:i]
	return base, token, nil
}

// Pair pairs the device with the server of a QR code's URL ({base}/d/{token})
// by signing the pairing token with c.Key, and returns the session of the
// hand-over: its context and first step. It sets c.Server and c.CredID.
func (c *Client) Pair(ctx context.Context, qrURL, deviceName, platform string) (*deviceproto.Session, error) {
	base, token, err := ParseQRURL(qrURL)
	if err != nil {
		return nil, err
	}
	if c.Key == nil {
		return nil, errors.New("pair: the client has no key")
	}
	c.mu.Lock()
	if c.Server != "" && c.Server != base {
		c.mu.Unlock()
		return nil, fmt.Errorf("pair: the QR code is for server %s, but this client talks to %s", base, c.Server)
	}
	c.Server = base
	c.mu.Unlock()
	jws, err := deviceproto.SignPair(c.Key, deviceproto.PairClaims{
		PairingToken: token, IssuedAt: c.now().Unix(), DeviceName: deviceName, Platform: platform,
	})
	if err != nil {
		return nil, fmt.Errorf("pair: sign: %w", err)
	}
	var s deviceproto.Session
	if err := c.post(ctx, PathPair, "", deviceproto.Envelope{JWS: jws}, &s); err != nil {
		return nil, err
	}
	if !validCredID(s.CredID) {
		return nil, fmt.Errorf("pair: the server answered an invalid credential id %q", s.CredID)
	}
	c.mu.Lock()
	c.CredID = s.CredID
	c.mu.Unlock()
	c.keep(s.Challenge, s.ChallengeExpiresAt, s.VerificationID)
	return &s, nil
}

// validCredID tells whether id is safe to use as a credential id: what the
// server assigns is 32 hex characters; anything short and plain is taken.
func validCredID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Challenge fetches a fresh challenge and keeps it for the next signed
// request.
func (c *Client) Challenge(ctx context.Context) (*deviceproto.ChallengeResponse, error) {
	r, err := c.fetchChallenge(ctx)
	if err != nil {
		return nil, err
	}
	c.keep(r.Challenge, r.ChallengeExpiresAt, "")
	return r, nil
}

// fetchChallenge fetches a fresh challenge without keeping it.
func (c *Client) fetchChallenge(ctx context.Context) (*deviceproto.ChallengeResponse, error) {
	c.mu.Lock()
	cred := c.CredID
	c.mu.Unlock()
	if cred == "" {
		return nil, errors.New("challenge: the client has no credential id; pair first")
	}
	var r deviceproto.ChallengeResponse
	if err := c.post(ctx, PathChallenge, "", deviceproto.ChallengeRequest{CredID: cred}, &r); err != nil {
		return nil, err
	}
	if r.Challenge == "" {
		return nil, errors.New("challenge: the server answered no challenge")
	}
	return &r, nil
}

// Session reads the state of the hand-over of a verification.
func (c *Client) Session(ctx context.Context, verificationID string) (*deviceproto.Session, error) {
	var s deviceproto.Session
	err := c.signed(ctx, PathSession, "", deviceproto.RequestClaims{Action: deviceproto.ActionSession, VerificationID: verificationID}, &s)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// Answer answers step (the Prompt's Index) of a verification. answer maps
// node names to values: a string for an input or choice node, a
// deviceproto.Location for a location node; a step of text nodes only takes
// an empty (or nil) map. The session it returns has the next step, the same
// step with its Error set when the answer needs correcting, or the final
// status.
func (c *Client) Answer(ctx context.Context, verificationID string, step int, answer map[string]any) (*deviceproto.Session, error) {
	raw := make(map[string]json.RawMessage, len(answer))
	for k, v := range answer {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("answer %q: %w", k, err)
		}
		raw[k] = b
	}
	claims := deviceproto.RequestClaims{Action: deviceproto.ActionAnswer, VerificationID: verificationID, Step: &step, Answer: raw}
	var s deviceproto.Session
	if err := c.signed(ctx, PathAnswer, "", claims, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Deny answers step of a verification with "this wasn't me", which fails
// the verification.
func (c *Client) Deny(ctx context.Context, verificationID string, step int) (*deviceproto.Session, error) {
	claims := deviceproto.RequestClaims{Action: deviceproto.ActionDeny, VerificationID: verificationID, Step: &step}
	var s deviceproto.Session
	if err := c.signed(ctx, PathAnswer, "", claims, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Inbox reads the push-mode prompts waiting for the device; the server
// holds the request up to wait (whole seconds, rounded up; the server
// allows 60 s at most) for one to arrive. The HTTP client's timeout, if
// any, must be longer than wait.
func (c *Client) Inbox(ctx context.Context, wait time.Duration) (*deviceproto.InboxResponse, error) {
	// Whole seconds, rounded up: a wait of 0.4 s must not become "0s",
	// which answers at once.
	secs := max(int64((wait+time.Second-1)/time.Second), 0)
	var r deviceproto.InboxResponse
	err := c.signed(ctx, PathInbox, fmt.Sprintf("wait=%ds", secs), deviceproto.RequestClaims{Action: deviceproto.ActionInbox}, &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// Accept takes a push-mode prompt: the first device to accept continues
// the verification (the others get "handover_taken").
func (c *Client) Accept(ctx context.Context, verificationID string) (*deviceproto.Session, error) {
	var s deviceproto.Session
	if err := c.signed(ctx, PathAccept, "", deviceproto.RequestClaims{Action: deviceproto.ActionAccept, VerificationID: verificationID}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Revoke removes this device from the server: the server revokes the
// credential, and every later request signed for it is refused
// (device_revoked), so the caller should delete the key afterwards. The
// request is signed with a fresh challenge that is bound to no
// verification (a kept one may be bound to a session's verification).
func (c *Client) Revoke(ctx context.Context) (*deviceproto.RevokeResponse, error) {
	c.take("")
	var r deviceproto.RevokeResponse
	if err := c.signed(ctx, PathRevoke, "", deviceproto.RequestClaims{Action: deviceproto.ActionRevoke}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// keep stores the challenge of an answer for the next signed request;
// verificationID names the verification it is bound to ("" for none).
func (c *Client) keep(challenge string, expiresAt int64, verificationID string) {
	if challenge == "" {
		return
	}
	c.mu.Lock()
	c.challenge, c.challengeExp, c.challengeFor = challenge, time.Unix(expiresAt, 0), verificationID
	c.mu.Unlock()
}

// take returns the kept challenge, if it is still fresh and usable for a
// request about verificationID ("" for a request about none), and forgets
// it: a challenge is used once. A challenge bound to a verification is
// refused by the server for any other request (wrong_verification), so it
// is dropped instead of spent.
func (c *Client) take(verificationID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, bound := c.challenge, c.challengeFor
	fresh := c.challengeExp.IsZero() || c.now().Add(challengeMargin).Before(c.challengeExp)
	c.challenge, c.challengeExp, c.challengeFor = "", time.Time{}, ""
	if !fresh || (bound != "" && bound != verificationID) {
		return ""
	}
	return ch
}

// signed sends claims, signed with a challenge, to path and decodes the
// answer into out. When a kept challenge is refused as used or expired, it
// fetches a fresh one and tries once more.
func (c *Client) signed(ctx context.Context, path, query string, claims deviceproto.RequestClaims, out any) error {
	if c.Key == nil {
		return errors.New("the client has no key")
	}
	c.mu.Lock()
	claims.CredID = c.CredID
	c.mu.Unlock()
	if claims.CredID == "" {
		return errors.New("the client has no credential id; pair first")
	}
	for attempt := 0; ; attempt++ {
		ch, fetched := c.take(claims.VerificationID), false
		if ch == "" {
			r, err := c.fetchChallenge(ctx)
			if err != nil {
				return err
			}
			ch, fetched = r.Challenge, true
		}
		claims.Challenge = ch
		claims.IssuedAt = c.now().Unix()
		jws, err := deviceproto.SignRequest(c.Key, claims)
		if err != nil {
			return fmt.Errorf("sign: %w", err)
		}
		err = c.post(ctx, path, query, deviceproto.Envelope{JWS: jws}, out)
		if code := ProblemCode(err); !fetched && attempt == 0 && (code == "challenge_invalid" || code == "challenge_expired") {
			continue
		}
		if err != nil {
			return err
		}
		switch v := out.(type) {
		case *deviceproto.Session:
			c.keep(v.Challenge, v.ChallengeExpiresAt, v.VerificationID)
		case *deviceproto.InboxResponse:
			c.keep(v.Challenge, v.ChallengeExpiresAt, "")
		}
		return nil
	}
}

// post sends body as JSON to the server's path and decodes a success into
// out; any other answer is a *ProblemError. Redirects are not followed.
func (c *Client) post(ctx context.Context, path, query string, body, out any) error {
	c.mu.Lock()
	base := c.Server
	c.mu.Unlock()
	if base == "" {
		return errors.New("the client has no server; pair first")
	}
	target := base + path
	if query != "" {
		target += "?" + query
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, application/problem+json")
	hc := http.Client{}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("POST %s: read the answer: %w", path, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("POST %s: the answer is larger than %d bytes", path, maxResponse)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return problem(resp, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("POST %s: the answer is not the expected JSON: %w", path, err)
	}
	return nil
}

// problem turns an error answer into a *ProblemError.
func problem(resp *http.Response, data []byte) *ProblemError {
	e := &ProblemError{Status: resp.StatusCode}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p deviceproto.Problem
	if (mt == "application/problem+json" || mt == "application/json") && json.Unmarshal(data, &p) == nil && (p.Code != "" || p.Detail != "" || p.Title != "") {
		e.Code, e.Detail = p.Code, p.Detail
		if e.Detail == "" {
			e.Detail = p.Title
		}
		e.Detail = oneLine(e.Detail, 500)
		return e
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
		e.Detail = oneLine("the server redirects to "+loc+"; redirects are not followed", 500)
		return e
	}
	e.Detail = http.StatusText(resp.StatusCode)
	return e
}

// oneLine makes s safe to print on one line of a terminal: control
// characters become spaces and it is cut to at most n bytes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
