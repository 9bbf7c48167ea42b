package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tandem-id/tandem/deviceproto"
)

const proximityWorkspace = `{"name": "shop",
 "applications": [
   {"name": "checkout", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone", "mobile": {"proximity": true}}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "on-phone", "modules": [
     {"type": "proximity", "display_name": "Are you near your computer?", "configs": {"distance_m": 200}}]}]}`

// TestBrowserProximity: the browser's position is overridden through the
// DevTools protocol and its permission granted; the page shares it before
// the QR code; the phone answers 120 m away (pass), 900 m away (fail) or
// with a mock location (fail).
func TestBrowserProximity(t *testing.T) {
	const lat, lon, acc = 12.94739, 80.24207, 18.082
	for _, tc := range []struct {
		name     string
		northM   float64
		mock     bool
		status   string
		verified string
		inPage   string
	}{
		{"near", 120, false, "completed", "true", ""},
		{"far", 900, false, "failed", "false", "900 m"},
		{"mock", 10, true, "failed", "false", "mock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bctx := newBrowser(t)
			srv := startServer(t)
			origin, _ := url.Parse(srv.base)
			if _, err := chromedp.CallBrowser(bctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: "geolocation"}, Setting: browser.PermissionSettingGranted, Origin: origin.Scheme + "://" + origin.Host,
			}); err != nil {
				t.Fatalf("grant geolocation: %v", err)
			}
			la, lo, ac := lat, lon, acc
			if _, err := chromedp.Call(bctx, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{Latitude: &la, Longitude: &lo, Accuracy: &ac}); err != nil {
				t.Fatalf("override geolocation: %v", err)
			}
			share := chromedp.CSS(`button.share-location`)
			p := startPhoneFlowOn(t, bctx, srv, proximityWorkspace, chromedp.WaitVisible(share), chromedp.Click(share))
			if p.session.Step == nil || p.session.Step.Type != "proximity" {
				t.Fatalf("phone step: %+v", p.session.Step)
			}
			loc := deviceproto.Location{Lat: lat + tc.northM/111195.0, Lon: lon, AccuracyM: 8, AccuracyKind: "p68", ReadAt: time.Now().Unix(), Mock: tc.mock}
			if _, err := p.dev.Answer(t.Context(), p.session.VerificationID, p.session.Step.Index, map[string]any{"location": loc}); err != nil {
				t.Fatalf("answer: %v", err)
			}
			if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(`[data-status="`+tc.status+`"]`))); err != nil {
				t.Fatalf("browser: the page did not reach %s: %v", tc.status, err)
			}
			if tc.inPage != "" {
				text, _ := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`main`)))
				if !strings.Contains(strings.ToLower(text), tc.inPage) {
					t.Errorf("end page does not name the failed check (%q):\n%s", tc.inPage, text)
				}
			}
			res := p.result(t)
			if res["proximity_verified"] != tc.verified || res["web_geo_acc"] != "18.082" || res["web_lat"] != "12.947390" {
				t.Errorf("result %v", res)
			}
			if tc.name != "near" {
				return
			}
			for k, v := range map[string]string{"request_id": "REQUEST_ID", "web_2_device_cred_id": "CRED_ID", "proximity_verified_at": "TIME", "prx_read_at": "TIME"} {
				if res[k] == "" {
					t.Errorf("result has no %s", k)
				}
				res[k] = v
			}
			got, _ := json.MarshalIndent(res, "", "  ")
			golden := filepath.Join("testdata", "proximity_result.golden.json")
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
		})
	}
}
