package deviceapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestLandingSendsToTheApp(t *testing.T) {
	f := setup(t, "")
	for _, tc := range []struct {
		name, token  string
		wantStatus   int
		wantLocation string
		wantBody     string
	}{
		{"token", "p7Vd2kQ9xYbN3rT5wZ8cA1fH4jL6mP0sU2vX5yB7eG9", http.StatusSeeOther, "../app/#pair=p7Vd2kQ9xYbN3rT5wZ8cA1fH4jL6mP0sU2vX5yB7eG9", "tandem device pair https://verify.example/d/p7Vd2kQ9xYbN3rT5wZ8cA1fH4jL6mP0sU2vX5yB7eG9"},
		{"markup", "%3Cscript%3E", http.StatusOK, "", "not a valid pairing link"},
		{"too_long", strings.Repeat("a", 513), http.StatusOK, "", "not a valid pairing link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := noRedirect.Get(f.srv.URL + "/d/" + tc.token)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("Location") != tc.wantLocation {
				t.Errorf("status %d, Location %q; want %d, %q", resp.StatusCode, resp.Header.Get("Location"), tc.wantStatus, tc.wantLocation)
			}
			if !strings.Contains(string(body), tc.wantBody) || strings.Contains(string(body), "<script>") {
				t.Errorf("body does not contain %q (or reflects markup):\n%s", tc.wantBody, body)
			}
			for k, v := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestLandingDoesNotUseTheToken: a camera app (or a link preview) that
// opens the landing does not use the pairing token up.
func TestLandingDoesNotUseTheToken(t *testing.T) {
	f := setup(t, "")
	ctx := t.Context()
	app, err := f.db.GetApplication(ctx, "acme", "web")
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.eng.Create(ctx, app, engine.CreateRequest{UserID: "mark", AllowNewDevice: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	link := strings.TrimPrefix(c.URL, "https://verify.example/v/")
	if _, err := f.eng.Open(ctx, link, "browser", "198.51.100.7", "Firefox"); err != nil {
		t.Fatal(err)
	}
	p, err := f.eng.NewPairing(ctx, link, "browser", "")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(p.URL, "https://verify.example/d/")
	for range 2 {
		resp, err := noRedirect.Get(f.srv.URL + "/d/" + token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("landing: %d", resp.StatusCode)
		}
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jws, err := deviceproto.SignPair(key, deviceproto.PairClaims{PairingToken: token, IssuedAt: time.Now().Unix(), Platform: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if st, body := f.post(t, "/device/v1/pair", deviceproto.Envelope{JWS: jws}); st != http.StatusOK {
		t.Errorf("pair after viewing the landing twice: %d %s", st, body)
	}
}

func TestRevokeEndpoint(t *testing.T) {
	f := setup(t, "")
	key, credID := f.pairedPhone(t)
	sign := func(action string) string {
		st, body := f.post(t, "/device/v1/challenge", deviceproto.ChallengeRequest{CredID: credID})
		var ch deviceproto.ChallengeResponse
		if st != 200 || json.Unmarshal(body, &ch) != nil {
			t.Fatalf("challenge: %d %s", st, body)
		}
		jws, err := deviceproto.SignRequest(key, deviceproto.RequestClaims{CredID: credID, Challenge: ch.Challenge, Action: action, IssuedAt: time.Now().Unix()})
		if err != nil {
			t.Fatal(err)
		}
		return jws
	}
	inbox := sign(deviceproto.ActionInbox)
	st, body := f.post(t, "/device/v1/revoke", deviceproto.Envelope{JWS: sign(deviceproto.ActionSession)})
	if st != http.StatusBadRequest || !strings.Contains(string(body), `"wrong_action"`) {
		t.Errorf("revoke signed as session: %d %s, want 400 wrong_action", st, body)
	}
	st, body = f.post(t, "/device/v1/revoke", map[string]string{"jws": "x", "extra": "y"})
	if st != http.StatusBadRequest || !strings.Contains(string(body), `"bad_request"`) {
		t.Errorf("revoke with an unknown member: %d %s, want 400 bad_request", st, body)
	}
	st, body = f.post(t, "/device/v1/revoke", deviceproto.Envelope{JWS: sign(deviceproto.ActionRevoke)})
	var got deviceproto.RevokeResponse
	if st != http.StatusOK || json.Unmarshal(body, &got) != nil || got.CredID != credID || got.State != "revoked" || got.RevokedAt == 0 {
		t.Fatalf("revoke: %d %s", st, body)
	}
	st, body = f.post(t, "/device/v1/inbox", deviceproto.Envelope{JWS: inbox})
	if st != http.StatusForbidden || !strings.Contains(string(body), `"device_revoked"`) {
		t.Errorf("inbox after revoke: %d %s, want 403 device_revoked", st, body)
	}
	st, body = f.post(t, "/device/v1/challenge", deviceproto.ChallengeRequest{CredID: credID})
	if st != http.StatusUnauthorized || !strings.Contains(string(body), `"unknown_credential"`) {
		t.Errorf("challenge after revoke: %d %s, want 401 unknown_credential", st, body)
	}
}
