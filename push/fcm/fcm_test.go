package fcm_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/push/fcm"
	"github.com/tandem-id/tandem/push/fcm/fcmtest"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const phoneToken = "dXkZ3vR4Tq0:APA91bHqL8v2kFz7yN3mWc5pR1sT6uJ9xE4aB0dG2hK7nM3qV8wY1zC5fL6oP9rS"

func device(token string) *tandem.Device {
	return &tandem.Device{CredID: "9f2c4e1a7b3d5f60718293a4b5c6d7e8", PushType: "fcm", PushToken: token}
}

// setup returns a fake FCM and a provider that uses it, on a settable
// clock, logging into log.
func setup(t *testing.T) (*fcmtest.Service, *fcm.Provider, *clock, *bytes.Buffer) {
	t.Helper()
	svc := fcmtest.New(t)
	creds, err := fcm.ParseCredentials(svc.CredentialsJSON())
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Unix(1_795_600_000, 0)}
	var log bytes.Buffer
	p := &fcm.Provider{
		Credentials: creds, Endpoint: svc.URL, HTTP: svc.Client(), Now: c.Now,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	}
	return svc, p, c, &log
}

var prompt = engine.PushMessage{VerificationID: "6f1d2c3b-4a59-4e87-9d6c-5b4a3f2e1d0c", Title: "Acme Bank", Body: "Confirm your sign-in"}

func TestPushSendsTheMessage(t *testing.T) {
	svc, p, c, _ := setup(t)
	if err := p.Push(t.Context(), device(phoneToken), prompt); err != nil {
		t.Fatal(err)
	}
	got := svc.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	m := got[0]
	if m.Err != nil {
		t.Fatalf("the fake refused the message: %v", m.Err)
	}
	if want := "/v1/projects/tandem-test-4f2a/messages:send"; m.Path != want {
		t.Errorf("path %q, want %q", m.Path, want)
	}
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	want := map[string]any{
		"token":        phoneToken,
		"data":         map[string]any{"verification_id": prompt.VerificationID, "type": "tandem.prompt"},
		"notification": map[string]any{"title": "Acme Bank", "body": "Confirm your sign-in"},
		"android":      map[string]any{"priority": "HIGH", "ttl": "300s"},
		"apns": map[string]any{
			"headers": map[string]any{"apns-priority": "10", "apns-push-type": "alert", "apns-expiration": jsonNumber(c.Now().Unix() + 300)},
			"payload": map[string]any{"aps": map[string]any{"alert": map[string]any{"title": "Acme Bank", "body": "Confirm your sign-in"}}},
		},
	}
	if diff := cmp.Diff(want, m.Message); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	claims := svc.LastAssertion()
	if claims["iss"] != "tandem-push@tandem-test-4f2a.iam.gserviceaccount.com" || claims["scope"] != fcm.Scope || claims["aud"] != svc.TokenURI() {
		t.Errorf("assertion claims %v", claims)
	}
}

func jsonNumber(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestPushWithoutTitleIsADataMessage(t *testing.T) {
	svc, p, c, _ := setup(t)
	p.TTL = 90 * time.Second
	if err := p.Push(t.Context(), device(phoneToken), engine.PushMessage{VerificationID: "v-1"}); err != nil {
		t.Fatal(err)
	}
	m := svc.Messages()[0]
	want := map[string]any{
		"token":   phoneToken,
		"data":    map[string]any{"verification_id": "v-1", "type": "tandem.prompt"},
		"android": map[string]any{"priority": "HIGH", "ttl": "90s"},
		"apns": map[string]any{
			"headers": map[string]any{"apns-priority": "5", "apns-push-type": "background", "apns-expiration": jsonNumber(c.Now().Unix() + 90)},
			"payload": map[string]any{"aps": map[string]any{"content-available": float64(1)}},
		},
	}
	if diff := cmp.Diff(want, m.Message); diff != "" || m.Err != nil {
		t.Errorf("message (-want +got):\n%s\nrefusal: %v", diff, m.Err)
	}
}

func TestAccessTokenIsCachedUntilExpiry(t *testing.T) {
	svc, p, c, _ := setup(t) // tokens live an hour; replaced a minute early
	push := func() {
		t.Helper()
		if err := p.Push(t.Context(), device(phoneToken), prompt); err != nil {
			t.Fatal(err)
		}
	}
	push()
	push()
	c.Add(58 * time.Minute)
	push()
	if n := svc.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for 3 pushes within 58 minutes, want 1", n)
	}
	c.Add(time.Minute + time.Second) // 59m01s: less than a minute left
	push()
	push()
	if n := svc.TokenRequests(); n != 2 {
		t.Errorf("%d token requests after the token neared its expiry, want 2", n)
	}
	msgs := svc.Messages()
	if len(msgs) != 5 || msgs[2].Header.Get("Authorization") != msgs[0].Header.Get("Authorization") || msgs[3].Header.Get("Authorization") == msgs[2].Header.Get("Authorization") {
		t.Errorf("the pushes did not use the cached token, then a new one")
	}
}

func TestConcurrentPushesShareOneTokenExchange(t *testing.T) {
	svc, p, _, _ := setup(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := p.Push(t.Context(), device(phoneToken), prompt); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := svc.TokenRequests(); n != 1 {
		t.Errorf("%d token requests for 8 concurrent pushes, want 1", n)
	}
}

func TestPushErrors(t *testing.T) {
	notTheToken := fcmtest.Failure{Code: 400, Status: "INVALID_ARGUMENT", ErrorCode: "INVALID_ARGUMENT", Message: "Invalid value at 'message.android.ttl'"}
	bare404 := fcmtest.Failure{Code: 404, Status: "NOT_FOUND", Message: "Requested entity was not found."}
	senderMismatch := fcmtest.Failure{Code: 403, Status: "PERMISSION_DENIED", ErrorCode: "SENDER_ID_MISMATCH", Message: "SenderId mismatch"}
	for _, tc := range []struct {
		name       string
		failure    fcmtest.Failure
		want       error // the sentinel in the chain, nil for none
		retryAfter time.Duration
		inMessage  string
	}{
		{"unregistered", fcmtest.Unregistered, fcm.ErrGone, 0, "UNREGISTERED"},
		{"invalidToken", fcmtest.InvalidToken, fcm.ErrGone, 0, "not a valid FCM registration token"},
		{"invalidArgumentNotAboutTheToken", notTheToken, nil, 0, "message.android.ttl"},
		{"bare404", bare404, nil, 0, "404 Not Found"},
		{"permissionDenied", fcmtest.PermissionDenied, fcm.ErrCredentials, 0, "check the service account"},
		{"senderIDMismatch", senderMismatch, fcm.ErrCredentials, 0, "another Firebase project"},
		{"internal", fcmtest.Internal, fcm.ErrRetryable, 0, "500 Internal Server Error (INTERNAL)"},
		{"unavailable", fcmtest.Unavailable, fcm.ErrRetryable, 10 * time.Second, "retry after 10s"},
		{"quota", fcmtest.QuotaExceeded, fcm.ErrRetryable, 30 * time.Second, "retry after 30s"},
		{"retryAfterDate", fcmtest.Failure{Code: 503, Status: "UNAVAILABLE", RetryAfter: time.Unix(1_795_600_120, 0).UTC().Format(http.TimeFormat)}, fcm.ErrRetryable, 2 * time.Minute, "retry after 2m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, p, _, _ := setup(t)
			svc.Fail(phoneToken, tc.failure)
			err := p.Push(t.Context(), device(phoneToken), prompt)
			var fe *fcm.Error
			if !errors.As(err, &fe) {
				t.Fatalf("Push: %v; want an *fcm.Error", err)
			}
			for _, s := range []error{fcm.ErrGone, fcm.ErrCredentials, fcm.ErrRetryable} {
				if got := errors.Is(err, s); got != (s == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			if got, want := errors.Is(err, engine.ErrPushGone), tc.want == fcm.ErrGone; got != want {
				t.Errorf("errors.Is(err, engine.ErrPushGone) = %v, want %v", got, want)
			}
			if fe.StatusCode != tc.failure.Code || fe.RetryAfter != tc.retryAfter {
				t.Errorf("status %d retry after %s; want %d, %s", fe.StatusCode, fe.RetryAfter, tc.failure.Code, tc.retryAfter)
			}
			if !strings.Contains(err.Error(), tc.inMessage) {
				t.Errorf("error %q does not say %q", err, tc.inMessage)
			}
			if strings.Contains(err.Error(), phoneToken) || strings.Contains(err.Error(), "ya29.") {
				t.Errorf("error %q holds a token", err)
			}
			// Other tokens still go out.
			if err := p.Push(t.Context(), device("another-token"), prompt); err != nil {
				t.Errorf("push to another token: %v", err)
			}
		})
	}
}

func TestRevokedAccessTokenIsACredentialsErrorThenReplaced(t *testing.T) {
	svc, p, _, log := setup(t)
	if err := p.Push(t.Context(), device(phoneToken), prompt); err != nil {
		t.Fatal(err)
	}
	svc.RevokeAccessTokens()
	err := p.Push(t.Context(), device(phoneToken), prompt)
	var fe *fcm.Error
	if !errors.Is(err, fcm.ErrCredentials) || !errors.As(err, &fe) || fe.StatusCode != 401 || errors.Is(err, engine.ErrPushGone) {
		t.Fatalf("push with a revoked token: %v; want a 401 credentials error", err)
	}
	if !strings.Contains(log.String(), "FCM refused the service account") || !strings.Contains(log.String(), "tandem-push@") {
		t.Errorf("the refusal is not logged:\n%s", log)
	}
	// The refused token is dropped: the next push gets a new one.
	if err := p.Push(t.Context(), device(phoneToken), prompt); err != nil {
		t.Errorf("push after the 401: %v", err)
	}
	if n := svc.TokenRequests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}

func TestTokenExchangeRefused(t *testing.T) {
	t.Run("invalidGrant", func(t *testing.T) {
		svc, p, _, log := setup(t)
		svc.RefuseGrants("Invalid JWT Signature.")
		err := p.Push(t.Context(), device(phoneToken), prompt)
		if !errors.Is(err, fcm.ErrCredentials) || !strings.Contains(err.Error(), "invalid_grant Invalid JWT Signature.") {
			t.Errorf("push: %v; want a credentials error naming invalid_grant", err)
		}
		if len(svc.Messages()) != 0 {
			t.Error("a message went out without an access token")
		}
		if !strings.Contains(log.String(), "FCM refused the service account") {
			t.Errorf("the refusal is not logged:\n%s", log)
		}
		// Not cached: once the key works again, pushes go out.
		svc.RefuseGrants("")
		if err := p.Push(t.Context(), device(phoneToken), prompt); err != nil {
			t.Errorf("push after the grant works again: %v", err)
		}
	})
	t.Run("anotherKey", func(t *testing.T) {
		// The fake verifies the assertion's signature: a file with another
		// key is refused.
		svc, p, _, _ := setup(t)
		other := fcmtest.New(t)
		other.ProjectID, other.ClientEmail, other.KeyID = svc.ProjectID, svc.ClientEmail, svc.KeyID
		var f map[string]string
		json.Unmarshal(other.CredentialsJSON(), &f)
		f["token_uri"] = svc.TokenURI()
		b, _ := json.Marshal(f)
		creds, err := fcm.ParseCredentials(b)
		if err != nil {
			t.Fatal(err)
		}
		p.Credentials = creds
		if err := p.Push(t.Context(), device(phoneToken), prompt); !errors.Is(err, fcm.ErrCredentials) {
			t.Errorf("push signed with another key: %v; want a credentials error", err)
		}
		if errs := svc.TokenErrors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "signature does not verify") {
			t.Errorf("the fake's refusals: %v", errs)
		}
	})
	t.Run("tokenEndpointDown", func(t *testing.T) {
		svc, p, _, _ := setup(t)
		svc.Close()
		err := p.Push(t.Context(), device(phoneToken), prompt)
		if err == nil || errors.Is(err, fcm.ErrCredentials) || errors.Is(err, engine.ErrPushGone) || !strings.Contains(err.Error(), "token exchange") {
			t.Errorf("push with the token endpoint down: %v", err)
		}
	})
}

func TestPushRefusesOtherDevices(t *testing.T) {
	svc, p, _, _ := setup(t)
	for name, d := range map[string]*tandem.Device{
		"webpush":  {CredID: "c", PushType: "webpush", PushToken: "{}"},
		"noToken":  {CredID: "c", PushType: "fcm"},
		"noPushAt": {CredID: "c"},
	} {
		if err := p.Push(t.Context(), d, prompt); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	p.Endpoint = "http://fcm.example.net"
	if err := p.Push(t.Context(), device(phoneToken), prompt); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http endpoint: %v; want a refusal", err)
	}
	if n := len(svc.Messages()); n != 0 {
		t.Errorf("%d messages sent", n)
	}
}

func pemKey(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestParseCredentials(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecSEC1, _ := x509.MarshalECPrivateKey(ecKey)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good := map[string]any{
		"type": "service_account", "project_id": "acme-push", "private_key_id": "k1",
		"private_key":  pemKey(t, "PRIVATE KEY", pkcs8),
		"client_email": "push@acme-push.iam.gserviceaccount.com",
		"token_uri":    "https://oauth2.googleapis.com/token",
		"client_id":    "1234",
	}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	t.Run("good", func(t *testing.T) {
		for name, data := range map[string][]byte{
			"pkcs8":         with("", nil),
			"pkcs1":         with("private_key", pemKey(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))),
			"loopbackToken": with("token_uri", "http://127.0.0.1:8085/token"),
			"legacyProject": with("project_id", "example.com:acme-push"),
		} {
			c, err := fcm.ParseCredentials(data)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if c.PrivateKey.N.Cmp(rsaKey.N) != 0 || c.ClientEmail != "push@acme-push.iam.gserviceaccount.com" || c.PrivateKeyID != "k1" {
				t.Errorf("%s: %+v", name, c)
			}
		}
	})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"notJSON", []byte("project_id=acme"), "not a JSON service-account key"},
		{"array", []byte(`[{"type":"service_account"}]`), "not a JSON service-account key"},
		{"trailing", append(with("", nil), []byte(`{}`)...), "data after the JSON object"},
		{"empty", []byte(`{}`), "missing type, project_id, private_key, client_email, token_uri"},
		{"noProject", with("project_id", nil), "missing project_id"},
		{"noTokenURI", with("token_uri", ""), "missing token_uri"},
		{"keyNotString", with("private_key", 42), `member "private_key" must be a string`},
		{"userCredentials", with("type", "authorized_user"), `type is "authorized_user", not "service_account"`},
		{"projectWithSlash", with("project_id", "acme/../other"), "is not a Google Cloud project id"},
		{"badEmail", with("client_email", "push"), "client_email \"push\" is not an email address"},
		{"httpTokenURI", with("token_uri", "http://oauth2.googleapis.com/token"), "token_uri: \"http://oauth2.googleapis.com/token\" is http: use https"},
		{"relativeTokenURI", with("token_uri", "/token"), "token_uri: \"/token\" is not an absolute https URL"},
		{"tokenURIWithQuery", with("token_uri", "https://oauth2.googleapis.com/token?x=1"), "no user information, query or fragment"},
		{"keyNotPEM", with("private_key", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "private_key: not a PEM block"},
		{"keyECDSA", with("private_key", pemKey(t, "PRIVATE KEY", ecDER)), "private_key: the key is an ECDSA key, not RSA"},
		{"keySEC1", with("private_key", pemKey(t, "EC PRIVATE KEY", ecSEC1)), `private_key: a PEM block of type "EC PRIVATE KEY", not a private key`},
		{"keyCertificate", with("private_key", pemKey(t, "CERTIFICATE", []byte{1, 2, 3})), `type "CERTIFICATE"`},
		{"keyGarbled", with("private_key", pemKey(t, "PRIVATE KEY", []byte{1, 2, 3})), "private_key: the PRIVATE KEY block does not parse"},
		{"keyTooSmall", with("private_key", pemKey(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))), "the RSA key has 1024 bits"},
		{"twoKeys", with("private_key", pemKey(t, "PRIVATE KEY", pkcs8)+pemKey(t, "PRIVATE KEY", pkcs8)), "more than one PEM block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fcm.ParseCredentials(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseCredentials: %v; want an error saying %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "MII") {
				t.Errorf("the error repeats the key: %v", err)
			}
		})
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	if _, err := fcm.LoadCredentials(filepath.Join(dir, "missing.json")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"type": "service_account"}`), 0o600)
	if _, err := fcm.LoadCredentials(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "missing project_id") {
		t.Errorf("bad file: %v; want its name and what is missing", err)
	}
	svc := fcmtest.New(t)
	c, err := fcm.LoadCredentials(svc.WriteCredentials(t))
	if err != nil || c.ProjectID != svc.ProjectID || c.TokenURI != svc.TokenURI() {
		t.Errorf("the fake's file: %+v, %v", c, err)
	}
}

func TestCheckURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://fcm.googleapis.com":         true,
		"https://fcm.example.net/prefix":     true,
		"http://127.0.0.1:9099":              true,
		"http://[::1]:9099":                  true,
		"http://localhost:9099":              true,
		"http://fcm.googleapis.com":          false,
		"http://10.0.0.5":                    false,
		"fcm.googleapis.com":                 false,
		"https://user:pw@fcm.googleapis.com": false,
		"https://fcm.googleapis.com/#x":      false,
		"ftp://fcm.googleapis.com":           false,
	} {
		if err := fcm.CheckURL(raw); (err == nil) != ok {
			t.Errorf("CheckURL(%q) = %v, want ok %v", raw, err, ok)
		}
	}
}
