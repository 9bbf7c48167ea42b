package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
)

// pairingLink opens a verification like a browser (keeping its cookie) and
// returns the pairing link the hand-over page would show, and the page's
// number once a phone has paired (via getPage).
func pairingLink(t *testing.T, srv *testServer, workspace string) (link string, getPage func() string) {
	t.Helper()
	srv.do(t, http.MethodPut, "/admin/v1/workspaces/shop", srv.admin, workspace, http.StatusOK, nil)
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	srv.do(t, http.MethodPost, "/admin/v1/workspaces/shop/applications/checkout/secrets", srv.admin, "", http.StatusCreated, &cred)
	var created struct {
		URL string `json:"url"`
	}
	srv.do(t, http.MethodPost, "/v1/verifications", func(r *http.Request) { r.SetBasicAuth(cred.ClientID, cred.ClientSecret) },
		`{"user_id": "mark@gmail.com", "allow_new_device": true}`, http.StatusCreated, &created)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	get := func(url string) string {
		t.Helper()
		resp, err := browser.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	get(created.URL)
	var p struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(get(created.URL+"/pairing")), &p); err != nil || p.URL == "" {
		t.Fatalf("pairing link: %v %+v", err, p)
	}
	return p.URL, func() string { return get(created.URL) }
}

const panOnPhoneWorkspace = `{"name": "shop",
 "applications": [
   {"name": "checkout", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone"}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "on-phone", "modules": [
     {"type": "verify_pan", "display_name": "PAN"}]}]}`

// TestDeviceCommandAgainstServer runs `tandem device pair` against a real
// server, as a script would.
func TestDeviceCommandAgainstServer(t *testing.T) {
	run := func(home string, args ...string) (string, int) {
		home += "/keys" // created by the command with mode 0700
		var out, errOut syncBuffer
		err := Run(t.Context(), append([]string{"device", "pair", "-home", home}, args...), &out, &errOut, func(string) string { return "" })
		code, msg := exitStatus(err)
		return out.String() + errOut.String() + msg, code
	}
	t.Run("fieldAnswerPasses", func(t *testing.T) {
		srv := startServer(t)
		link, page := pairingLink(t, srv, panOnPhoneWorkspace)
		out, code := run(t.TempDir(), "-field", "pan_number=ABCPE1234F", link)
		if code != 0 {
			t.Fatalf("exit %d, want 0; output:\n%s", code, out)
		}
		if p := page(); !strings.Contains(p, `data-status="completed"`) {
			t.Errorf("the web page is not at its end after the phone passed:\n%s", p)
		}
	})
	t.Run("numberNotOnOfferIsUsageError", func(t *testing.T) {
		srv := startServer(t)
		link, page := pairingLink(t, srv, promptWorkspace)
		out, code := run(t.TempDir(), "-choose", "5", link)
		if code != 2 {
			t.Fatalf("exit %d, want 2; output:\n%s", code, out)
		}
		// Nothing was answered: the page still shows the number to pick.
		if p := page(); !regexp.MustCompile(`class="big-number"`).MatchString(p) {
			t.Errorf("the page does not show the number any more:\n%s", p)
		}
	})
}
