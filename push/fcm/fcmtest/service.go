// Package fcmtest is a fake of Firebase Cloud Messaging for tests: an
// httptest server on loopback that plays both Google's OAuth 2.0 token
// endpoint (the JWT bearer grant of service accounts, RFC 7523) and the FCM
// HTTP v1 send endpoint. It holds its own service account (a fresh RSA key)
// and writes the account's JSON key file with token_uri pointing at itself.
// It checks what a client sends with the standard library only,
// independently of package fcm: the assertion's RS256 signature and claims,
// the bearer token, the project in the path, the message's JSON shape.
package fcmtest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scope is the OAuth 2.0 scope a token request must ask for.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// GrantType is the grant type of a service account's token request.
const GrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// Failure is how the send endpoint answers a message to one registration
// token, in FCM's error model.
type Failure struct {
	Code      int    // HTTP status
	Status    string // google.rpc status
	ErrorCode string // FcmError errorCode; "" for none
	Message   string
	// TokenViolation adds a google.rpc.BadRequest detail naming
	// message.token.
	TokenViolation bool
	// RetryAfter is the Retry-After header, when not "".
	RetryAfter string
}

// The failures FCM answers most often.
var (
	Unregistered     = Failure{Code: 404, Status: "NOT_FOUND", ErrorCode: "UNREGISTERED", Message: "Requested entity was not found."}
	InvalidToken     = Failure{Code: 400, Status: "INVALID_ARGUMENT", ErrorCode: "INVALID_ARGUMENT", Message: "The registration token is not a valid FCM registration token", TokenViolation: true}
	Internal         = Failure{Code: 500, Status: "INTERNAL", ErrorCode: "INTERNAL", Message: "Internal error encountered."}
	Unavailable      = Failure{Code: 503, Status: "UNAVAILABLE", ErrorCode: "UNAVAILABLE", Message: "The service is currently unavailable.", RetryAfter: "10"}
	QuotaExceeded    = Failure{Code: 429, Status: "RESOURCE_EXHAUSTED", ErrorCode: "QUOTA_EXCEEDED", Message: "Quota exceeded for quota metric 'Messages'.", RetryAfter: "30"}
	PermissionDenied = Failure{Code: 403, Status: "PERMISSION_DENIED", Message: "Permission 'cloudmessaging.messages.create' denied on resource (or it may not exist)."}
)

// Message is one send request the fake received.
type Message struct {
	Path   string
	Header http.Header
	Body   []byte
	// Message is the "message" member of the body, decoded (nil when the
	// body is not JSON).
	Message map[string]any
	// Token is message.token.
	Token string
	// Err says why the fake refused the request (authorization, project,
	// shape); nil when it was accepted or refused by a configured Failure.
	Err error
}

// Service is the fake. Its fields may be changed before the first request.
type Service struct {
	*httptest.Server
	ProjectID   string
	ClientEmail string
	KeyID       string
	Key         *rsa.PrivateKey
	// TokenLifetime is the expires_in of the access tokens; 0 is an hour.
	TokenLifetime time.Duration
	// Now is the clock the assertions and access tokens are checked
	// against; nil is time.Now.
	Now func() time.Time

	mu          sync.Mutex
	tokenReqs   int
	tokenErrs   []error
	issued      map[string]time.Time // access token → expiry
	refuseGrant string
	messages    []Message
	failures    map[string]Failure
	seq         int
	lastClaims  map[string]any
}

// New starts the fake on a loopback address; it is closed when the test
// ends.
func New(t testing.TB) *Service {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{
		ProjectID:   "tandem-test-4f2a",
		ClientEmail: "tandem-push@tandem-test-4f2a.iam.gserviceaccount.com",
		KeyID:       "5c7e1d2b9a0f3e4d6c8b7a695847362514039281",
		Key:         key,
		issued:      map[string]time.Time{},
		failures:    map[string]Failure{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// TokenURI is the fake's token endpoint.
func (s *Service) TokenURI() string { return s.URL + "/token" }

// CredentialsJSON returns the service account's JSON key file, as Google
// issues them (PKCS #8 key, token_uri pointing at the fake).
func (s *Service) CredentialsJSON() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(s.Key)
	if err != nil {
		panic(err)
	}
	b, _ := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  s.ProjectID,
		"private_key_id":              s.KeyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                s.ClientEmail,
		"client_id":                   "104857362514039281756",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   s.TokenURI(),
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	return b
}

// WriteCredentials writes CredentialsJSON to a file in a temporary
// directory of the test and returns its path.
func (s *Service) WriteCredentials(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, s.CredentialsJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Fail makes the send endpoint answer f to every later message to token;
// a zero Failure makes it accept them again.
func (s *Service) Fail(token string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Code == 0 {
		delete(s.failures, token)
		return
	}
	s.failures[token] = f
}

// RevokeAccessTokens makes every access token issued so far invalid: the
// send endpoint answers 401 to them.
func (s *Service) RevokeAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.issued)
}

// RefuseGrants makes the token endpoint answer 400 invalid_grant with
// description to every later token request (a deleted or disabled key);
// "" makes it grant them again.
func (s *Service) RefuseGrants(description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseGrant = description
}

// TokenRequests is the number of token requests received, refused ones
// included.
func (s *Service) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenReqs
}

// TokenErrors are why the token requests that did not follow the JWT bearer
// grant were refused (not those refused by RefuseGrants).
func (s *Service) TokenErrors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.tokenErrs)
}

// LastAssertion is the claims of the last valid assertion.
func (s *Service) LastAssertion() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastClaims
}

// Messages returns the send requests received so far.
func (s *Service) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/token":
		s.serveToken(w, r)
	case strings.HasPrefix(r.URL.Path, "/v1/projects/"):
		s.serveSend(w, r)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// serveToken is Google's token endpoint for the JWT bearer grant.
func (s *Service) serveToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.tokenReqs++
	refuse := s.refuseGrant
	s.mu.Unlock()
	claims, err := s.checkTokenRequest(r)
	if err != nil {
		s.mu.Lock()
		s.tokenErrs = append(s.tokenErrs, err)
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": err.Error()})
		return
	}
	if refuse != "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": refuse})
		return
	}
	lifetime := s.TokenLifetime
	if lifetime <= 0 {
		lifetime = time.Hour
	}
	s.mu.Lock()
	s.seq++
	tok := fmt.Sprintf("ya29.fake-%d-%s", s.seq, randomString())
	s.issued[tok] = s.now().Add(lifetime)
	s.lastClaims = claims
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(lifetime / time.Second), "token_type": "Bearer"})
}

func randomString() string {
	b := make([]byte, 12)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// checkTokenRequest checks a token request and returns the assertion's
// claims.
func (s *Service) checkTokenRequest(r *http.Request) (map[string]any, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("method %s, want POST", r.Method)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, fmt.Errorf("content type %q, want a form", ct)
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	if g := r.PostForm.Get("grant_type"); g != GrantType {
		return nil, fmt.Errorf("grant_type %q, want %q", g, GrantType)
	}
	parts := strings.Split(r.PostForm.Get("assertion"), ".")
	if len(parts) != 3 {
		return nil, errors.New("the assertion is not a compact JWS")
	}
	var header struct {
		Alg, Typ, Kid string
	}
	if err := decodeSegment(parts[0], &header); err != nil {
		return nil, fmt.Errorf("assertion header: %w", err)
	}
	if header.Alg != "RS256" {
		return nil, fmt.Errorf("assertion alg %q, want RS256", header.Alg)
	}
	if header.Kid != "" && header.Kid != s.KeyID {
		return nil, fmt.Errorf("assertion kid %q, want %q", header.Kid, s.KeyID)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("assertion signature: %w", err)
	}
	h := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&s.Key.PublicKey, crypto.SHA256, h[:], sig); err != nil {
		return nil, errors.New("the assertion's signature does not verify with the service account's key")
	}
	var claims map[string]any
	if err := decodeSegment(parts[1], &claims); err != nil {
		return nil, fmt.Errorf("assertion claims: %w", err)
	}
	if claims["iss"] != s.ClientEmail {
		return nil, fmt.Errorf("iss %v, want %q", claims["iss"], s.ClientEmail)
	}
	if sc, _ := claims["scope"].(string); !slices.Contains(strings.Fields(sc), Scope) {
		return nil, fmt.Errorf("scope %q does not hold %q", sc, Scope)
	}
	if claims["aud"] != s.TokenURI() {
		return nil, fmt.Errorf("aud %v, want %q", claims["aud"], s.TokenURI())
	}
	iat, ok1 := claims["iat"].(float64)
	exp, ok2 := claims["exp"].(float64)
	if !ok1 || !ok2 {
		return nil, errors.New("iat and exp must be numbers")
	}
	now := float64(s.now().Unix())
	switch {
	case iat > now+60:
		return nil, fmt.Errorf("iat %d is in the future", int64(iat))
	case exp <= now:
		return nil, fmt.Errorf("exp %d has passed", int64(exp))
	case exp-iat > 3600:
		return nil, fmt.Errorf("exp - iat is %ds; at most an hour", int64(exp-iat))
	}
	return claims, nil
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

var sendPathRE = regexp.MustCompile(`^/v1/projects/([^/]+)/messages:send$`)

// serveSend is the FCM HTTP v1 send endpoint.
func (s *Service) serveSend(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	m := Message{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	answer := func(code int, status, msg string) {
		m.Err = fmt.Errorf("%d %s: %s", code, status, msg)
		s.record(m)
		writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
	}
	if r.Method != http.MethodPost {
		answer(405, "METHOD_NOT_ALLOWED", "POST only")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	exp, issued := s.issued[tok]
	s.mu.Unlock()
	if !ok || !issued || !s.now().Before(exp) {
		answer(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	pm := sendPathRE.FindStringSubmatch(r.URL.Path)
	if pm == nil || pm[1] != s.ProjectID {
		answer(404, "NOT_FOUND", "Requested entity was not found.")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		answer(400, "INVALID_ARGUMENT", fmt.Sprintf("content type %q is not JSON", ct))
		return
	}
	var raw struct {
		Message map[string]any `json:"message"`
	}
	if json.Unmarshal(body, &raw) == nil {
		m.Message = raw.Message
		m.Token, _ = raw.Message["token"].(string)
	}
	if err := checkShape(body); err != nil {
		answer(400, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
		return
	}
	s.mu.Lock()
	f, failing := s.failures[m.Token]
	s.seq++
	id := s.seq
	s.mu.Unlock()
	s.record(m)
	if failing {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		var details []any
		if f.ErrorCode != "" {
			details = append(details, map[string]any{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": f.ErrorCode})
		}
		if f.TokenViolation {
			details = append(details, map[string]any{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": []any{
				map[string]any{"field": "message.token", "description": "Invalid registration token"}}})
		}
		e := map[string]any{"code": f.Code, "message": f.Message, "status": f.Status}
		if details != nil {
			e["details"] = details
		}
		writeJSON(w, f.Code, map[string]any{"error": e})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": fmt.Sprintf("projects/%s/messages/0:%d%%%s", s.ProjectID, id, "a1b2c3d4e5f6")})
}

func (s *Service) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
}

// sendRequest is the subset of the v1 send request's schema the fake
// knows; an unknown member is refused, as FCM refuses it.
type sendRequest struct {
	ValidateOnly bool `json:"validate_only"`
	Message      *struct {
		Token        string            `json:"token"`
		Topic        string            `json:"topic"`
		Condition    string            `json:"condition"`
		Data         map[string]string `json:"data"`
		Notification *struct {
			Title string `json:"title"`
			Body  string `json:"body"`
			Image string `json:"image"`
		} `json:"notification"`
		Android *struct {
			CollapseKey           string            `json:"collapse_key"`
			Priority              string            `json:"priority"`
			TTL                   string            `json:"ttl"`
			RestrictedPackageName string            `json:"restricted_package_name"`
			Data                  map[string]string `json:"data"`
			DirectBootOK          bool              `json:"direct_boot_ok"`
		} `json:"android"`
		APNS *struct {
			Headers map[string]string `json:"headers"`
			Payload map[string]any    `json:"payload"`
		} `json:"apns"`
		FCMOptions *struct {
			AnalyticsLabel string `json:"analytics_label"`
		} `json:"fcm_options"`
	} `json:"message"`
}

var ttlRE = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,9})?s$`)

// checkShape checks a send request the way FCM does, as far as the fake
// knows how: known members only, string data values, exactly one target,
// no reserved data keys, an Android priority and ttl FCM accepts, APNs
// headers and payload that APNs accepts.
func checkShape(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req sendRequest
	if err := dec.Decode(&req); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	m := req.Message
	if m == nil {
		return errors.New("no message")
	}
	targets := 0
	for _, t := range []string{m.Token, m.Topic, m.Condition} {
		if t != "" {
			targets++
		}
	}
	if targets != 1 {
		return errors.New("exactly one of message.token, message.topic, message.condition is needed")
	}
	for k := range m.Data {
		if k == "from" || k == "notification" || k == "message_type" || strings.HasPrefix(k, "google.") || strings.HasPrefix(k, "gcm.") {
			return fmt.Errorf("message.data key %q is reserved", k)
		}
	}
	if a := m.Android; a != nil {
		if a.Priority != "" && a.Priority != "HIGH" && a.Priority != "NORMAL" {
			return fmt.Errorf("message.android.priority %q: HIGH or NORMAL", a.Priority)
		}
		if a.TTL != "" && !ttlRE.MatchString(a.TTL) {
			return fmt.Errorf("message.android.ttl %q is not a duration in seconds (\"300s\")", a.TTL)
		}
	}
	if a := m.APNS; a != nil {
		if p := a.Headers["apns-priority"]; p != "" && p != "5" && p != "10" && p != "1" {
			return fmt.Errorf("apns-priority %q: 1, 5 or 10", p)
		}
		aps, _ := a.Payload["aps"].(map[string]any)
		switch a.Headers["apns-push-type"] {
		case "alert":
			if _, ok := aps["alert"]; !ok {
				return errors.New("apns-push-type alert without aps.alert")
			}
		case "background":
			if aps["content-available"] != float64(1) || a.Headers["apns-priority"] != "5" {
				return errors.New("apns-push-type background needs aps.content-available 1 and apns-priority 5")
			}
		}
	}
	return nil
}
