package main

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tandem-id/tandem/authenticator"
	"github.com/tandem-id/tandem/deviceproto"
)

// phoneFlow is a verification opened in the browser and handed over to
// the authenticator client by reading the page's QR code.
type phoneFlow struct {
	srv       *testServer
	client    func(*http.Request)
	requestID string
	dev       *authenticator.Client
	session   *deviceproto.Session
}

// startPhoneFlow applies workspace (whose web application is "checkout"),
// starts a verification, opens it in the browser, runs before (e.g. to
// share a location), reads the QR code and pairs the client with it.
func startPhoneFlow(t *testing.T, bctx context.Context, workspace string, before ...chromedp.Action[chromedp.Void]) *phoneFlow {
	t.Helper()
	return startPhoneFlowOn(t, bctx, startServer(t), workspace, before...)
}

// startPhoneFlowOn is startPhoneFlow on a server already started.
func startPhoneFlowOn(t *testing.T, bctx context.Context, srv *testServer, workspace string, before ...chromedp.Action[chromedp.Void]) *phoneFlow {
	t.Helper()
	srv.do(t, http.MethodPut, "/admin/v1/workspaces/shop", srv.admin, workspace, http.StatusOK, nil)
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	srv.do(t, http.MethodPost, "/admin/v1/workspaces/shop/applications/checkout/secrets", srv.admin, "", http.StatusCreated, &cred)
	client := func(r *http.Request) { r.SetBasicAuth(cred.ClientID, cred.ClientSecret) }
	var created struct {
		RequestID string `json:"request_id"`
		URL       string `json:"url"`
	}
	srv.do(t, http.MethodPost, "/v1/verifications", client, `{"user_id": "mark@gmail.com", "allow_new_device": true}`, http.StatusCreated, &created)
	actions := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(created.URL)}, before...)
	actions = append(actions, chromedp.WaitVisible(chromedp.CSS(`img.qr`)))
	if err := chromedp.Do(bctx, actions...); err != nil {
		t.Fatalf("browser: reach the QR code: %v", err)
	}
	png, err := chromedp.Run(bctx, chromedp.Screenshot(chromedp.CSS(`img.qr`)))
	if err != nil {
		t.Fatalf("browser: screenshot of the QR code: %v", err)
	}
	qrText, err := authenticator.DecodeQRPNG(bytes.NewReader(png))
	if err != nil {
		t.Fatalf("decode the QR code: %v", err)
	}
	key, err := authenticator.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	dev := &authenticator.Client{HTTP: http.DefaultClient, Key: key}
	s, err := dev.Pair(t.Context(), qrText, "Test phone", "cli")
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	return &phoneFlow{srv: srv, client: client, requestID: created.RequestID, dev: dev, session: s}
}

func (p *phoneFlow) result(t *testing.T) map[string]string {
	t.Helper()
	var res map[string]string
	p.srv.do(t, http.MethodGet, "/v1/verifications/"+p.requestID+"/result", p.client, "", http.StatusOK, &res)
	return res
}

const promptWorkspace = `{"name": "shop",
 "applications": [
   {"name": "checkout", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone"}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone", "number_prompt": true}}]},
   {"name": "on-phone", "modules": [
     {"type": "number_prompt", "display_name": "Match the number"}]}]}`

// TestBrowserNumberPrompt: the page shows a number; the phone picks it (or
// another one); the page ends by itself; /result says whether it matched.
func TestBrowserNumberPrompt(t *testing.T) {
	for _, tc := range []struct {
		name       string
		pickRight  bool
		endStatus  string
		wantResult string
	}{
		{"match", true, "completed", "true"},
		{"mismatch", false, "failed", "false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bctx := newBrowser(t)
			p := startPhoneFlow(t, bctx, promptWorkspace)
			shown, err := readText(bctx, `.big-number`)
			if err != nil {
				t.Fatalf("browser: read the number: %v", err)
			}
			shown = strings.TrimSpace(shown)
			var options []string
			for _, n := range p.session.Step.Nodes {
				if n.Kind == "choice" {
					options = n.Options
				}
			}
			if !slices.Contains(options, shown) || len(options) != 3 {
				t.Fatalf("the page shows %q; the phone offers %v", shown, options)
			}
			pick := shown
			if !tc.pickRight {
				for _, o := range options {
					if o != shown {
						pick = o
						break
					}
				}
			}
			s, err := p.dev.Answer(t.Context(), p.session.VerificationID, p.session.Step.Index, map[string]any{"number": pick})
			if err != nil {
				t.Fatalf("answer: %v", err)
			}
			wantPhone := map[bool]string{true: "passed", false: "failed"}[tc.pickRight]
			if s.Status != wantPhone {
				t.Errorf("phone status %q, want %q", s.Status, wantPhone)
			}
			end := chromedp.CSS(`[data-status="` + tc.endStatus + `"]`)
			if err := chromedp.Do(bctx, chromedp.WaitVisible(end)); err != nil {
				t.Fatalf("browser: the page did not reach %s by itself: %v", tc.endStatus, err)
			}
			res := p.result(t)
			if res["prompt_success"] != tc.wantResult || res["status"] != tc.endStatus || res["web_to_device"] != map[bool]string{true: "true", false: "false"}[tc.pickRight] || res["allow_new_device"] != "true" || res["prompt_completed_at"] == "" {
				t.Errorf("result %v; want prompt_success %s and status %s", res, tc.wantResult, tc.endStatus)
			}
			if !tc.pickRight {
				text, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
				if !strings.Contains(text, "did not match") {
					t.Errorf("end page does not say the numbers did not match:\n%s", text)
				}
			}
		})
	}
}

// readText reads the text of the element sel once it is visible. The page
// replaces itself when the verification changes (live updates), so a read
// that races a reload is tried again.
func readText(bctx context.Context, sel string) (string, error) {
	var err error
	for range 5 {
		var text string
		if err = chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
			return "", err
		}
		if text, err = chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel))); err == nil {
			return text, nil
		}
	}
	return "", err
}
