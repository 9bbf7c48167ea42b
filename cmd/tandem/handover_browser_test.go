package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"
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
	aadhaar := chromedp.CSS(`input[name="aadhaar_number"]`)
	p := startPhoneFlow(t, bctx, handoverWorkspace,
		chromedp.WaitVisible(aadhaar),
		chromedp.SendKeys(aadhaar, "2341 2341 2346"),
		chromedp.Submit(aadhaar))
	s := p.session
	if s.Step == nil || s.Step.Type != "verify_pan" || s.Context.Application != "phone" {
		t.Fatalf("session after pairing: %+v", s)
	}
	// The web page says the phone has taken over.
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`.handover-paired`))); err != nil {
		t.Fatalf("browser: the page did not show the phone taking over: %v", err)
	}
	s, err := p.dev.Answer(t.Context(), s.VerificationID, s.Step.Index, map[string]any{"pan_number": "ABCPE1234F"})
	if err != nil || s.Status != "passed" {
		t.Fatalf("answer: %+v %v", s, err)
	}
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`[data-status="completed"]`))); err != nil {
		t.Fatalf("browser: the page did not reach its end by itself: %v", err)
	}

	result := p.result(t)
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
