package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tandem-id/tandem/authenticator"
)

const handoverWorkspace = `{"name": "shop",
 "applications": [
   {"name": "checkout", "verification_way": "web", "workflow": "kyc"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone", "mobile": {"notification": "qr"}}],
 "workflows": [
   {"name": "kyc", "modules": [
     {"type": "verify_aadhaar", "display_name": "Aadhaar"},
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "on-phone", "modules": [
     {"type": "verify_pan", "display_name": "PAN"}]}]}`

// TestBrowserHandoverByQRCode: the page shows a QR code; the code is read
// back from a screenshot of the page; the authenticator client pairs with
// it and answers verify_pan on the phone; the page reaches its end by
// itself.
func TestBrowserHandoverByQRCode(t *testing.T) {
	bctx := newBrowser(t)
	srv := startServer(t)
	srv.do(t, http.MethodPut, "/admin/v1/workspaces/shop", srv.admin, handoverWorkspace, http.StatusOK, nil)
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

	aadhaar := chromedp.CSS(`input[name="aadhaar_number"]`)
	qr := chromedp.CSS(`img.qr`)
	if err := chromedp.Do(bctx,
		chromedp.Navigate(created.URL),
		chromedp.WaitVisible(aadhaar),
		chromedp.SendKeys(aadhaar, "2341 2341 2346"),
		chromedp.Submit(aadhaar),
		chromedp.WaitVisible(qr),
	); err != nil {
		t.Fatalf("browser: reach the QR code: %v", err)
	}
	png, err := chromedp.Run(bctx, chromedp.Screenshot(qr))
	if err != nil {
		t.Fatalf("browser: screenshot of the QR code: %v", err)
	}
	qrText, err := authenticator.DecodeQRPNG(bytes.NewReader(png))
	if err != nil {
		os.WriteFile(filepath.Join(t.TempDir(), "qr.png"), png, 0o644)
		t.Fatalf("decode the QR code from the screenshot: %v", err)
	}
	if !strings.HasPrefix(qrText, srv.base+"/d/") {
		t.Fatalf("QR code says %q, want a pairing link under %s/d/", qrText, srv.base)
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
	if s.Step == nil || s.Step.Type != "verify_pan" || s.Context.Application != "phone" {
		t.Fatalf("session after pairing: %+v", s)
	}
	// The web page says the phone has taken over.
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`.handover-paired`))); err != nil {
		t.Fatalf("browser: the page did not show the phone taking over: %v", err)
	}
	s, err = dev.Answer(t.Context(), s.VerificationID, s.Step.Index, map[string]any{"pan_number": "ABCPE1234F"})
	if err != nil || s.Status != "passed" {
		t.Fatalf("answer: %+v %v", s, err)
	}
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`[data-status="completed"]`))); err != nil {
		t.Fatalf("browser: the page did not reach its end by itself: %v", err)
	}

	var result map[string]string
	srv.do(t, http.MethodGet, "/v1/verifications/"+created.RequestID+"/result", client, "", http.StatusOK, &result)
	if result["web_2_device_cred_id"] != s.CredID || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(s.CredID) {
		t.Errorf("web_2_device_cred_id = %q, want the device's credential id %q", result["web_2_device_cred_id"], s.CredID)
	}
	for k, v := range map[string]string{"request_id": "REQUEST_ID", "web_2_device_cred_id": "CRED_ID", "aadhaar_verified_at": "TIME", "pan_verified_at": "TIME"} {
		if result[k] == "" {
			t.Errorf("result has no %s", k)
		}
		result[k] = v
	}
	got, _ := json.MarshalIndent(result, "", "  ")
	golden := filepath.Join("testdata", "handover_result.golden.json")
	if *update {
		os.WriteFile(golden, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if string(want) != string(got)+"\n" {
		t.Errorf("result differs from %s:\n got: %s\nwant: %s", golden, got, want)
	}
}
