package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
)

// TestCIBAPing runs OpenID CIBA in ping mode against the real server: the
// discovery document, a backchannel authentication request, the person's
// verification in the browser, the ping delivered by the server's outbox
// dispatcher with the client's bearer token, and the tokens.
func TestCIBAPing(t *testing.T) {
	const admin = "ciba-test-admin-token-0123"
	var mu sync.Mutex
	var pings []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		pings = append(pings, r.Header.Get("Authorization")+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	s := start(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", sqliteDSN(t), "-admin-token", admin, "-allow-insecure-webhooks"}, env(nil))

	doc := `{"name": "acme",
	 "applications": [{"name": "portal", "verification_way": "web", "workflow": "pan",
	   "ciba": {"delivery_mode": "ping", "notification_endpoint": "` + rcv.URL + `/ciba"}}],
	 "workflows": [{"name": "pan", "modules": [{"type": "verify_pan", "display_name": "PAN"}]}]}`
	if r := request(t, http.MethodPut, s.url+"/admin/v1/workspaces/acme", admin, doc); r.status != http.StatusOK {
		t.Fatalf("apply: %d %s", r.status, r.body)
	}
	r := request(t, http.MethodPost, s.url+"/admin/v1/workspaces/acme/applications/portal/secrets", admin, "")
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(r.body), &cred); err != nil || r.status != http.StatusCreated {
		t.Fatalf("issue secret: %d %s", r.status, r.body)
	}

	r = get(t, s.url+"/w/acme/.well-known/openid-configuration", "")
	var disc struct {
		Issuer  string `json:"issuer"`
		BCAuthz string `json:"backchannel_authentication_endpoint"`
		Token   string `json:"token_endpoint"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal([]byte(r.body), &disc); err != nil || r.status != http.StatusOK || disc.Issuer != s.url+"/w/acme" {
		t.Fatalf("discovery: %d %s", r.status, r.body)
	}

	form := func(endpoint string, v url.Values) map[string]any {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(cred.ClientID, cred.ClientSecret)
		r := do(t, req)
		var out map[string]any
		if err := json.Unmarshal([]byte(r.body), &out); err != nil {
			t.Fatalf("%s: %d %s", endpoint, r.status, r.body)
		}
		out["status"] = r.status
		return out
	}
	auth := form(disc.BCAuthz, url.Values{"scope": {"openid"}, "login_hint": {"mark@example.com"},
		"binding_message": {"Order 4711"}, "client_notification_token": {"notify-me-123"}})
	authReqID, _ := auth["auth_req_id"].(string)
	link, _ := auth["url"].(string)
	if auth["status"] != http.StatusOK || authReqID == "" || !strings.HasPrefix(link, s.url+"/v/") {
		t.Fatalf("bc-authorize: %v", auth)
	}
	tokenForm := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {authReqID}}
	if got := form(disc.Token, tokenForm); got["error"] != "authorization_pending" {
		t.Errorf("token before the verification: %v", got)
	}

	// The person opens the link, sees the binding message, and enters a PAN.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Order 4711") {
		t.Errorf("the page does not show the binding message:\n%s", page)
	}
	resp, err = browser.PostForm(link+"/steps/0", url.Values{"pan_number": {"ABCPE1234F"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("PAN step: %d", resp.StatusCode)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(pings)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	got := append([]string(nil), pings...)
	mu.Unlock()
	if want := `Bearer notify-me-123 {"auth_req_id":"` + authReqID + `"}`; len(got) != 1 || got[0] != want {
		t.Fatalf("pings %q, want [%q]", got, want)
	}

	tok := form(disc.Token, tokenForm)
	idToken, _ := tok["id_token"].(string)
	if tok["status"] != http.StatusOK || idToken == "" {
		t.Fatalf("token after the ping: %v", tok)
	}
	expect := jwt.Expected{Issuer: s.url + "/w/acme", AnyAudience: jwt.Audience{cred.ClientID}, Subject: "mark@example.com", Time: time.Now()}
	if kid, claims := verifyResult(t, idToken, fetchJWKS(t, s), expect); kid == "" || claims["urn:openid:params:jwt:claim:auth_req_id"] != authReqID || claims["pan_number"] != "ABCPE1234F" {
		t.Errorf("ID token: kid %q, claims %v", kid, claims)
	}
}
