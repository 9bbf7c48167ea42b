package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384, for the ES384 forgeries
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/examples"
	_ "github.com/tandem-id/tandem/store" // the "sqlite" database/sql driver
)

// The hostile input suite: one real server, a demo-like workspace, a second
// tenant, verifications in several states and a paired phone, attacked by
// malformed and malicious requests on every surface. Every refused request
// must get a 4xx with a message (problem+json detail, the device problem's
// detail, the web JSON problem's message, the OAuth error_description of
// the CIBA endpoints, or an error page with a heading), never a 5xx, and
// must leave the database as it was.
//
// The suite found three bugs, fixed and kept as cases: JSON that is not
// UTF-8 was stored with its bad bytes silently replaced by U+FFFD
// (*/InvalidUTF8*, fixed in strictjson); the JSON APIs parsed bodies sent
// as text/plain or as a form (*/WrongContentType, Integrator/FormContentType:
// now 415); and retire_after_s = 2^55 overflowed time.Duration to 0, passed
// the range check and retired every previous signing key at once
// (Admin/RotateOverflow: now 422).

const (
	sqlMeta    = `' OR 1=1 --`
	tmplMeta   = `{{.}}`
	scriptMeta = `<script>alert(1)</script>`
	nulMeta    = "\x00"
)

// otherWorkspace is a second tenant: its ids must be invisible to acme.
const otherWorkspace = `{"name": "other",
 "applications": [{"name": "checkout", "verification_way": "web", "workflow": "kyc", "redirect_urls": ["https://shop.example/done"]}],
 "workflows": [{"name": "kyc", "modules": [
   {"type": "verify_aadhaar", "display_name": "Aadhaar"},
   {"type": "verify_pan", "display_name": "PAN"}]}]}`

// hostile is the state the suite attacks.
type hostile struct {
	t      *testing.T
	srv    *testServer
	ro     *sql.DB // a read-only handle on the server's SQLite file
	srcIPs atomic.Uint32

	clientA, clientB, clientM [2]string // acme web-login, other checkout, acme-mobile
	vA, vW, vB                string    // request ids: completed via the phone, opened at step 0, another tenant's
	tokA, tokW                string    // link tokens
	cookieA, cookieW          string    // browser keys bound to vA and vW

	phone          *ecdsa.PrivateKey
	credID         string
	pubJWK         []byte // the phone's public JWK as the server stores it
	pairToken      string // a pairing token already used
	usedChallenge  string // consumed by usedAnswerJWS
	usedAnswerJWS  string // a valid answer, already accepted
	freshChallenge string // issued, never used

	authReqID string // a CIBA request of web-login, pending
}

// hreq is one request of the suite.
type hreq struct {
	method, path string
	body         []byte
	ctype        string            // Content-Type; "" sends none
	auth         string            // "admin", "A", "B", "M" or "" (none)
	header       map[string]string // more headers (may replace Authorization)
	cookie       string            // a tandem_b browser key
}

type hresp struct {
	status int
	header http.Header
	body   []byte
}

// client returns an HTTP client whose connections come from a loopback
// address of their own (127.77.x.y): the per-address rate limits of the web
// and device surfaces then never hide the answer under test. It follows no
// redirects and keeps no cookies.
func (h *hostile) client() *http.Client {
	n := h.srcIPs.Add(1)
	ip := net.IPv4(127, 77, byte(n>>8), byte(n))
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

func (h *hostile) do(r hreq) hresp {
	h.t.Helper()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), r.method, h.srv.base+r.path, body)
	if err != nil {
		h.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	if r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	switch r.auth {
	case "admin":
		req.Header.Set("Authorization", "Bearer "+h.srv.adminToken)
	case "A":
		req.SetBasicAuth(h.clientA[0], h.clientA[1])
	case "B":
		req.SetBasicAuth(h.clientB[0], h.clientB[1])
	case "M":
		req.SetBasicAuth(h.clientM[0], h.clientM[1])
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if r.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "tandem_b", Value: r.cookie})
	}
	resp, err := h.client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read the answer: %v", r.method, r.path, err)
	}
	return hresp{resp.StatusCode, resp.Header, b}
}

// must sends r and fails the test unless the answer has status want; it
// decodes a JSON answer into out when out is not nil.
func (h *hostile) must(r hreq, want int, out any) hresp {
	h.t.Helper()
	res := h.do(r)
	if res.status != want {
		h.t.Fatalf("setup: %s %s: status %d, want %d; body %s", r.method, r.path, res.status, want, res.body)
	}
	if out != nil {
		if err := json.Unmarshal(res.body, out); err != nil {
			h.t.Fatalf("setup: %s %s: decode %s: %v", r.method, r.path, res.body, err)
		}
	}
	return res
}

func jsonReq(method, path, auth string, body any) hreq {
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		b, _ = json.Marshal(v)
	}
	return hreq{method: method, path: path, body: b, ctype: "application/json", auth: auth}
}

// cibaReq is a form post to an OpenID CIBA endpoint, the client
// authenticated with HTTP Basic.
func cibaReq(path, auth string, form url.Values) hreq {
	return hreq{method: http.MethodPost, path: path, body: []byte(form.Encode()), ctype: "application/x-www-form-urlencoded", auth: auth}
}

func formReq(path, cookie string, form url.Values) hreq {
	return hreq{method: http.MethodPost, path: path, body: []byte(form.Encode()), ctype: "application/x-www-form-urlencoded", cookie: cookie}
}

var (
	h1RE         = regexp.MustCompile(`(?s)<h1[^>]*>(.*?)</h1>`)
	fieldErrorRE = regexp.MustCompile(`(?s)<p class="error"[^>]*>(.*?)</p>`)
	tagRE        = regexp.MustCompile(`<[^>]*>`)
)

// message returns the message of a refusal: the detail of a problem
// document (or a device problem), the message of a web JSON problem, the
// error_description of an OAuth error (CIBA), or the field error or the
// heading of an HTML page. It returns "" when there is none.
func message(res hresp) string {
	ct, _, _ := mime.ParseMediaType(res.header.Get("Content-Type"))
	switch ct {
	case "application/problem+json", "application/json":
		var p struct {
			Detail      string `json:"detail"`
			Message     string `json:"message"`
			Description string `json:"error_description"` // OpenID CIBA (OAuth 2.0)
		}
		if json.Unmarshal(res.body, &p) != nil {
			return ""
		}
		return strings.TrimSpace(p.Detail + p.Message + p.Description)
	case "text/html":
		// A step page sent back for correction names the field in error;
		// an error page says what happened in its heading.
		if m := fieldErrorRE.FindSubmatch(res.body); m != nil {
			return strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(string(m[1]), "")))
		}
		if m := h1RE.FindSubmatch(res.body); m != nil && res.status != http.StatusUnprocessableEntity {
			return strings.TrimSpace(html.UnescapeString(string(m[1])))
		}
	}
	return ""
}

// fingerprint is what a refused request must not change: the workspaces
// and their versions, credentials, verifications (every update bumps a
// verification's version), devices and their states, pairings and their use,
// signing keys, inboxes, user events, the outbox, the settings and the
// OpenID CIBA requests. Audit
// events and device challenges are left out: recording a refusal, and
// handing out a challenge, are what the server does on purpose.
type fingerprint struct {
	Workspaces                       string
	Applications, Workflows, Secrets int
	WebhookSecrets, SigningKeys      int
	Verifications                    string
	Devices                          string
	Pairings, PairingsUsed           int
	Inbox, UserEvents, Outbox        int
	Settings, CIBARequests           int
}

func (h *hostile) fingerprint() fingerprint {
	h.t.Helper()
	var f fingerprint
	var ws, vs, ds sql.NullString
	err := h.ro.QueryRowContext(h.t.Context(), `SELECT
	  (SELECT group_concat(name || ':' || version, ',') FROM (SELECT name, version FROM workspaces ORDER BY name)),
	  (SELECT count(*) FROM applications), (SELECT count(*) FROM workflows), (SELECT count(*) FROM app_secrets),
	  (SELECT count(*) FROM webhook_secrets), (SELECT count(*) FROM signing_keys),
	  (SELECT group_concat(id || ':' || status || ':' || version, ',') FROM (SELECT id, status, version FROM verifications ORDER BY id)),
	  (SELECT group_concat(cred_id || ':' || state || ':' || user_id, ',') FROM (SELECT cred_id, state, user_id FROM devices ORDER BY cred_id)),
	  (SELECT count(*) FROM pairings), (SELECT count(used_at) FROM pairings),
	  (SELECT count(*) FROM inbox), (SELECT count(*) FROM user_events), (SELECT count(*) FROM outbox),
	  (SELECT count(*) FROM settings), (SELECT count(*) FROM ciba_requests)`).Scan(
		&ws, &f.Applications, &f.Workflows, &f.Secrets, &f.WebhookSecrets, &f.SigningKeys,
		&vs, &ds, &f.Pairings, &f.PairingsUsed, &f.Inbox, &f.UserEvents, &f.Outbox, &f.Settings, &f.CIBARequests)
	if err != nil {
		h.t.Fatalf("fingerprint: %v", err)
	}
	f.Workspaces, f.Verifications, f.Devices = ws.String, vs.String, ds.String
	return f
}

// setupHostile starts the server and builds the state the suite attacks,
// through the public APIs only.
func setupHostile(t *testing.T) *hostile {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "hostile.db")
	h := &hostile{t: t}
	h.srv = startServer(t, "-db", "sqlite:"+dbPath)
	ro, err := sql.Open("sqlite", dbPath+"?_pragma=query_only(ON)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	h.ro = ro

	// Two tenants: the demo workspace and another.
	h.must(jsonReq(http.MethodPut, "/admin/v1/workspaces/acme", "admin", examples.Workspace), http.StatusOK, nil)
	h.must(jsonReq(http.MethodPut, "/admin/v1/workspaces/other", "admin", otherWorkspace), http.StatusOK, nil)
	secret := func(ws, app string) [2]string {
		var c struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		h.must(jsonReq(http.MethodPost, "/admin/v1/workspaces/"+ws+"/applications/"+app+"/secrets", "admin", nil), http.StatusCreated, &c)
		return [2]string{c.ClientID, c.ClientSecret}
	}
	h.clientA, h.clientB, h.clientM = secret("acme", "web-login"), secret("other", "checkout"), secret("acme", "acme-mobile")

	type created struct {
		RequestID string `json:"request_id"`
		URL       string `json:"url"`
	}
	create := func(auth, body string) (string, string) {
		var c created
		h.must(jsonReq(http.MethodPost, "/v1/verifications", auth, body), http.StatusCreated, &c)
		_, tok, ok := strings.Cut(c.URL, "/v/")
		if !ok {
			t.Fatalf("setup: link %q", c.URL)
		}
		return c.RequestID, tok
	}
	h.vA, h.tokA = create("A", `{"user_id": "mark@example.com", "allow_new_device": true, "metadata": {"kyc": "full"}}`)
	h.vW, h.tokW = create("A", `{"user_id": "wendy@example.com"}`)
	h.vB, _ = create("B", `{"user_id": "bob@example.com"}`)

	// Open vW and vA in two browsers; each keeps its cookie.
	open := func(tok string) string {
		res := h.must(hreq{method: http.MethodGet, path: "/v/" + tok}, http.StatusOK, nil)
		for _, c := range (&http.Response{Header: res.header}).Cookies() {
			if c.Name == "tandem_b" {
				return c.Value
			}
		}
		t.Fatalf("setup: no browser cookie from /v/%s", tok)
		return ""
	}
	h.cookieW = open(h.tokW)
	h.cookieA = open(h.tokA)

	// vA: the whole demo flow, the browser's part over /v/ and the phone's
	// over /device/v1, so that a phone is paired and active.
	h.must(formReq("/v/"+h.tokA+"/steps/0", h.cookieA, url.Values{"aadhaar_number": {"2341 2341 2346"}}), http.StatusSeeOther, nil)
	const webLat, webLon = 12.94739, 80.24207
	h.must(hreq{method: http.MethodPost, path: "/v/" + h.tokA + "/location", ctype: "application/json", cookie: h.cookieA,
		body: []byte(fmt.Sprintf(`{"lat": %v, "lon": %v, "accuracy_m": 18, "age_ms": 500}`, webLat, webLon))}, http.StatusNoContent, nil)
	var pairing struct {
		URL string `json:"url"`
	}
	h.must(hreq{method: http.MethodGet, path: "/v/" + h.tokA + "/pairing", cookie: h.cookieA}, http.StatusOK, &pairing)
	_, h.pairToken, _ = strings.Cut(pairing.URL, "/d/")
	if h.phone, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	pairJWS, err := deviceproto.SignPair(h.phone, deviceproto.PairClaims{PairingToken: h.pairToken, IssuedAt: time.Now().Unix(), DeviceName: "Hostile test phone", Platform: "android"})
	if err != nil {
		t.Fatal(err)
	}
	var s deviceproto.Session
	h.must(jsonReq(http.MethodPost, "/device/v1/pair", "", deviceproto.Envelope{JWS: pairJWS}), http.StatusOK, &s)
	h.credID = s.CredID
	if s.Step == nil || s.Step.Type != "number_prompt" {
		t.Fatalf("setup: first phone step %+v, want number_prompt", s.Step)
	}
	page := h.must(hreq{method: http.MethodGet, path: "/v/" + h.tokA, cookie: h.cookieA}, http.StatusOK, nil)
	m := regexp.MustCompile(`<p class="big-number"[^>]*>(\d\d)</p>`).FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("setup: the page shows no number:\n%s", page.body)
	}
	answer := func(s *deviceproto.Session, ans map[string]any) (string, string) {
		raw := map[string]json.RawMessage{}
		for k, v := range ans {
			raw[k], _ = json.Marshal(v)
		}
		step := s.Step.Index
		used := s.Challenge
		jws := h.signRequest(h.phone, deviceproto.RequestClaims{Challenge: used, Action: deviceproto.ActionAnswer, VerificationID: h.vA, Step: &step, Answer: raw})
		*s = deviceproto.Session{}
		h.must(jsonReq(http.MethodPost, "/device/v1/answer", "", deviceproto.Envelope{JWS: jws}), http.StatusOK, s)
		return jws, used
	}
	answer(&s, map[string]any{"number": string(m[1])})
	if s.Step == nil || s.Step.Type != "proximity" {
		t.Fatalf("setup: second phone step %+v, want proximity", s.Step)
	}
	answer(&s, map[string]any{"location": deviceproto.Location{Lat: webLat + 50/111195.0, Lon: webLon, AccuracyM: 8, AccuracyKind: "p68", ReadAt: time.Now().Unix()}})
	if s.Step == nil || s.Step.Type != "verify_pan" {
		t.Fatalf("setup: third phone step %+v, want verify_pan", s.Step)
	}
	h.usedAnswerJWS, h.usedChallenge = answer(&s, map[string]any{"pan_number": "ABCPE1234F"})
	if s.Status != "passed" {
		t.Fatalf("setup: the phone's part ended %q (%s), want passed", s.Status, s.Message)
	}
	h.freshChallenge = s.Challenge
	var st struct {
		Status string `json:"status"`
	}
	h.must(jsonReq(http.MethodGet, "/v1/verifications/"+h.vA, "A", nil), http.StatusOK, &st)
	if st.Status != "completed" {
		t.Fatalf("setup: vA is %s, want completed", st.Status)
	}
	// The result token makes acme's signing key; the JWKS then only reads.
	h.must(jsonReq(http.MethodGet, "/v1/verifications/"+h.vA+"/token", "A", nil), http.StatusOK, nil)
	h.must(hreq{method: http.MethodGet, path: "/w/acme/.well-known/jwks.json"}, http.StatusOK, nil)
	// An OpenID CIBA request of web-login (poll mode), still pending.
	var auth struct {
		AuthReqID string `json:"auth_req_id"`
	}
	h.must(cibaReq("/w/acme/ciba/bc-authorize", "A", url.Values{"scope": {"openid"}, "login_hint": {"carol@example.com"}}), http.StatusOK, &auth)
	h.authReqID = auth.AuthReqID
	jwk := jose.JSONWebKey{Key: &h.phone.PublicKey}
	if h.pubJWK, err = jwk.MarshalJSON(); err != nil {
		t.Fatal(err)
	}
	return h
}

// JWS helpers: forgeries are built by hand, byte by byte.

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b64(b)
}

// signEC signs header.payload with key using hash, encoding the signature
// as JWS does (r || s, each the curve's size).
func signEC(key *ecdsa.PrivateKey, hash crypto.Hash, header, payload any) string {
	in := b64JSON(header) + "." + b64JSON(payload)
	hh := hash.New()
	hh.Write([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, hh.Sum(nil))
	if err != nil {
		panic(err)
	}
	n := (key.Curve.Params().BitSize + 7) / 8
	sig := make([]byte, 2*n)
	r.FillBytes(sig[:n])
	s.FillBytes(sig[n:])
	return in + "." + b64(sig)
}

func publicJWKMap(key *ecdsa.PrivateKey) map[string]any {
	b, err := (&jose.JSONWebKey{Key: &key.PublicKey}).MarshalJSON()
	if err != nil {
		panic(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// requestClaims fills the defaults of a device request of the phone.
func (h *hostile) requestClaims(c deviceproto.RequestClaims) deviceproto.RequestClaims {
	if c.CredID == "" {
		c.CredID = h.credID
	}
	if c.IssuedAt == 0 {
		c.IssuedAt = time.Now().Unix()
	}
	return c
}

func (h *hostile) signRequest(key *ecdsa.PrivateKey, c deviceproto.RequestClaims) string {
	c = h.requestClaims(c)
	jws, err := deviceproto.SignRequest(key, c)
	if err != nil {
		h.t.Fatal(err)
	}
	return jws
}

func (h *hostile) sessionClaims(challenge string) deviceproto.RequestClaims {
	return h.requestClaims(deviceproto.RequestClaims{Challenge: challenge, Action: deviceproto.ActionSession, VerificationID: h.vA})
}

func deviceReq(path, jws string) hreq {
	return jsonReq(http.MethodPost, path, "", deviceproto.Envelope{JWS: jws})
}

func nest(open, leaf, close string, n int) string {
	return strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
}

// hostileCase is a refused request: any 4xx (or exactly want), a message,
// nothing reflected raw into HTML, and no write.
type hostileCase struct {
	name  string
	build func(h *hostile) hreq
	want  int // 0: any 4xx
}

func hostileCases() []hostileCase {
	var cs []hostileCase
	add := func(name string, want int, build func(h *hostile) hreq) {
		cs = append(cs, hostileCase{name: name, build: build, want: want})
	}
	fixed := func(r hreq) func(*hostile) hreq { return func(*hostile) hreq { return r } }
	big := func(n int) string { return strings.Repeat("a", n) }

	// ---- Integrator API (/v1) ----
	create := func(body string) func(*hostile) hreq {
		return fixed(jsonReq(http.MethodPost, "/v1/verifications", "A", body))
	}
	createRaw := func(body []byte) func(*hostile) hreq {
		return fixed(jsonReq(http.MethodPost, "/v1/verifications", "A", body))
	}
	add("Integrator/NoCredentials", 401, fixed(jsonReq(http.MethodPost, "/v1/verifications", "", `{"user_id":"x"}`)))
	add("Integrator/WrongSecret", 401, func(h *hostile) hreq {
		r := jsonReq(http.MethodPost, "/v1/verifications", "", `{"user_id":"x"}`)
		r.header = map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(h.clientA[0]+":"+h.clientB[1]))}
		return r
	})
	add("Integrator/ClientIDSQL", 401, fixed(hreq{method: http.MethodPost, path: "/v1/verifications", ctype: "application/json", body: []byte(`{"user_id":"x"}`),
		header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(sqlMeta+":"+sqlMeta))}}))
	add("Integrator/ClientIDTooLong", 401, fixed(hreq{method: http.MethodPost, path: "/v1/verifications", ctype: "application/json", body: []byte(`{"user_id":"x"}`),
		header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(big(65)+":secret"))}}))
	add("Integrator/BasicNotBase64", 401, fixed(hreq{method: http.MethodPost, path: "/v1/verifications", ctype: "application/json", body: []byte(`{"user_id":"x"}`),
		header: map[string]string{"Authorization": "Basic %%%not-base64%%%"}}))
	add("Integrator/AdminTokenIsNotAClient", 401, func(h *hostile) hreq {
		return jsonReq(http.MethodPost, "/v1/verifications", "admin", `{"user_id":"x"}`)
	})
	add("Integrator/BodyOverLimit", 413, createRaw([]byte(`{"user_id":"x","user_agent":"`+big(1<<20)+`"}`)))
	add("Integrator/Nesting10000InMetadata", 0, create(`{"user_id":"x","metadata":`+nest(`{"a":`, "1", "}", 10000)+`}`))
	add("Integrator/Nesting10001", 400, create(nest("[", "1", "]", 10001)))
	add("Integrator/Nesting10000Arrays", 400, create(nest("[", "1", "]", 10000)))
	add("Integrator/InvalidUTF8UserID", 400, createRaw([]byte("{\"user_id\":\"mark\xff\xfe\"}")))
	add("Integrator/InvalidUTF8Key", 400, createRaw([]byte("{\"user_id\":\"mark\",\"metadata\":{\"k\xc3\x28\":1}}")))
	add("Integrator/NULInUserID", 422, create(`{"user_id":"mark\u0000"}`))
	add("Integrator/RawNULByte", 400, createRaw([]byte("{\"user_id\":\"ma\x00rk\"}")))
	add("Integrator/ControlCharInUserID", 422, create(`{"user_id":"mark\r\nX-Injected: 1"}`))
	add("Integrator/UserIDNumber", 400, create(`{"user_id":42}`))
	add("Integrator/UserIDObject", 400, create(`{"user_id":{"$ne":""}}`))
	add("Integrator/AllowNewDeviceString", 400, create(`{"user_id":"x","allow_new_device":"yes"}`))
	add("Integrator/MetadataArray", 400, create(`{"user_id":"x","metadata":[1,2]}`))
	add("Integrator/MetadataString", 400, create(`{"user_id":"x","metadata":"`+sqlMeta+`"}`))
	add("Integrator/MetadataNumberOutOfRange", 400, create(`{"user_id":"x","metadata":{"n":1e400}}`))
	add("Integrator/HugeMetadata", 422, create(`{"user_id":"x","metadata":{"blob":"`+big(17<<10)+`"}}`))
	add("Integrator/HugeMetadataManyKeys", 422, func(*hostile) hreq {
		m := map[string]int{}
		for i := range 5000 {
			m[fmt.Sprintf("k%05d", i)] = i
		}
		return jsonReq(http.MethodPost, "/v1/verifications", "A", map[string]any{"user_id": "x", "metadata": m})
	})
	add("Integrator/UnknownField", 400, create(`{"user_id":"x","is_admin":true}`))
	add("Integrator/UnknownFieldCaseFold", 400, create(`{"USER_ID":"x"}`))
	add("Integrator/ProtoField", 400, create(`{"user_id":"x","__proto__":{"admin":true}}`))
	add("Integrator/DuplicateKey", 400, create(`{"user_id":"a","user_id":"b"}`))
	add("Integrator/DuplicateKeyInMetadata", 400, create(`{"user_id":"a","metadata":{"kyc":"none","kyc":"full"}}`))
	add("Integrator/EmptyBody", 400, createRaw([]byte{}))
	add("Integrator/WhitespaceBody", 400, create("  \n "))
	add("Integrator/ArrayBody", 400, create(`[{"user_id":"x"}]`))
	add("Integrator/NullBody", 422, create(`null`))
	add("Integrator/TrailingData", 400, create(`{"user_id":"x"}{"user_id":"y"}`))
	add("Integrator/TruncatedJSON", 400, create(`{"user_id":"x"`))
	add("Integrator/BlankUserID", 422, create(`{"user_id":"   "}`))
	add("Integrator/UserIDTooLong", 422, create(`{"user_id":"`+big(257)+`"}`))
	add("Integrator/UserAgentTooLong", 422, create(`{"user_id":"x","user_agent":"`+big(513)+`"}`))
	add("Integrator/RedirectNotAllowed", 422, create(`{"user_id":"x","redirect_url":"https://evil.example/"}`))
	add("Integrator/RedirectHeaderInjection", 422, create(`{"user_id":"x","redirect_url":"https://app.example.com/done\r\nSet-Cookie: pwned=1"}`))
	add("Integrator/RedirectJavascript", 422, create(`{"user_id":"x","redirect_url":"javascript:alert(1)"}`))
	add("Integrator/RedirectSQL", 422, create(`{"user_id":"x","redirect_url":"`+sqlMeta+`"}`))
	add("Integrator/RedirectTemplate", 422, create(`{"user_id":"x","redirect_url":"`+tmplMeta+`"}`))
	add("Integrator/RedirectTraversal", 422, create(`{"user_id":"x","redirect_url":"../../admin/v1/workspaces"}`))
	add("Integrator/IPSQL", 422, create(`{"user_id":"x","ip":"`+sqlMeta+`"}`))
	add("Integrator/IPScript", 422, create(`{"user_id":"x","ip":"<script>alert(1)<\/script>"}`))
	add("Integrator/IPTemplate", 422, create(`{"user_id":"x","ip":"`+tmplMeta+`"}`))
	add("Integrator/WrongContentType", 415, func(*hostile) hreq {
		r := jsonReq(http.MethodPost, "/v1/verifications", "A", `{"user_id":"x"}`)
		r.ctype = "text/plain"
		return r
	})
	add("Integrator/FormContentType", 415, func(*hostile) hreq {
		return hreq{method: http.MethodPost, path: "/v1/verifications", auth: "A", ctype: "application/x-www-form-urlencoded", body: []byte("user_id=x")}
	})
	add("Integrator/MobileApplicationCannotStart", 422, func(*hostile) hreq {
		return jsonReq(http.MethodPost, "/v1/verifications", "M", `{"user_id":"x"}`)
	})
	add("Integrator/CrossTenantGet", 404, func(h *hostile) hreq { return jsonReq(http.MethodGet, "/v1/verifications/"+h.vB, "A", nil) })
	add("Integrator/CrossTenantResult", 404, func(h *hostile) hreq { return jsonReq(http.MethodGet, "/v1/verifications/"+h.vB+"/result", "A", nil) })
	add("Integrator/CrossTenantToken", 404, func(h *hostile) hreq { return jsonReq(http.MethodGet, "/v1/verifications/"+h.vB+"/token", "A", nil) })
	add("Integrator/CrossTenantCancel", 404, func(h *hostile) hreq { return jsonReq(http.MethodPost, "/v1/verifications/"+h.vB+"/cancel", "A", nil) })
	add("Integrator/CrossTenantCancelBack", 404, func(h *hostile) hreq { return jsonReq(http.MethodPost, "/v1/verifications/"+h.vW+"/cancel", "B", nil) })
	add("Integrator/TraversalEncoded", 404, fixed(jsonReq(http.MethodGet, "/v1/verifications/%2e%2e%2f%2e%2e%2fadmin%2fv1%2fworkspaces", "A", nil)))
	add("Integrator/TraversalSlash", 404, fixed(jsonReq(http.MethodGet, "/v1/verifications/..%2F..%2Fadmin/result", "A", nil)))
	add("Integrator/IDSQL", 404, fixed(jsonReq(http.MethodGet, "/v1/verifications/"+url.PathEscape(sqlMeta), "A", nil)))
	add("Integrator/IDTemplate", 404, fixed(jsonReq(http.MethodGet, "/v1/verifications/"+url.PathEscape(tmplMeta)+"/result", "A", nil)))
	add("Integrator/IDScript", 404, fixed(jsonReq(http.MethodGet, "/v1/verifications/"+url.PathEscape(scriptMeta), "A", nil)))
	add("Integrator/IDNUL", 404, fixed(jsonReq(http.MethodGet, "/v1/verifications/abc%00def", "A", nil)))
	add("Integrator/IDTooLong", 422, fixed(jsonReq(http.MethodGet, "/v1/verifications/"+big(65), "A", nil)))
	add("Integrator/IDHuge", 422, fixed(jsonReq(http.MethodGet, "/v1/verifications/"+big(60<<10), "A", nil)))
	add("Integrator/SameWorkspaceOtherApp", 404, func(h *hostile) hreq { return jsonReq(http.MethodGet, "/v1/verifications/"+h.vA+"/result", "M", nil) })
	add("Integrator/TokenNotFinished", 409, func(h *hostile) hreq { return jsonReq(http.MethodGet, "/v1/verifications/"+h.vW+"/token", "A", nil) })
	add("Integrator/CancelFinished", 409, func(h *hostile) hreq { return jsonReq(http.MethodPost, "/v1/verifications/"+h.vA+"/cancel", "A", nil) })
	add("Integrator/MethodDelete", 405, fixed(jsonReq(http.MethodDelete, "/v1/verifications", "A", nil)))
	add("Integrator/MethodPut", 405, func(h *hostile) hreq { return jsonReq(http.MethodPut, "/v1/verifications/"+h.vA, "A", `{}`) })
	add("Integrator/MethodGetCancel", 405, func(h *hostile) hreq { return jsonReq(http.MethodGet, "/v1/verifications/"+h.vA+"/cancel", "A", nil) })
	add("Integrator/UnknownPath", 404, fixed(jsonReq(http.MethodGet, "/v1/everything", "A", nil)))

	// ---- Admin API (/admin/v1) ----
	put := func(path, body string) func(*hostile) hreq {
		return fixed(jsonReq(http.MethodPut, path, "admin", body))
	}
	ws := func(mod func(string) string) string { return mod(string(examples.Workspace)) }
	add("Admin/NoToken", 401, fixed(jsonReq(http.MethodGet, "/admin/v1/workspaces", "", nil)))
	add("Admin/WrongToken", 401, fixed(hreq{method: http.MethodGet, path: "/admin/v1/workspaces", header: map[string]string{"Authorization": "Bearer " + sqlMeta}}))
	add("Admin/BasicInsteadOfBearer", 401, func(h *hostile) hreq {
		return hreq{method: http.MethodGet, path: "/admin/v1/workspaces", header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+h.srv.adminToken))}}
	})
	add("Admin/ClientCredentials", 401, func(*hostile) hreq { return jsonReq(http.MethodGet, "/admin/v1/workspaces", "A", nil) })
	add("Admin/BodyOverLimit", 413, put("/admin/v1/workspaces/acme", `{"name":"acme","applications":[],"workflows":[],"x":"`+big(1<<20)+`"}`))
	add("Admin/Nesting10000", 400, put("/admin/v1/workspaces/acme", nest(`{"a":`, "1", "}", 10000)))
	add("Admin/Nesting10000InConfigs", 0, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `{"distance_m": 200}`, `{"distance_m": 200, "x": `+nest("[", "1", "]", 9990)+`}`, 1)
	})))
	add("Admin/Nesting10001", 400, put("/admin/v1/workspaces/acme", nest("[", "1", "]", 10001)))
	add("Admin/InvalidUTF8", 400, func(*hostile) hreq {
		return jsonReq(http.MethodPut, "/admin/v1/workspaces/acme", "admin", []byte(strings.Replace(string(examples.Workspace), `"Aadhaar"`, "\"Aad\xffhaar\"", 1)))
	})
	add("Admin/RawNULByte", 400, put("/admin/v1/workspaces/acme", strings.Replace(string(examples.Workspace), `"Aadhaar"`, "\"Aad\x00haar\"", 1)))
	add("Admin/UnknownTopField", 400, put("/admin/v1/workspaces/acme", `{"name":"acme","applications":[],"workflows":[],"owner":"root"}`))
	add("Admin/UnknownNestedField", 400, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"proximity": true`, `"proximty": true`, 1)
	})))
	add("Admin/UnknownConfigField", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `{"distance_m": 200}`, `{"distance_m": 200, "distanse_m": 1}`, 1)
	})))
	add("Admin/DuplicateKey", 400, put("/admin/v1/workspaces/acme", `{"name":"acme","name":"other","applications":[],"workflows":[]}`))
	add("Admin/WrongType", 400, put("/admin/v1/workspaces/acme", `{"name":"acme","applications":{},"workflows":[]}`))
	add("Admin/WrongTypeLinkExpiry", 400, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"workflow": "login"`, `"workflow": "login", "link_expiry_s": "600"`, 1)
	})))
	add("Admin/LinkExpiryFloat", 400, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"workflow": "login"`, `"workflow": "login", "link_expiry_s": 6e2`, 1)
	})))
	add("Admin/EmptyBody", 400, put("/admin/v1/workspaces/acme", ""))
	add("Admin/NameMismatch", 400, put("/admin/v1/workspaces/acme", strings.Replace(string(examples.Workspace), `"name": "acme"`, `"name": "other"`, 1)))
	add("Admin/WorkspaceNameSQL", 422, put("/admin/v1/workspaces/"+url.PathEscape(sqlMeta), `{"applications":[],"workflows":[]}`))
	add("Admin/WorkspaceNameTemplate", 422, put("/admin/v1/workspaces/"+url.PathEscape(tmplMeta), `{"applications":[],"workflows":[]}`))
	add("Admin/WorkspaceNameScript", 422, put("/admin/v1/workspaces/"+url.PathEscape(scriptMeta), `{"applications":[],"workflows":[]}`))
	add("Admin/WorkspaceNameTraversal", 422, put("/admin/v1/workspaces/%2e%2e%2f%2e%2e%2fetc", `{"applications":[],"workflows":[]}`))
	add("Admin/WorkspaceNameNUL", 422, put("/admin/v1/workspaces/acme%00", `{"applications":[],"workflows":[]}`))
	add("Admin/WorkspaceNameTooLong", 422, put("/admin/v1/workspaces/"+big(64), `{"applications":[],"workflows":[]}`))
	add("Admin/AppNameSQL", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"name": "web-login"`, `"name": "web-login' OR 1=1 --"`, 1)
	})))
	add("Admin/GatepassSQL", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"workflow": "login"`, `"workflow": "login", "gatepass": "' OR 1=1 --"`, 1)
	})))
	add("Admin/RuleTemplate", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"rule": "request.metadata.kyc == 'full'"`, `"rule": "{{.}}"`, 1)
	})))
	add("Admin/RuleScript", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"rule": "request.metadata.kyc == 'full'"`, `"rule": "<script>alert(1)<\/script>"`, 1)
	})))
	add("Admin/RuleTooLong", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"rule": "request.metadata.kyc == 'full'"`, `"rule": "`+strings.Repeat("true && ", 600)+`true"`, 1)
	})))
	add("Admin/RuleDeepParens", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"rule": "request.metadata.kyc == 'full'"`, `"rule": "`+nest("(", "true", ")", 2000)+`"`, 1)
	})))
	add("Admin/ModuleTypeScript", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"type": "verify_aadhaar"`, `"type": "<script>alert(1)<\/script>"`, 1)
	})))
	add("Admin/RedirectURLHeaderInjection", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"workflow": "login"`, `"workflow": "login", "redirect_urls": ["https://app.example.com/done\r\nSet-Cookie: pwned=1"]`, 1)
	})))
	add("Admin/RedirectURLJavascript", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"workflow": "login"`, `"workflow": "login", "redirect_urls": ["javascript:alert(1)"]`, 1)
	})))
	add("Admin/WebhookURLSQL", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"workflow": "login"`, `"workflow": "login", "webhook_url": "' OR 1=1 --"`, 1)
	})))
	add("Admin/HandoverToMissingApp", 422, put("/admin/v1/workspaces/acme", ws(func(s string) string {
		return strings.Replace(s, `"device_application": "acme-mobile"`, `"device_application": "../acme-mobile"`, 1)
	})))
	add("Admin/IfMatchNotANumber", 400, func(*hostile) hreq {
		r := jsonReq(http.MethodPut, "/admin/v1/workspaces/acme", "admin", examples.Workspace)
		r.header = map[string]string{"If-Match": `"abc"`}
		return r
	})
	add("Admin/IfMatchStale", 409, func(*hostile) hreq {
		r := jsonReq(http.MethodPut, "/admin/v1/workspaces/acme", "admin", strings.Replace(string(examples.Workspace), `"Aadhaar"`, `"Aadhaar (changed)"`, 1))
		r.header = map[string]string{"If-Match": `"0"`}
		return r
	})
	add("Admin/WrongContentType", 415, func(*hostile) hreq {
		r := jsonReq(http.MethodPut, "/admin/v1/workspaces/acme", "admin", examples.Workspace)
		r.ctype = "text/plain"
		return r
	})
	add("Admin/MethodPatch", 405, fixed(jsonReq(http.MethodPatch, "/admin/v1/workspaces/acme", "admin", `{}`)))
	add("Admin/MethodPostWorkspace", 405, fixed(jsonReq(http.MethodPost, "/admin/v1/workspaces/acme", "admin", `{}`)))
	add("Admin/DeleteUnknownWorkspace", 404, fixed(jsonReq(http.MethodDelete, "/admin/v1/workspaces/"+url.PathEscape(sqlMeta), "admin", nil)))
	add("Admin/PutAppNameMismatch", 400, put("/admin/v1/workspaces/acme/applications/web-login", `{"name":"other","verification_way":"web","workflow":"login"}`))
	add("Admin/PutAppBreaksWorkspace", 422, put("/admin/v1/workspaces/acme/applications/acme-mobile", `{"verification_way":"web","workflow":"phone-check"}`))
	add("Admin/PutAppUnknownField", 400, put("/admin/v1/workspaces/acme/applications/web-login", `{"verification_way":"web","workflow":"login","secret":"x"}`))
	add("Admin/PutWorkflowSQLType", 422, put("/admin/v1/workspaces/acme/workflows/login", `{"modules":[{"type":"' OR 1=1 --","display_name":"x"}]}`))
	add("Admin/PutWorkflowInUnknownWorkspace", 404, put("/admin/v1/workspaces/nowhere/workflows/login", `{"modules":[{"type":"verify_pan","display_name":"x"}]}`))
	add("Admin/DeleteReferencedApp", 422, fixed(jsonReq(http.MethodDelete, "/admin/v1/workspaces/acme/applications/acme-mobile", "admin", nil)))
	add("Admin/DeleteWorkflowInUse", 422, fixed(jsonReq(http.MethodDelete, "/admin/v1/workspaces/acme/workflows/login", "admin", nil)))
	add("Admin/DeleteUnknownApp", 404, fixed(jsonReq(http.MethodDelete, "/admin/v1/workspaces/acme/applications/%2e%2e", "admin", nil)))
	add("Admin/SecretForUnknownApp", 404, fixed(jsonReq(http.MethodPost, "/admin/v1/workspaces/acme/applications/"+url.PathEscape(sqlMeta)+"/secrets", "admin", nil)))
	add("Admin/SecretCrossWorkspace", 404, fixed(jsonReq(http.MethodPost, "/admin/v1/workspaces/other/applications/web-login/secrets", "admin", nil)))
	add("Admin/WebhookSecretUnknownApp", 404, fixed(jsonReq(http.MethodPost, "/admin/v1/workspaces/acme/applications/nobody/webhook-secret", "admin", nil)))
	add("Admin/RotateNegative", 422, adminCall(http.MethodPost, "/admin/v1/workspaces/acme/keys/rotate", `{"retire_after_s": -1}`))
	add("Admin/RotateOverflow", 422, adminCall(http.MethodPost, "/admin/v1/workspaces/acme/keys/rotate", `{"retire_after_s": 36028797018963968}`))
	add("Admin/RotateHuge", 400, adminCall(http.MethodPost, "/admin/v1/workspaces/acme/keys/rotate", `{"retire_after_s": 1e30}`))
	add("Admin/RotateWrongType", 400, adminCall(http.MethodPost, "/admin/v1/workspaces/acme/keys/rotate", `{"retire_after_s": "1d"}`))
	add("Admin/RotateUnknownField", 400, adminCall(http.MethodPost, "/admin/v1/workspaces/acme/keys/rotate", `{"retire_after": 60}`))
	add("Admin/RotateUnknownWorkspace", 404, adminCall(http.MethodPost, "/admin/v1/workspaces/nowhere/keys/rotate", `{}`))
	add("Admin/KeysUnknownWorkspace", 404, fixed(jsonReq(http.MethodGet, "/admin/v1/workspaces/"+url.PathEscape(tmplMeta)+"/keys", "admin", nil)))
	add("Admin/AuditCrossTenant", 404, func(h *hostile) hreq {
		return jsonReq(http.MethodGet, "/admin/v1/workspaces/acme/verifications/"+h.vB+"/audit", "admin", nil)
	})
	add("Admin/AuditTraversal", 404, fixed(jsonReq(http.MethodGet, "/admin/v1/workspaces/acme/verifications/..%2F..%2Fother/audit", "admin", nil)))
	add("Admin/RevokeDeviceCrossTenant", 404, func(h *hostile) hreq {
		return jsonReq(http.MethodPost, "/admin/v1/workspaces/other/devices/"+h.credID+"/revoke", "admin", nil)
	})
	add("Admin/RevokeDeviceSQL", 404, fixed(jsonReq(http.MethodPost, "/admin/v1/workspaces/acme/devices/"+url.PathEscape(sqlMeta)+"/revoke", "admin", nil)))
	add("Admin/DevicesUnknownWorkspace", 404, fixed(jsonReq(http.MethodGet, "/admin/v1/workspaces/nowhere/users/x/devices", "admin", nil)))
	add("Admin/UnknownPath", 404, fixed(jsonReq(http.MethodGet, "/admin/v1/%2e%2e/%2e%2e/etc/passwd%00", "admin", nil)))

	// ---- JWKS and result tokens ----
	add("JWKS/UnknownWorkspace", 404, fixed(hreq{method: http.MethodGet, path: "/w/nowhere/.well-known/jwks.json"}))
	add("JWKS/WorkspaceSQL", 404, fixed(hreq{method: http.MethodGet, path: "/w/" + url.PathEscape(sqlMeta) + "/.well-known/jwks.json"}))
	add("JWKS/WorkspaceTraversal", 404, fixed(hreq{method: http.MethodGet, path: "/w/%2e%2e%2f%2e%2e/.well-known/jwks.json"}))
	add("JWKS/WorkspaceScript", 404, fixed(hreq{method: http.MethodGet, path: "/w/" + url.PathEscape(scriptMeta) + "/.well-known/jwks.json"}))
	add("JWKS/WorkspaceTooLong", 422, fixed(hreq{method: http.MethodGet, path: "/w/" + big(64) + "/.well-known/jwks.json"}))
	add("JWKS/MethodPost", 0, fixed(jsonReq(http.MethodPost, "/w/acme/.well-known/jwks.json", "", `{"keys":[]}`)))
	add("Token/AdminToken", 401, func(h *hostile) hreq {
		return jsonReq(http.MethodGet, "/v1/verifications/"+h.vA+"/token", "admin", nil)
	})
	add("Token/OtherClient", 404, func(h *hostile) hreq { return jsonReq(http.MethodGet, "/v1/verifications/"+h.vA+"/token", "B", nil) })
	add("Token/MethodPost", 405, func(h *hostile) hreq { return jsonReq(http.MethodPost, "/v1/verifications/"+h.vA+"/token", "A", `{}`) })
	// ---- OpenID CIBA (/w/{workspace}/ciba/...) ----
	const bcAuth, tokenURL = "/w/acme/ciba/bc-authorize", "/w/acme/ciba/token"
	authForm := func(kv ...string) url.Values {
		f := url.Values{"scope": {"openid"}, "login_hint": {"carol@example.com"}}
		for i := 0; i+1 < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	grant := func(h *hostile) url.Values {
		return url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {h.authReqID}}
	}
	add("CIBA/AuthNoClient", 401, fixed(cibaReq(bcAuth, "", authForm())))
	add("CIBA/AuthOtherWorkspaceClient", 401, fixed(cibaReq(bcAuth, "B", authForm())))
	add("CIBA/AuthSecretInBodyAndHeader", 400, func(h *hostile) hreq {
		return cibaReq(bcAuth, "A", authForm("client_id", h.clientA[0], "client_secret", h.clientA[1]))
	})
	add("CIBA/AuthWrongSecretInBody", 401, func(h *hostile) hreq {
		return cibaReq(bcAuth, "", authForm("client_id", h.clientA[0], "client_secret", sqlMeta))
	})
	add("CIBA/AuthMethodGet", 405, fixed(hreq{method: http.MethodGet, path: bcAuth + "?scope=openid&login_hint=x", auth: "A"}))
	add("CIBA/AuthJSONBody", 400, fixed(jsonReq(http.MethodPost, bcAuth, "A", `{"scope":"openid","login_hint":"x"}`)))
	add("CIBA/AuthBodyOverLimit", 400, fixed(cibaReq(bcAuth, "A", authForm("binding_message", big(70<<10)))))
	add("CIBA/AuthDuplicateParameter", 400, fixed(hreq{method: http.MethodPost, path: bcAuth, auth: "A", ctype: "application/x-www-form-urlencoded",
		body: []byte("scope=openid&login_hint=a&login_hint=b")}))
	add("CIBA/AuthBadEscape", 400, fixed(hreq{method: http.MethodPost, path: bcAuth, auth: "A", ctype: "application/x-www-form-urlencoded", body: []byte("scope=openid&login_hint=%zz")}))
	add("CIBA/AuthNoOpenIDScope", 400, fixed(cibaReq(bcAuth, "A", authForm("scope", "profile "+sqlMeta))))
	add("CIBA/AuthNoLoginHint", 400, fixed(cibaReq(bcAuth, "A", authForm("login_hint", ""))))
	add("CIBA/AuthLoginHintNUL", 400, fixed(cibaReq(bcAuth, "A", authForm("login_hint", "carol"+nulMeta))))
	add("CIBA/AuthLoginHintCRLF", 400, fixed(cibaReq(bcAuth, "A", authForm("login_hint", "carol\r\nX-Injected: 1"))))
	add("CIBA/AuthLoginHintTooLong", 400, fixed(cibaReq(bcAuth, "A", authForm("login_hint", big(300)))))
	add("CIBA/AuthBindingMessageTooLong", 400, fixed(cibaReq(bcAuth, "A", authForm("binding_message", big(65)))))
	add("CIBA/AuthBindingMessageControl", 400, fixed(cibaReq(bcAuth, "A", authForm("binding_message", "pay\u0000"+scriptMeta))))
	add("CIBA/AuthRequestedExpiryNegative", 400, fixed(cibaReq(bcAuth, "A", authForm("requested_expiry", "-1"))))
	add("CIBA/AuthRequestedExpiryHuge", 400, fixed(cibaReq(bcAuth, "A", authForm("requested_expiry", "36028797018963969"))))
	add("CIBA/AuthSignedRequestObject", 400, fixed(cibaReq(bcAuth, "A", authForm("request", "eyJhbGciOiJub25lIn0.e30."))))
	add("CIBA/AuthLoginHintToken", 400, fixed(cibaReq(bcAuth, "A", authForm("login_hint_token", tmplMeta))))
	add("CIBA/AuthMobileApplication", 400, fixed(cibaReq(bcAuth, "M", authForm())))
	add("CIBA/TokenNoGrantType", 400, func(h *hostile) hreq { f := grant(h); f.Del("grant_type"); return cibaReq(tokenURL, "A", f) })
	add("CIBA/TokenOtherGrantType", 400, func(h *hostile) hreq {
		f := grant(h)
		f.Set("grant_type", "password")
		return cibaReq(tokenURL, "A", f)
	})
	add("CIBA/TokenNoAuthReqID", 400, func(h *hostile) hreq { f := grant(h); f.Del("auth_req_id"); return cibaReq(tokenURL, "A", f) })
	add("CIBA/TokenUnknownAuthReqID", 400, func(h *hostile) hreq { f := grant(h); f.Set("auth_req_id", sqlMeta); return cibaReq(tokenURL, "A", f) })
	add("CIBA/TokenAuthReqIDTooLong", 400, func(h *hostile) hreq { f := grant(h); f.Set("auth_req_id", big(129)); return cibaReq(tokenURL, "A", f) })
	add("CIBA/TokenOtherApplication", 400, func(h *hostile) hreq { return cibaReq(tokenURL, "M", grant(h)) })
	add("CIBA/TokenOtherWorkspace", 400, func(h *hostile) hreq { return cibaReq("/w/other/ciba/token", "B", grant(h)) })
	add("CIBA/TokenOtherWorkspaceClient", 401, func(h *hostile) hreq { return cibaReq(tokenURL, "B", grant(h)) })
	add("CIBA/TokenNoClient", 401, func(h *hostile) hreq { return cibaReq(tokenURL, "", grant(h)) })
	add("CIBA/TokenMethodGet", 405, fixed(hreq{method: http.MethodGet, path: tokenURL, auth: "A"}))
	add("CIBA/UserinfoNoToken", 401, fixed(hreq{method: http.MethodGet, path: "/w/acme/ciba/userinfo"}))
	add("CIBA/UserinfoForgedToken", 401, fixed(hreq{method: http.MethodGet, path: "/w/acme/ciba/userinfo", header: map[string]string{"Authorization": "Bearer " + sqlMeta}}))
	add("CIBA/UserinfoAuthReqIDAsToken", 401, func(h *hostile) hreq {
		return hreq{method: http.MethodGet, path: "/w/acme/ciba/userinfo", header: map[string]string{"Authorization": "Bearer " + h.authReqID}}
	})
	add("CIBA/UserinfoTokenTooLong", 401, fixed(hreq{method: http.MethodGet, path: "/w/acme/ciba/userinfo", header: map[string]string{"Authorization": "Bearer " + big(200)}}))
	add("CIBA/DiscoveryUnknownWorkspace", 404, fixed(hreq{method: http.MethodGet, path: "/w/" + url.PathEscape(tmplMeta) + "/.well-known/openid-configuration"}))
	add("CIBA/DiscoveryMethodPost", 405, fixed(jsonReq(http.MethodPost, "/w/acme/.well-known/openid-configuration", "", `{}`)))
	add("CIBA/UnknownEndpoint", 404, fixed(cibaReq("/w/acme/ciba/%2e%2e%2fauthorize", "A", authForm())))
	add("Ops/OpenAPIPost", 404, fixed(jsonReq(http.MethodPost, "/openapi.json", "", `{}`)))
	add("Ops/UnknownRoot", 404, fixed(hreq{method: http.MethodGet, path: "/%2e%2e%2fetc%2fpasswd"}))

	// ---- Web pages (/v/) ----
	page := func(path string) func(*hostile) hreq { return fixed(hreq{method: http.MethodGet, path: path}) }
	add("Web/UnknownToken", 404, page("/v/"+b64(make([]byte, 32))))
	add("Web/TokenTooLong", 404, page("/v/"+big(129)))
	add("Web/TokenHuge", 404, page("/v/"+big(60<<10)))
	add("Web/TokenScript", 404, page("/v/"+url.PathEscape(scriptMeta)))
	add("Web/TokenSQL", 404, page("/v/"+url.PathEscape(sqlMeta)))
	add("Web/TokenTemplate", 404, page("/v/"+url.PathEscape(tmplMeta)))
	add("Web/TokenTraversal", 404, page("/v/%2e%2e%2f%2e%2e%2fadmin%2fv1%2fworkspaces"))
	add("Web/TokenNUL", 404, page("/v/abc%00def"))
	add("Web/StaticTraversal", 404, page("/v/static/..%2f..%2fgo.mod"))
	add("Web/EventsUnknown", 404, page("/v/"+url.PathEscape(sqlMeta)+"/events"))
	add("Web/OtherBrowserPage", 403, func(h *hostile) hreq {
		return hreq{method: http.MethodGet, path: "/v/" + h.tokW, cookie: b64(bytes.Repeat([]byte{7}, 32))}
	})
	add("Web/NoCookieEvents", 403, func(h *hostile) hreq { return hreq{method: http.MethodGet, path: "/v/" + h.tokW + "/events"} })
	add("Web/ForgedCookieSQL", 403, func(h *hostile) hreq {
		return hreq{method: http.MethodGet, path: "/v/" + h.tokW + "/events", header: map[string]string{"Cookie": "tandem_b=" + url.QueryEscape(sqlMeta)}}
	})
	add("Web/OtherBrowserPairing", 403, func(h *hostile) hreq {
		return hreq{method: http.MethodGet, path: "/v/" + h.tokW + "/pairing", cookie: h.cookieA}
	})
	add("Web/PairingCrossSite", 403, func(h *hostile) hreq {
		return hreq{method: http.MethodGet, path: "/v/" + h.tokW + "/pairing", cookie: h.cookieW, header: map[string]string{"Sec-Fetch-Site": "cross-site"}}
	})
	add("Web/PairingNotHandover", 409, func(h *hostile) hreq {
		return hreq{method: http.MethodGet, path: "/v/" + h.tokW + "/pairing", cookie: h.cookieW}
	})
	step := func(h *hostile) string { return "/v/" + h.tokW + "/steps/0" }
	add("Web/FormWrongContentType", 400, func(h *hostile) hreq {
		return hreq{method: http.MethodPost, path: step(h), ctype: "application/json", body: []byte(`{"aadhaar_number":"2341 2341 2346"}`)}
	})
	add("Web/FormMultipart", 400, func(h *hostile) hreq {
		return hreq{method: http.MethodPost, path: step(h), ctype: "multipart/form-data; boundary=x", body: []byte("--x\r\nContent-Disposition: form-data; name=\"aadhaar_number\"\r\n\r\n1\r\n--x--\r\n")}
	})
	add("Web/FormNoContentType", 400, func(h *hostile) hreq {
		return hreq{method: http.MethodPost, path: step(h), body: []byte("aadhaar_number=1")}
	})
	add("Web/FormOverLimit", 400, func(h *hostile) hreq {
		return hreq{method: http.MethodPost, path: step(h), ctype: "application/x-www-form-urlencoded", body: []byte("aadhaar_number=" + big(20<<10))}
	})
	add("Web/FormTooManyFields", 400, func(h *hostile) hreq {
		f := url.Values{}
		for i := range 21 {
			f.Set(fmt.Sprintf("f%d", i), "x")
		}
		return formReq(step(h), "", f)
	})
	add("Web/FormFieldTooLong", 400, func(h *hostile) hreq { return formReq(step(h), "", url.Values{"aadhaar_number": {big(1025)}}) })
	add("Web/FormInvalidUTF8", 400, func(h *hostile) hreq {
		return hreq{method: http.MethodPost, path: step(h), ctype: "application/x-www-form-urlencoded", body: []byte("aadhaar_number=%FF%FE")}
	})
	add("Web/FormInvalidUTF8Key", 400, func(h *hostile) hreq {
		return hreq{method: http.MethodPost, path: step(h), ctype: "application/x-www-form-urlencoded", body: []byte("%C3%28=1")}
	})
	add("Web/FormBadEscape", 400, func(h *hostile) hreq {
		return hreq{method: http.MethodPost, path: step(h), ctype: "application/x-www-form-urlencoded", body: []byte("aadhaar_number=%zz")}
	})
	add("Web/FormSQL", 422, func(h *hostile) hreq { return formReq(step(h), h.cookieW, url.Values{"aadhaar_number": {sqlMeta}}) })
	add("Web/FormTemplate", 422, func(h *hostile) hreq { return formReq(step(h), h.cookieW, url.Values{"aadhaar_number": {tmplMeta}}) })
	add("Web/FormScript", 422, func(h *hostile) hreq { return formReq(step(h), h.cookieW, url.Values{"aadhaar_number": {scriptMeta}}) })
	add("Web/FormNUL", 422, func(h *hostile) hreq {
		return formReq(step(h), h.cookieW, url.Values{"aadhaar_number": {"2341" + nulMeta + "23412346"}})
	})
	add("Web/FormEmpty", 422, func(h *hostile) hreq { return formReq(step(h), h.cookieW, url.Values{}) })
	add("Web/FormOtherBrowser", 403, func(h *hostile) hreq {
		return formReq(step(h), h.cookieA, url.Values{"aadhaar_number": {"2341 2341 2346"}})
	})
	add("Web/FormCrossSite", 403, func(h *hostile) hreq {
		r := formReq(step(h), h.cookieW, url.Values{"aadhaar_number": {"2341 2341 2346"}})
		r.header = map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
		return r
	})
	add("Web/StepNotANumber", 400, func(h *hostile) hreq {
		return formReq("/v/"+h.tokW+"/steps/"+url.PathEscape(sqlMeta), h.cookieW, url.Values{"aadhaar_number": {"1"}})
	})
	add("Web/StepNegative", 400, func(h *hostile) hreq {
		return formReq("/v/"+h.tokW+"/steps/-1", h.cookieW, url.Values{"aadhaar_number": {"1"}})
	})
	add("Web/StepOverflow", 400, func(h *hostile) hreq {
		return formReq("/v/"+h.tokW+"/steps/99999999999999999999999", h.cookieW, url.Values{"aadhaar_number": {"1"}})
	})
	add("Web/StepMissing", 400, func(h *hostile) hreq {
		return formReq("/v/"+h.tokW+"/steps/7", h.cookieW, url.Values{"aadhaar_number": {"1"}})
	})
	add("Web/StepUnknownToken", 404, fixed(formReq("/v/"+url.PathEscape(tmplMeta)+"/steps/0", "", url.Values{"aadhaar_number": {"2341 2341 2346"}})))
	loc := func(h *hostile, body string) hreq {
		return hreq{method: http.MethodPost, path: "/v/" + h.tokW + "/location", ctype: "application/json", body: []byte(body)}
	}
	add("Web/LocationWrongContentType", 415, func(h *hostile) hreq {
		r := loc(h, `{"lat":1,"lon":1,"accuracy_m":1}`)
		r.ctype = "application/x-www-form-urlencoded"
		return r
	})
	add("Web/LocationOverLimit", 413, func(h *hostile) hreq { return loc(h, `{"lat":1,"lon":1,"accuracy_m":1,"x":"`+big(2000)+`"}`) })
	add("Web/LocationNesting10000", 413, func(h *hostile) hreq { return loc(h, nest("[", "1", "]", 10000)) })
	add("Web/LocationNesting", 422, func(h *hostile) hreq { return loc(h, `{"lat":`+nest("[", "1", "]", 400)+`}`) })
	add("Web/LocationLatString", 422, func(h *hostile) hreq { return loc(h, `{"lat":"12.9","lon":80.2,"accuracy_m":10}`) })
	add("Web/LocationLatSQL", 422, func(h *hostile) hreq { return loc(h, `{"lat":"`+sqlMeta+`","lon":80.2,"accuracy_m":10}`) })
	add("Web/LocationUnknownField", 422, func(h *hostile) hreq { return loc(h, `{"lat":12.9,"lon":80.2,"accuracy_m":10,"mock":false}`) })
	add("Web/LocationDuplicateKey", 422, func(h *hostile) hreq { return loc(h, `{"lat":12.9,"lat":0,"lon":80.2,"accuracy_m":10}`) })
	add("Web/LocationMissing", 422, func(h *hostile) hreq { return loc(h, `{"lat":12.9}`) })
	add("Web/LocationEmpty", 422, func(h *hostile) hreq { return loc(h, ``) })
	add("Web/LocationNaN", 422, func(h *hostile) hreq { return loc(h, `{"lat":NaN,"lon":80.2,"accuracy_m":10}`) })
	add("Web/LocationOutOfFloat", 422, func(h *hostile) hreq { return loc(h, `{"lat":1e400,"lon":80.2,"accuracy_m":10}`) })
	add("Web/LocationOutOfRange", 422, func(h *hostile) hreq { return loc(h, `{"lat":91,"lon":181,"accuracy_m":-1}`) })
	add("Web/LocationAgeNegative", 422, func(h *hostile) hreq { return loc(h, `{"lat":1,"lon":1,"accuracy_m":1,"age_ms":-1}`) })
	add("Web/LocationAgeOverflow", 422, func(h *hostile) hreq { return loc(h, `{"lat":1,"lon":1,"accuracy_m":1,"age_ms":9223372036854775808}`) })
	add("Web/LocationInvalidUTF8", 422, func(h *hostile) hreq { return loc(h, "{\"lat\":1,\"lon\":1,\"accuracy_m\":1,\"\xff\":1}") })
	add("Web/LocationOtherBrowser", 403, func(h *hostile) hreq {
		r := loc(h, `{"lat":12.9,"lon":80.2,"accuracy_m":10}`)
		r.cookie = h.cookieA
		return r
	})
	add("Web/LocationNotWaiting", 409, func(h *hostile) hreq {
		return hreq{method: http.MethodPost, path: "/v/" + h.tokA + "/location", ctype: "application/json", cookie: h.cookieA, body: []byte(`{"lat":12.9,"lon":80.2,"accuracy_m":10}`)}
	})
	add("Web/LocationCrossSite", 403, func(h *hostile) hreq {
		r := loc(h, `{"lat":12.9,"lon":80.2,"accuracy_m":10}`)
		r.cookie = h.cookieW
		r.header = map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
		return r
	})
	add("Web/MethodPut", 0, func(h *hostile) hreq {
		return hreq{method: http.MethodPut, path: "/v/" + h.tokW, cookie: h.cookieW, ctype: "text/html", body: []byte("<h1>x</h1>")}
	})
	add("Web/MethodDeleteLocation", 0, func(h *hostile) hreq {
		return hreq{method: http.MethodDelete, path: "/v/" + h.tokW + "/location", cookie: h.cookieW}
	})
	add("Web/MethodPostPage", 0, func(h *hostile) hreq {
		return formReq("/v/"+h.tokW, h.cookieW, url.Values{"aadhaar_number": {"2341 2341 2346"}})
	})

	// ---- Device protocol (/device/v1) ----
	pairHeader := func(key *ecdsa.PrivateKey) map[string]any {
		return map[string]any{"alg": "ES256", "typ": deviceproto.TypPair, "jwk": publicJWKMap(key)}
	}
	pairClaims := func(token string) deviceproto.PairClaims {
		return deviceproto.PairClaims{PairingToken: token, IssuedAt: time.Now().Unix()}
	}
	newKey := func(c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	pair := func(jws func(h *hostile) string) func(*hostile) hreq {
		return func(h *hostile) hreq { return deviceReq("/device/v1/pair", jws(h)) }
	}
	session := func(jws func(h *hostile) string) func(*hostile) hreq {
		return func(h *hostile) hreq { return deviceReq("/device/v1/session", jws(h)) }
	}
	add("Device/PairAlgNone", 401, pair(func(h *hostile) string {
		return b64JSON(map[string]any{"alg": "none", "typ": deviceproto.TypPair, "jwk": publicJWKMap(h.phone)}) + "." + b64JSON(pairClaims(h.pairToken)) + "."
	}))
	add("Device/PairHS256WithPublicKey", 401, pair(func(h *hostile) string {
		in := b64JSON(map[string]any{"alg": "HS256", "typ": deviceproto.TypPair, "jwk": publicJWKMap(h.phone)}) + "." + b64JSON(pairClaims(h.pairToken))
		mac := hmac.New(sha256.New, h.pubJWK)
		mac.Write([]byte(in))
		return in + "." + b64(mac.Sum(nil))
	}))
	add("Device/PairES384", 401, pair(func(h *hostile) string {
		k := newKey(elliptic.P384())
		return signEC(k, crypto.SHA384, map[string]any{"alg": "ES384", "typ": deviceproto.TypPair, "jwk": publicJWKMap(k)}, pairClaims("x"))
	}))
	add("Device/PairWrongCurveP384", 401, pair(func(h *hostile) string {
		k := newKey(elliptic.P384())
		return signEC(k, crypto.SHA256, pairHeader(k), pairClaims("x"))
	}))
	add("Device/PairInvalidPoint", 401, pair(func(h *hostile) string {
		k := newKey(elliptic.P256())
		hdr := pairHeader(k)
		jwk := hdr["jwk"].(map[string]any)
		x := make([]byte, 32)
		x[31] = 1
		jwk["x"], jwk["y"] = b64(x), b64(x) // (1, 1) is not on P-256
		return signEC(k, crypto.SHA256, hdr, pairClaims("x"))
	}))
	add("Device/PairTruncatedSignature", 401, pair(func(h *hostile) string {
		jws := signEC(h.phone, crypto.SHA256, pairHeader(h.phone), pairClaims("x"))
		return jws[:len(jws)-8]
	}))
	add("Device/PairSwappedPayload", 401, pair(func(h *hostile) string {
		parts := strings.Split(signEC(h.phone, crypto.SHA256, pairHeader(h.phone), pairClaims("x")), ".")
		return parts[0] + "." + b64JSON(pairClaims(h.pairToken)) + "." + parts[2]
	}))
	add("Device/PairKeyNotTheSigner", 401, pair(func(h *hostile) string {
		return signEC(newKey(elliptic.P256()), crypto.SHA256, pairHeader(h.phone), pairClaims("x"))
	}))
	add("Device/PairPrivateKeyInHeader", 401, pair(func(h *hostile) string {
		k := newKey(elliptic.P256())
		b, _ := (&jose.JSONWebKey{Key: k}).MarshalJSON()
		var jwk map[string]any
		json.Unmarshal(b, &jwk)
		return signEC(k, crypto.SHA256, map[string]any{"alg": "ES256", "typ": deviceproto.TypPair, "jwk": jwk}, pairClaims("x"))
	}))
	add("Device/PairNoKey", 401, pair(func(h *hostile) string {
		return signEC(h.phone, crypto.SHA256, map[string]any{"alg": "ES256", "typ": deviceproto.TypPair}, pairClaims("x"))
	}))
	add("Device/PairWrongTyp", 401, pair(func(h *hostile) string {
		return signEC(h.phone, crypto.SHA256, map[string]any{"alg": "ES256", "typ": deviceproto.TypRequest, "jwk": publicJWKMap(h.phone)}, pairClaims("x"))
	}))
	add("Device/PairUnknownCrit", 401, pair(func(h *hostile) string {
		hdr := pairHeader(h.phone)
		hdr["crit"], hdr["exp"] = []string{"exp"}, 1
		return signEC(h.phone, crypto.SHA256, hdr, pairClaims("x"))
	}))
	add("Device/PairReplayedToken", 404, pair(func(h *hostile) string {
		jws, _ := deviceproto.SignPair(newKey(elliptic.P256()), pairClaims(h.pairToken))
		return jws
	}))
	add("Device/PairUnknownToken", 404, pair(func(h *hostile) string {
		jws, _ := deviceproto.SignPair(newKey(elliptic.P256()), pairClaims(sqlMeta))
		return jws
	}))
	add("Device/PairStaleIAT", 401, pair(func(h *hostile) string {
		jws, _ := deviceproto.SignPair(newKey(elliptic.P256()), deviceproto.PairClaims{PairingToken: h.pairToken, IssuedAt: time.Now().Add(-time.Hour).Unix()})
		return jws
	}))
	add("Device/PairPayloadNotJSON", 401, pair(func(h *hostile) string {
		in := b64JSON(pairHeader(h.phone)) + "." + b64([]byte("{{.}}"))
		d := sha256.Sum256([]byte(in))
		r, s, _ := ecdsa.Sign(rand.Reader, h.phone, d[:])
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return in + "." + b64(sig)
	}))
	add("Device/PairJSONSerialization", 401, pair(func(h *hostile) string {
		jws := signEC(h.phone, crypto.SHA256, pairHeader(h.phone), pairClaims("x"))
		p := strings.Split(jws, ".")
		return `{"protected":"` + p[0] + `","payload":"` + p[1] + `","signature":"` + p[2] + `"}`
	}))
	add("Device/PairGarbage", 401, pair(func(*hostile) string { return sqlMeta + "." + tmplMeta + "." + scriptMeta }))
	add("Device/SessionAlgNone", 401, session(func(h *hostile) string {
		return b64JSON(map[string]any{"alg": "none", "typ": deviceproto.TypRequest, "kid": h.credID}) + "." + b64JSON(h.sessionClaims(h.freshChallenge)) + "."
	}))
	add("Device/SessionHS256WithPublicKey", 401, session(func(h *hostile) string {
		in := b64JSON(map[string]any{"alg": "HS256", "typ": deviceproto.TypRequest, "kid": h.credID}) + "." + b64JSON(h.sessionClaims(h.freshChallenge))
		mac := hmac.New(sha256.New, h.pubJWK)
		mac.Write([]byte(in))
		return in + "." + b64(mac.Sum(nil))
	}))
	add("Device/SessionES384", 401, session(func(h *hostile) string {
		return signEC(newKey(elliptic.P384()), crypto.SHA384, map[string]any{"alg": "ES384", "typ": deviceproto.TypRequest, "kid": h.credID}, h.sessionClaims(h.freshChallenge))
	}))
	add("Device/SessionWrongCurve", 401, session(func(h *hostile) string {
		return signEC(newKey(elliptic.P384()), crypto.SHA256, map[string]any{"alg": "ES256", "typ": deviceproto.TypRequest, "kid": h.credID}, h.sessionClaims(h.freshChallenge))
	}))
	add("Device/SessionOtherKey", 401, session(func(h *hostile) string {
		return h.signRequest(newKey(elliptic.P256()), h.sessionClaims(h.freshChallenge))
	}))
	add("Device/SessionSwappedPayload", 401, session(func(h *hostile) string {
		p := strings.Split(h.usedAnswerJWS, ".")
		return p[0] + "." + b64JSON(h.sessionClaims(h.freshChallenge)) + "." + p[2]
	}))
	add("Device/SessionTruncatedSignature", 401, session(func(h *hostile) string {
		jws := h.signRequest(h.phone, h.sessionClaims(h.freshChallenge))
		return jws[:len(jws)-11]
	}))
	add("Device/SessionSignatureOfZeros", 401, session(func(h *hostile) string {
		p := strings.Split(h.signRequest(h.phone, h.sessionClaims(h.freshChallenge)), ".")
		return p[0] + "." + p[1] + "." + b64(make([]byte, 64))
	}))
	add("Device/SessionReplayedChallenge", 401, session(func(h *hostile) string { return h.signRequest(h.phone, h.sessionClaims(h.usedChallenge)) }))
	add("Device/AnswerReplayed", 401, func(h *hostile) hreq { return deviceReq("/device/v1/answer", h.usedAnswerJWS) })
	add("Device/AnswerWrongAction", 400, func(h *hostile) hreq {
		return deviceReq("/device/v1/answer", h.signRequest(h.phone, h.sessionClaims(h.freshChallenge)))
	})
	add("Device/SessionStaleIAT", 401, session(func(h *hostile) string {
		c := h.sessionClaims(h.freshChallenge)
		c.IssuedAt = time.Now().Add(10 * time.Minute).Unix()
		return h.signRequest(h.phone, c)
	}))
	add("Device/SessionCredIDMismatch", 401, session(func(h *hostile) string {
		c := h.sessionClaims(h.freshChallenge)
		c.CredID = strings.Repeat("0", 32)
		return signEC(h.phone, crypto.SHA256, map[string]any{"alg": "ES256", "typ": deviceproto.TypRequest, "kid": h.credID}, c)
	}))
	add("Device/SessionUnknownKid", 401, session(func(h *hostile) string {
		c := h.sessionClaims(h.freshChallenge)
		c.CredID = strings.Repeat("f", 32)
		return h.signRequest(h.phone, c)
	}))
	add("Device/SessionKidSQL", 401, session(func(h *hostile) string {
		c := h.sessionClaims(h.freshChallenge)
		c.CredID = sqlMeta
		return h.signRequest(h.phone, c)
	}))
	add("Device/SessionKidTraversal", 401, session(func(h *hostile) string {
		c := h.sessionClaims(h.freshChallenge)
		c.CredID = "../../../../etc/passwd"
		return h.signRequest(h.phone, c)
	}))
	add("Device/SessionPairTyp", 401, session(func(h *hostile) string {
		jws, _ := deviceproto.SignPair(h.phone, pairClaims(h.pairToken))
		return jws
	}))
	add("Device/AnswerCrossTenant", 403, func(h *hostile) hreq {
		var ch deviceproto.ChallengeResponse
		h.must(jsonReq(http.MethodPost, "/device/v1/challenge", "", deviceproto.ChallengeRequest{CredID: h.credID}), http.StatusOK, &ch)
		step := 0
		return deviceReq("/device/v1/answer", h.signRequest(h.phone, deviceproto.RequestClaims{Challenge: ch.Challenge, Action: deviceproto.ActionAnswer, VerificationID: h.vB, Step: &step,
			Answer: map[string]json.RawMessage{"pan_number": json.RawMessage(`"ABCPE1234F"`)}}))
	})
	add("Device/AcceptCrossTenant", 403, func(h *hostile) hreq {
		var ch deviceproto.ChallengeResponse
		h.must(jsonReq(http.MethodPost, "/device/v1/challenge", "", deviceproto.ChallengeRequest{CredID: h.credID}), http.StatusOK, &ch)
		return deviceReq("/device/v1/accept", h.signRequest(h.phone, deviceproto.RequestClaims{Challenge: ch.Challenge, Action: deviceproto.ActionAccept, VerificationID: h.vB}))
	})
	add("Device/AcceptUnknownVerification", 404, func(h *hostile) hreq {
		var ch deviceproto.ChallengeResponse
		h.must(jsonReq(http.MethodPost, "/device/v1/challenge", "", deviceproto.ChallengeRequest{CredID: h.credID}), http.StatusOK, &ch)
		return deviceReq("/device/v1/accept", h.signRequest(h.phone, deviceproto.RequestClaims{Challenge: ch.Challenge, Action: deviceproto.ActionAccept, VerificationID: "../" + sqlMeta}))
	})
	add("Device/BodyOverLimit", 413, fixed(jsonReq(http.MethodPost, "/device/v1/session", "", `{"jws":"`+big(70<<10)+`"}`)))
	add("Device/Nesting10000", 400, fixed(jsonReq(http.MethodPost, "/device/v1/pair", "", `{"jws":`+nest("[", `"x"`, "]", 10000)+`}`)))
	add("Device/Nesting10000Objects", 413, fixed(jsonReq(http.MethodPost, "/device/v1/pair", "", nest(`{"jws":`, `"x"`, "}", 10000))))
	add("Device/InvalidUTF8", 400, fixed(jsonReq(http.MethodPost, "/device/v1/pair", "", []byte("{\"jws\":\"a.b.\xff\"}"))))
	add("Device/EnvelopeUnknownField", 400, fixed(jsonReq(http.MethodPost, "/device/v1/pair", "", `{"jws":"a.b.c","alg":"none"}`)))
	add("Device/EnvelopeDuplicateKey", 400, fixed(jsonReq(http.MethodPost, "/device/v1/pair", "", `{"jws":"a.b.c","jws":"d.e.f"}`)))
	add("Device/EnvelopeWrongType", 400, fixed(jsonReq(http.MethodPost, "/device/v1/answer", "", `{"jws":["a","b","c"]}`)))
	add("Device/EnvelopeEmptyJWS", 400, fixed(jsonReq(http.MethodPost, "/device/v1/answer", "", `{"jws":""}`)))
	add("Device/EmptyBody", 400, fixed(jsonReq(http.MethodPost, "/device/v1/session", "", "")))
	add("Device/NULInJWS", 401, fixed(jsonReq(http.MethodPost, "/device/v1/session", "", `{"jws":"a\u0000.b.c"}`)))
	add("Device/ChallengeShortCredID", 400, fixed(jsonReq(http.MethodPost, "/device/v1/challenge", "", `{"cred_id":"abc"}`)))
	add("Device/ChallengeCredIDSQL", 401, fixed(jsonReq(http.MethodPost, "/device/v1/challenge", "", `{"cred_id":"`+(sqlMeta + strings.Repeat(" ", 32))[:32]+`"}`)))
	add("Device/ChallengeCredIDTemplate", 401, fixed(jsonReq(http.MethodPost, "/device/v1/challenge", "", `{"cred_id":"`+(tmplMeta + strings.Repeat("x", 32))[:32]+`"}`)))
	add("Device/ChallengeUnknown", 401, fixed(jsonReq(http.MethodPost, "/device/v1/challenge", "", `{"cred_id":"`+strings.Repeat("a", 32)+`"}`)))
	add("Device/ChallengeWrongType", 400, fixed(jsonReq(http.MethodPost, "/device/v1/challenge", "", `{"cred_id":12345678901234567890123456789012}`)))
	add("Device/InboxWaitTooLong", 400, func(h *hostile) hreq {
		return deviceReq("/device/v1/inbox?wait=1h", h.signRequest(h.phone, deviceproto.RequestClaims{Challenge: h.freshChallenge, Action: deviceproto.ActionInbox}))
	})
	add("Device/InboxWaitSQL", 400, func(h *hostile) hreq {
		return deviceReq("/device/v1/inbox?wait="+url.QueryEscape(sqlMeta), h.signRequest(h.phone, deviceproto.RequestClaims{Challenge: h.freshChallenge, Action: deviceproto.ActionInbox}))
	})
	add("Device/MethodGet", 404, fixed(hreq{method: http.MethodGet, path: "/device/v1/pair"}))
	add("Device/UnknownEndpoint", 404, fixed(jsonReq(http.MethodPost, "/device/v1/%2e%2e%2f%2e%2e%2fadmin%2fv1%2fworkspaces", "", `{}`)))
	return cs
}

// adminCall is a JSON request with the admin token.
func adminCall(method, path, body string) func(*hostile) hreq {
	return func(*hostile) hreq { return jsonReq(method, path, "admin", body) }
}

func TestHostileInput(t *testing.T) {
	h := setupHostile(t)
	cases := hostileCases()
	if len(cases) < 100 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("case %s is listed twice", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			r := tc.build(h)
			before := h.fingerprint()
			res := h.do(r)
			switch {
			case res.status == http.StatusTooManyRequests:
				t.Fatalf("%s %s: rate limited; the case did not reach its check: %s", r.method, r.path, res.body)
			case res.status >= 500:
				t.Errorf("%s %s: status %d (a server failure), want a 4xx; body %s", r.method, r.path, res.status, res.body)
			case res.status < 400:
				t.Errorf("%s %s: status %d, want a 4xx; body %.300s", r.method, r.path, res.status, res.body)
			case tc.want != 0 && res.status != tc.want:
				t.Errorf("%s %s: status %d, want %d; body %.300s", r.method, r.path, res.status, tc.want, res.body)
			}
			if message(res) == "" {
				t.Errorf("%s %s: status %d with no message (Content-Type %q): %.300s", r.method, r.path, res.status, res.header.Get("Content-Type"), res.body)
			}
			if ct := res.header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") && (bytes.Contains(res.body, []byte(scriptMeta)) || bytes.Contains(res.body, []byte("<script>alert"))) {
				t.Errorf("%s %s: the page reflects a script unescaped", r.method, r.path)
			}
			if after := h.fingerprint(); after != before {
				t.Errorf("%s %s (status %d) changed the database (-before +after):\n%s", r.method, r.path, res.status, cmp.Diff(before, after))
			}
		})
	}
	h.t = t

	// Values that are legal although they look hostile are stored and
	// shown exactly as given, and escaped in HTML.
	t.Run("Verbatim", func(t *testing.T) {
		h.t = t
		hostileVerbatim(h)
	})
}

// hostileVerbatim checks values that look hostile but are legal: a user id
// or a display name may hold quotes, braces and angle brackets.
func hostileVerbatim(h *hostile) {
	t := h.t
	const odd = sqlMeta + " " + tmplMeta + " " + scriptMeta + ` "\ é 🙂`
	doc := map[string]any{
		"applications": []any{map[string]any{"name": "web", "verification_way": "web", "workflow": "kyc"}},
		"workflows": []any{map[string]any{"name": "kyc", "modules": []any{
			map[string]any{"type": "verify_aadhaar", "display_name": odd, "description": odd},
		}}},
	}
	h.must(jsonReq(http.MethodPut, "/admin/v1/workspaces/tmpl", "admin", doc), http.StatusOK, nil)
	var got struct {
		Workflows []struct {
			Modules []struct {
				DisplayName string `json:"display_name"`
			} `json:"modules"`
		} `json:"workflows"`
	}
	h.must(jsonReq(http.MethodGet, "/admin/v1/workspaces/tmpl", "admin", nil), http.StatusOK, &got)
	if len(got.Workflows) != 1 || got.Workflows[0].Modules[0].DisplayName != odd {
		t.Errorf("display name stored as %+v, want %q", got, odd)
	}
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	h.must(jsonReq(http.MethodPost, "/admin/v1/workspaces/tmpl/applications/web/secrets", "admin", nil), http.StatusCreated, &cred)
	client := func(r hreq) hreq {
		r.header = map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(cred.ClientID+":"+cred.ClientSecret))}
		return r
	}
	var created struct {
		RequestID string `json:"request_id"`
		URL       string `json:"url"`
	}
	h.must(client(jsonReq(http.MethodPost, "/v1/verifications", "", map[string]any{
		"user_id": odd, "user_agent": odd, "metadata": map[string]any{odd: odd, "nested": []any{odd, map[string]any{"q": odd}}},
	})), http.StatusCreated, &created)
	var v struct {
		UserID string `json:"user_id"`
	}
	h.must(client(jsonReq(http.MethodGet, "/v1/verifications/"+created.RequestID, "", nil)), http.StatusOK, &v)
	if v.UserID != odd {
		t.Errorf("user_id stored as %q, want %q", v.UserID, odd)
	}
	_, tok, _ := strings.Cut(created.URL, "/v/")
	page := h.must(hreq{method: http.MethodGet, path: "/v/" + tok}, http.StatusOK, nil)
	if bytes.Contains(page.body, []byte("<script>alert")) || !bytes.Contains(page.body, []byte("&lt;script&gt;alert(1)&lt;/script&gt;")) {
		t.Errorf("the page does not show the display name escaped:\n%s", page.body)
	}
	if !bytes.Contains(page.body, []byte(tmplMeta)) {
		t.Errorf("the page does not show %q as text", tmplMeta)
	}
	// The landing page of a pairing link shows the link, escaped.
	landing := h.must(hreq{method: http.MethodGet, path: "/d/" + url.PathEscape(scriptMeta)}, http.StatusOK, nil)
	if bytes.Contains(landing.body, []byte("<script>alert")) {
		t.Errorf("the landing page reflects a script unescaped:\n%s", landing.body)
	}
	// A device list of a user id full of metacharacters is just empty.
	list := h.must(jsonReq(http.MethodGet, "/admin/v1/workspaces/acme/users/"+url.PathEscape(sqlMeta)+"/devices", "admin", nil), http.StatusOK, nil)
	if strings.TrimSpace(string(list.body)) != "[]" {
		t.Errorf("devices of %q: %s, want []", sqlMeta, list.body)
	}
}
