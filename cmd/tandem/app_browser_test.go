package main

// Browser tests of the authenticator web app (/app/): a desktop chromium
// runs the web page, a second chromium that emulates a phone runs the app.
// The phone chromium is started after the desktop page shows its QR code,
// because its fake camera plays a video made from a screenshot of that
// code (writeY4M, newPhoneBrowser in fakecam_test.go). Headless chromium on
// Linux has no BarcodeDetector, so these tests exercise the vendored jsQR
// decoder; the app falls back to it exactly as it does on a phone without
// BarcodeDetector. Notifications are denied in the phone, so the app never
// calls pushManager.subscribe (which would contact a real push service).

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"

	"github.com/tandem-id/tandem/authenticator"
)

// appDesktop is the desktop side of a verification: its browser, the
// integrator's credentials and the QR code the page shows.
type appDesktop struct {
	srv       *testServer
	bctx      context.Context
	client    func(*http.Request)
	requestID string
	qrPNG     []byte
	qrURL     string
}

// openDesktop applies workspace (web application "checkout"), starts a
// verification for mark@gmail.com, opens it in a desktop chromium, runs
// before, and reads the QR code from a screenshot. When geo is not nil,
// the desktop's position is granted and set to it first.
func openDesktop(t *testing.T, srv *testServer, workspace string, geo *[3]float64, before ...chromedp.Action[chromedp.Void]) *appDesktop {
	t.Helper()
	bctx := newBrowser(t)
	if geo != nil {
		origin, _ := url.Parse(srv.base)
		if _, err := chromedp.CallBrowser(bctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "geolocation"}, Setting: browser.PermissionSettingGranted, Origin: origin.Scheme + "://" + origin.Host,
		}); err != nil {
			t.Fatalf("desktop: grant geolocation: %v", err)
		}
		la, lo, ac := geo[0], geo[1], geo[2]
		if _, err := chromedp.Call(bctx, emulation.SetGeolocationOverride, emulation.SetGeolocationOverrideParams{Latitude: &la, Longitude: &lo, Accuracy: &ac}); err != nil {
			t.Fatalf("desktop: override geolocation: %v", err)
		}
	}
	srv.do(t, http.MethodPut, "/admin/v1/workspaces/shop", srv.admin, workspace, http.StatusOK, nil)
	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	srv.do(t, http.MethodPost, "/admin/v1/workspaces/shop/applications/checkout/secrets", srv.admin, "", http.StatusCreated, &cred)
	client := func(r *http.Request) { r.SetBasicAuth(cred.ClientID, cred.ClientSecret) }
	d := &appDesktop{srv: srv, bctx: bctx, client: client}
	d.start(t, before...)
	return d
}

// start starts a new verification for mark@gmail.com in the desktop
// browser, runs before, and reads its QR code.
func (d *appDesktop) start(t *testing.T, before ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	var created struct {
		RequestID string `json:"request_id"`
		URL       string `json:"url"`
	}
	d.srv.do(t, http.MethodPost, "/v1/verifications", d.client, `{"user_id": "mark@gmail.com", "allow_new_device": true}`, http.StatusCreated, &created)
	actions := append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(created.URL)}, before...)
	actions = append(actions, chromedp.WaitVisible(chromedp.CSS(`img.qr`)))
	if err := chromedp.Do(d.bctx, actions...); err != nil {
		t.Fatalf("desktop: reach the QR code: %v", err)
	}
	shot, err := chromedp.Run(d.bctx, chromedp.Screenshot(chromedp.CSS(`img.qr`)))
	if err != nil {
		t.Fatalf("desktop: screenshot of the QR code: %v", err)
	}
	qrURL, err := authenticator.DecodeQRPNG(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("decode the QR code: %v", err)
	}
	d.requestID, d.qrPNG, d.qrURL = created.RequestID, shot, qrURL
}

func (d *appDesktop) result(t *testing.T) map[string]string {
	t.Helper()
	var res map[string]string
	d.srv.do(t, http.MethodGet, "/v1/verifications/"+d.requestID+"/result", d.client, "", http.StatusOK, &res)
	return res
}

// waitDesktop waits until the desktop page reaches status by itself.
func (d *appDesktop) waitDesktop(t *testing.T, status string) {
	t.Helper()
	if err := chromedp.Do(d.bctx, chromedp.WaitVisible(chromedp.CSS(`[data-status="`+status+`"]`))); err != nil {
		t.Fatalf("desktop: the page did not reach %s by itself: %v", status, err)
	}
}

// newAppPhone starts the phone chromium (with the fake camera playing
// video, when not "") with notifications denied and the position set.
func newAppPhone(t *testing.T, srv *testServer, video string, lat, lon, acc float64) context.Context {
	t.Helper()
	pctx := newPhoneBrowser(t, video)
	origin, _ := url.Parse(srv.base)
	if _, err := chromedp.CallBrowser(pctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingDenied, Origin: origin.Scheme + "://" + origin.Host,
	}); err != nil {
		t.Fatalf("phone: deny notifications: %v", err)
	}
	if err := setGeolocation(pctx, lat, lon, acc); err != nil {
		t.Fatalf("phone: %v", err)
	}
	watchPageErrors(t, pctx)
	return pctx
}

// watchPageErrors fails the test, when it ends, if the page of ctx threw an
// uncaught exception (an unhandled rejection too) or the browser reported a
// Content-Security-Policy violation or a JavaScript error: the app must
// run under its policy without either.
func watchPageErrors(t *testing.T, ctx context.Context) {
	t.Helper()
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		var p string
		switch e := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			p = "exception: " + e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				p += " " + e.ExceptionDetails.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if e.Entry.Source == cdplog.EntrySourceSecurity || e.Entry.Source == cdplog.EntrySourceViolation || e.Entry.Source == cdplog.EntrySourceJavascript || strings.Contains(e.Entry.Text, "Content Security Policy") {
				p = fmt.Sprintf("%s %s: %s (%s)", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL)
			}
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable the log domain: %v", err)
	}
	if _, err := chromedp.Call(ctx, cdpruntime.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("enable the runtime domain: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("the app's page reported %s", p)
		}
	})
}

// phoneDo runs actions in the phone, failing the test with what the app
// shows when they fail.
func phoneDo(t *testing.T, pctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(pctx, actions...); err != nil {
		shown, _ := chromedp.Run(pctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').dataset.view + ': ' + document.querySelector('main').innerText + ' | ' + document.getElementById('status').innerText : document.body.innerText`))
		t.Fatalf("phone: %s: %v\nthe app shows: %s", what, err, shown)
	}
}

const sessionView = `main[data-view="session"]`

// keyCheckJS loads the app's stored keys from IndexedDB and reports, for
// each, whether the private key is extractable and whether exportKey
// refuses it.
const keyCheckJS = `(async () => {
  const db = await new Promise((ok, bad) => { const r = indexedDB.open('tandem-authenticator'); r.onsuccess = () => ok(r.result); r.onerror = () => bad(r.error); });
  const keys = await new Promise((ok, bad) => { const r = db.transaction('keys').objectStore('keys').getAll(); r.onsuccess = () => ok(r.result); r.onerror = () => bad(r.error); });
  const out = [];
  for (const k of keys) {
    let exported = 'refused';
    for (const f of ['pkcs8', 'jwk']) {
      try { await crypto.subtle.exportKey(f, k.privateKey); exported = 'exported as ' + f; } catch (e) {}
    }
    out.push({type: k.privateKey.type, algorithm: k.privateKey.algorithm.name + ' ' + k.privateKey.algorithm.namedCurve, extractable: k.privateKey.extractable, export: exported});
  }
  db.close();
  return out;
})()`

// TestAppNumberPromptByCamera: the app scans the desktop page's QR code
// through the (fake) camera, pairs, shows the number buttons, and the
// person picks the page's number; the page completes by itself and the
// integrator reads prompt_success "true". The key in IndexedDB is not
// extractable. Then "remove this device" revokes the credential: the
// server lists the device as revoked and refuses a request signed with
// its key.
func TestAppNumberPromptByCamera(t *testing.T) {
	srv := startServer(t)
	d := openDesktop(t, srv, promptWorkspace, nil)
	img, err := png.Decode(bytes.NewReader(d.qrPNG))
	if err != nil {
		t.Fatal(err)
	}
	video := filepath.Join(t.TempDir(), "qr.y4m")
	if err := writeY4M(video, img, 10); err != nil {
		t.Fatal(err)
	}
	pctx := newAppPhone(t, srv, video, 12.94739, 80.24207, 10)

	phoneDo(t, pctx, "open the app and scan",
		chromedp.Navigate(srv.base+"/app/"),
		chromedp.WaitVisible(chromedp.CSS(`#scan`)),
		chromedp.Click(chromedp.CSS(`#scan`)),
		chromedp.WaitVisible(chromedp.CSS(sessionView+` button.choice`)))
	decoder, err := chromedp.Run(pctx, chromedp.Evaluate[string](`document.querySelector('main').dataset.decoder || ''`))
	if err != nil || decoder != "jsQR" {
		t.Errorf("decoder %q (%v), want jsQR (headless chromium has no BarcodeDetector)", decoder, err)
	}
	page, err := chromedp.Run(pctx, chromedp.Text(chromedp.CSS(`main`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Match the number", "phone", "This wasn\u2019t me"} {
		if !strings.Contains(page, want) {
			t.Errorf("the session screen does not show %q:\n%s", want, page)
		}
	}
	// The page shows its number once the phone has paired.
	shown, err := readText(d.bctx, `.big-number`)
	if err != nil {
		t.Fatalf("desktop: read the number: %v", err)
	}
	shown = strings.TrimSpace(shown)
	// Touch targets are at least 48 CSS pixels each way.
	small, err := chromedp.Run(pctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('main button, main input')].filter(e => e.offsetParent).map(e => [e, e.getBoundingClientRect()]).filter(([e, r]) => r.width < 48 || r.height < 48).map(([e, r]) => e.outerHTML.slice(0, 80) + ' ' + r.width + 'x' + r.height)`))
	if err != nil || len(small) != 0 {
		t.Errorf("touch targets smaller than 48 px: %v (%v)", small, err)
	}
	options, err := chromedp.Run(pctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('button.choice')].map(b => b.dataset.value)`))
	if err != nil || len(options) != 3 || !contains(options, shown) {
		t.Fatalf("the phone offers %v (%v); the page shows %q", options, err, shown)
	}
	phoneDo(t, pctx, "pick the number",
		chromedp.Click(chromedp.CSS(`button.choice[data-value="`+shown+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main[data-view="result"][data-status="passed"]`)))
	d.waitDesktop(t, "completed")
	res := d.result(t)
	if res["prompt_success"] != "true" || res["status"] != "completed" || res["web_2_device_cred_id"] == "" {
		t.Errorf("result %v; want prompt_success true", res)
	}
	credID := res["web_2_device_cred_id"]

	// The key: non-extractable, and exportKey refuses it.
	type keyInfo struct {
		Type, Algorithm, Export string
		Extractable             bool
	}
	keys, err := chromedp.Run(pctx, chromedp.Evaluate[[]keyInfo](keyCheckJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("phone: read the keys: %v", err)
	}
	if len(keys) != 1 || keys[0] != (keyInfo{Type: "private", Algorithm: "ECDSA P-256", Export: "refused", Extractable: false}) {
		t.Errorf("stored keys %+v; want one non-extractable ECDSA P-256 private key that exportKey refuses", keys)
	}

	// Keep the key and a challenge in the page, then remove the device.
	keep := fmt.Sprintf(`(async () => {
  const store = await import('./keys.js');
  const {Device} = await import('./proto.js');
  const [reg] = await store.listRegistrations();
  const key = await store.getKey(reg.keyId);
  window.kept = new Device({base: location.origin, credId: reg.credId, privateKey: key.privateKey, publicKey: key.publicKey});
  const ch = await window.kept.fetchChallenge();
  window.keptChallenge = ch;
  return reg.credId === %q;
})()`, credID)
	same, err := chromedp.Run(pctx, chromedp.Evaluate[bool](keep, chromedp.EvalAwaitPromise))
	if err != nil || !same {
		t.Fatalf("phone: keep the key: %v (the stored registration is %v the result's credential)", err, same)
	}
	remove := chromedp.CSS(`li[data-cred="` + credID + `"] button.remove`)
	phoneDo(t, pctx, "remove the device",
		chromedp.Click(chromedp.CSS(`main[data-view="result"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#devices`)),
		chromedp.Click(chromedp.CSS(`#devices`)),
		chromedp.WaitVisible(remove),
		chromedp.Click(remove),
		chromedp.WaitVisible(chromedp.CSS(`li[data-cred="`+credID+`"] button.remove`)),
		chromedp.Click(remove),
		chromedp.WaitNotPresent(chromedp.CSS(`li[data-cred="`+credID+`"]`)))
	var devices []struct {
		CredID string `json:"web_2_device_cred_id"`
		State  string `json:"state"`
	}
	srv.do(t, http.MethodGet, "/admin/v1/workspaces/shop/users/mark@gmail.com/devices", srv.admin, "", http.StatusOK, &devices)
	if len(devices) != 1 || devices[0].CredID != credID || devices[0].State != "revoked" {
		t.Errorf("devices after removal: %+v; want %s revoked", devices, credID)
	}
	codes, err := chromedp.Run(pctx, chromedp.Evaluate[[]string](`(async () => {
  const out = [];
  const d = window.kept;
  d.keep(window.keptChallenge.challenge, window.keptChallenge.challenge_expires_at);
  try { await d.inbox(0); out.push('ok'); } catch (e) { out.push(e.code); }
  try { await d.inbox(0); out.push('ok'); } catch (e) { out.push(e.code); }
  return out;
})()`, chromedp.EvalAwaitPromise))
	if err != nil || len(codes) != 2 || codes[0] != "device_revoked" || codes[1] != "unknown_credential" {
		t.Errorf("signed requests after removal: %v (%v); want device_revoked (a challenge from before), then unknown_credential (no new challenge)", codes, err)
	}
	if keys, _ := chromedp.Run(pctx, chromedp.Evaluate[[]keyInfo](keyCheckJS, chromedp.EvalAwaitPromise)); len(keys) != 0 {
		t.Errorf("the removed registration's key is still stored: %+v", keys)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestAppProximityByLink: the phone's camera app follows the QR link,
// {public}/d/{token}; the landing sends it to the app with the token in the
// fragment, and the app pairs, asks for the phone's location (120 m from
// the computer) and answers; the page completes by itself with the
// proximity claims.
func TestAppProximityByLink(t *testing.T) {
	const lat, lon = 12.94739, 80.24207
	srv := startServer(t)
	share := chromedp.CSS(`button.share-location`)
	d := openDesktop(t, srv, proximityWorkspace, &[3]float64{lat, lon, 18.082}, chromedp.WaitVisible(share), chromedp.Click(share))
	if !strings.HasPrefix(d.qrURL, srv.base+"/d/") {
		t.Fatalf("QR code %q is not a pairing link of %s", d.qrURL, srv.base)
	}
	pctx := newAppPhone(t, srv, "", lat+120/111195.0, lon, 9)
	locate := chromedp.CSS(sessionView + ` button[type="submit"]`)
	phoneDo(t, pctx, "open the QR link",
		chromedp.Navigate(d.qrURL),
		chromedp.WaitVisible(locate))
	addr, err := chromedp.Run(pctx, chromedp.Evaluate[string](`location.href`))
	if err != nil || addr != srv.base+"/app/" {
		t.Errorf("the app's address is %q (%v), want %s/app/ (the token removed from it)", addr, err, srv.base)
	}
	text, _ := chromedp.Run(pctx, chromedp.Text(chromedp.CSS(`main`)))
	if !strings.Contains(text, "near") {
		t.Errorf("the phone does not say why it needs the location:\n%s", text)
	}
	phoneDo(t, pctx, "share the location",
		chromedp.Click(locate),
		chromedp.WaitVisible(chromedp.CSS(`main[data-view="result"][data-status="passed"]`)))
	d.waitDesktop(t, "completed")
	res := d.result(t)
	dist, _ := strconv.ParseFloat(res["web_mob_dist"], 64)
	if res["proximity_verified"] != "true" || res["mob_lat"] == "" || res["mob_long"] == "" || dist < 110 || dist > 130 || res["web_lat"] != "12.947390" {
		t.Errorf("result %v; want proximity verified at about 120 m", res)
	}
}

// TestAppDeny: the link under the QR code, pasted into the app, pairs;
// "This wasn't me" on the phone fails the verification, and the page says
// so by itself.
func TestAppDeny(t *testing.T) {
	srv := startServer(t)
	d := openDesktop(t, srv, promptWorkspace, nil)
	pctx := newAppPhone(t, srv, "", 12.94739, 80.24207, 10)
	deny := chromedp.CSS(sessionView + ` button.deny`)
	paste := chromedp.CSS(`#paste-link`)
	phoneDo(t, pctx, "paste the link and deny",
		chromedp.Navigate(srv.base+"/app/"),
		chromedp.WaitVisible(paste),
		chromedp.SendKeys(paste, d.qrURL),
		chromedp.Click(chromedp.CSS(`form.paste button[type="submit"]`)),
		chromedp.WaitVisible(deny),
		chromedp.Click(deny),
		chromedp.WaitVisible(chromedp.CSS(`main[data-view="result"][data-status="failed"]`)))
	text, _ := chromedp.Run(pctx, chromedp.Text(chromedp.CSS(`main`)))
	if !strings.Contains(text, "wasn\u2019t you") {
		t.Errorf("the phone does not confirm the denial:\n%s", text)
	}
	d.waitDesktop(t, "failed")
	if res := d.result(t); res["status"] != "failed" || res["prompt_success"] == "true" {
		t.Errorf("result %v; want a failed verification", res)
	}

	// The service worker controls the app and caches its shell, under a
	// versioned name, and nothing of the device protocol.
	type swState struct {
		Scope      string   `json:"scope"`
		Controlled bool     `json:"controlled"`
		Caches     []string `json:"caches"`
		Paths      []string `json:"paths"`
	}
	sw, err := chromedp.Run(pctx, chromedp.Evaluate[swState](`(async () => {
  const reg = await navigator.serviceWorker.ready;
  for (let i = 0; i < 50 && !navigator.serviceWorker.controller; i++) await new Promise(r => setTimeout(r, 100));
  const names = await caches.keys();
  const paths = [];
  for (const n of names) for (const r of await (await caches.open(n)).keys()) paths.push(new URL(r.url).pathname);
  return {scope: reg.scope, controlled: !!navigator.serviceWorker.controller, caches: names, paths};
})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("phone: read the service worker: %v", err)
	}
	if sw.Scope != srv.base+"/app/" || !sw.Controlled || len(sw.Caches) != 1 || !regexp.MustCompile(`^tandem-app-[0-9a-f]{16}$`).MatchString(sw.Caches[0]) {
		t.Errorf("service worker %+v; want scope %s/app/, controlling the page, one cache tandem-app-VERSION", sw, srv.base)
	}
	if !contains(sw.Paths, "/app/") || !contains(sw.Paths, "/app/app.js") || !contains(sw.Paths, "/app/vendor/jsqr/jsQR.js") {
		t.Errorf("cached %v; want the app's shell", sw.Paths)
	}
	for _, p := range sw.Paths {
		if !strings.HasPrefix(p, "/app/") {
			t.Errorf("the service worker cached %s, outside the app", p)
		}
	}
}

const appPushWorkspace = `{"name": "shop",
 "applications": [
   {"name": "checkout", "verification_way": "web", "workflow": "enrol"},
   {"name": "signin", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "register", "mobile": {"notification": "qr"}},
   {"name": "phone-push", "verification_way": "mobile", "workflow": "confirm", "mobile": {"notification": "push"}}],
 "workflows": [
   {"name": "enrol", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "register", "modules": [
     {"type": "device_register", "display_name": "Register this phone"}]},
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Confirm on your phone", "configs": {"device_application": "phone-push", "number_prompt": true}}]},
   {"name": "confirm", "modules": [
     {"type": "number_prompt", "display_name": "Type the number", "configs": {"mode": "type"}}]}]}`

// TestAppInboxPrompt: the app registers the phone (a QR hand-over whose
// step is device_register), then a push-mode verification of the same user
// reaches the app through its inbox (no push service: the app long-polls
// the inbox while it is open). The person continues, types the page's
// number on the app's keypad, and the page completes.
func TestAppInboxPrompt(t *testing.T) {
	srv := startServer(t)
	d := openDesktop(t, srv, appPushWorkspace, nil)
	pctx := newAppPhone(t, srv, "", 12.94739, 80.24207, 10)
	register := chromedp.CSS(sessionView + ` button[type="submit"]`)
	phoneDo(t, pctx, "register the phone",
		chromedp.Navigate(d.qrURL),
		chromedp.WaitVisible(register),
		chromedp.Click(register),
		chromedp.WaitVisible(chromedp.CSS(`main[data-view="result"][data-status="passed"]`)),
		chromedp.Click(chromedp.CSS(`main[data-view="result"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#scan`)))
	d.waitDesktop(t, "completed")
	if res := d.result(t); res["device_registered"] != "true" {
		t.Fatalf("registration result %v", res)
	}

	var cred struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	srv.do(t, http.MethodPost, "/admin/v1/workspaces/shop/applications/signin/secrets", srv.admin, "", http.StatusCreated, &cred)
	client := func(r *http.Request) { r.SetBasicAuth(cred.ClientID, cred.ClientSecret) }
	var created struct {
		RequestID string `json:"request_id"`
		URL       string `json:"url"`
	}
	srv.do(t, http.MethodPost, "/v1/verifications", client, `{"user_id": "mark@gmail.com", "allow_new_device": false}`, http.StatusCreated, &created)
	if err := chromedp.Do(d.bctx, chromedp.Navigate(created.URL)); err != nil {
		t.Fatalf("desktop: open the sign-in: %v", err)
	}
	accept := chromedp.CSS(`main[data-view="home"] article.prompt button.primary`)
	phoneDo(t, pctx, "continue the waiting prompt",
		chromedp.WaitVisible(accept),
		chromedp.Click(accept),
		chromedp.WaitVisible(chromedp.CSS(sessionView+` .keypad`)))
	shown, err := readText(d.bctx, `.big-number`)
	if err != nil {
		t.Fatalf("desktop: read the number: %v", err)
	}
	shown = strings.TrimSpace(shown)
	var keys []chromedp.Action[chromedp.Void]
	for _, digit := range shown {
		keys = append(keys, chromedp.Click(chromedp.CSS(`.keypad button[aria-label="`+string(digit)+`"]`)))
	}
	keys = append(keys,
		chromedp.Click(chromedp.CSS(sessionView+` button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main[data-view="result"][data-status="passed"]`)))
	phoneDo(t, pctx, "type the number on the keypad", keys...)
	if err := chromedp.Do(d.bctx, chromedp.WaitVisible(chromedp.CSS(`[data-status="completed"]`))); err != nil {
		t.Fatalf("desktop: the sign-in did not complete by itself: %v", err)
	}
	var res map[string]string
	srv.do(t, http.MethodGet, "/v1/verifications/"+created.RequestID+"/result", client, "", http.StatusOK, &res)
	if res["prompt_success"] != "true" || res["status"] != "completed" {
		t.Errorf("sign-in result %v; want prompt_success true", res)
	}
}

const appPANWorkspace = `{"name": "shop",
 "applications": [
   {"name": "checkout", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone"}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "on-phone", "modules": [
     {"type": "verify_pan", "display_name": "Your PAN"}]}]}`

// TestAppInputStep: a text field on the phone (verify_pan): a malformed
// value comes back with the server's message next to the field; a
// lower-case PAN is upper-cased as typed and accepted.
func TestAppInputStep(t *testing.T) {
	srv := startServer(t)
	d := openDesktop(t, srv, appPANWorkspace, nil)
	pctx := newAppPhone(t, srv, "", 12.94739, 80.24207, 10)
	field := chromedp.CSS(sessionView + ` input[name="pan_number"]`)
	submit := chromedp.CSS(sessionView + ` button[type="submit"]`)
	phoneDo(t, pctx, "answer a malformed PAN",
		chromedp.Navigate(d.qrURL),
		chromedp.WaitVisible(field),
		chromedp.SendKeys(field, "abcpe12"),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(sessionView+` .error`)))
	errText, _ := chromedp.Run(pctx, chromedp.Text(chromedp.CSS(sessionView+` .error`)))
	if !strings.Contains(errText, "10 characters") {
		t.Errorf("the phone shows the error %q; want the server's message about the PAN's form", errText)
	}
	typed, _ := chromedp.Run(pctx, chromedp.Evaluate[string](`(() => { const f = document.querySelector('input[name="pan_number"]'); f.value = ''; return f.value; })()`))
	if typed != "" {
		t.Fatalf("clear the field: %q", typed)
	}
	phoneDo(t, pctx, "answer the PAN",
		chromedp.SendKeys(field, "abcpe1234f"),
		chromedp.Click(submit),
		chromedp.WaitVisible(chromedp.CSS(`main[data-view="result"][data-status="passed"]`)))
	d.waitDesktop(t, "completed")
	if res := d.result(t); res["pan_number"] != "ABCPE1234F" || res["pan_verified"] != "true" {
		t.Errorf("result %v; want pan_number ABCPE1234F", res)
	}
}

// TestAppParsesLinksAsTheGoClient: the app's parsePairingURL (proto.js)
// splits pairing links as authenticator.ParseQRURL does, and refuses the
// same malformed ones; it also takes the app's own #pair= address.
func TestAppParsesLinksAsTheGoClient(t *testing.T) {
	srv := startServer(t)
	pctx := newPhoneBrowser(t, "")
	watchPageErrors(t, pctx)
	phoneDo(t, pctx, "open the app", chromedp.Navigate(srv.base+"/app/"), chromedp.WaitVisible(chromedp.CSS(`#scan`)))
	type parsed struct {
		Base  string `json:"base"`
		Token string `json:"token"`
		Err   bool   `json:"err"`
	}
	for _, link := range []string{
		"https://tandem.example.com/d/p7Vd2kQ9xYbN3rT5wZ8cA1fH4jL6mP0sU2vX5yB7eG9",
		"https://Tandem.Example.com:8443/tandem/d/abc_-09",
		"http://127.0.0.1:8080/d/xyz",
		"  https://tandem.example.com/d/abc  ",
		"https://tandem.example.com/d/",
		"https://tandem.example.com/x/abc",
		"https://tandem.example.com/d/a/b",
		"https://tandem.example.com/d/abc?x=1",
		"https://tandem.example.com/d/abc#frag",
		"https://user@tandem.example.com/d/abc",
		"ftp://tandem.example.com/d/abc",
		"not a link",
	} {
		t.Run(url.PathEscape(link), func(t *testing.T) {
			got, err := chromedp.Run(pctx, chromedp.Evaluate[parsed](fmt.Sprintf(`import('./proto.js').then(m => { try { return m.parsePairingURL(%q); } catch (e) { return {err: true}; } })`, link), chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			base, token, gerr := authenticator.ParseQRURL(link)
			want := parsed{Base: base, Token: token, Err: gerr != nil}
			if gerr != nil {
				want = parsed{Err: true}
			}
			if got != want {
				t.Errorf("app: %+v; Go client: %+v", got, want)
			}
		})
	}
	got, err := chromedp.Run(pctx, chromedp.Evaluate[parsed](`import('./proto.js').then(m => m.parsePairingURL('https://tandem.example.com/tandem/app/#pair=abc'))`, chromedp.EvalAwaitPromise))
	if err != nil || got != (parsed{Base: "https://tandem.example.com/tandem", Token: "abc"}) {
		t.Errorf("the app's own address: %+v, %v", got, err)
	}
}

// TestAppPushNotification: a Web Push message, delivered to the app's
// service worker through the DevTools protocol (no push service is
// contacted), shows a notification with the push's title and body that
// names the waiting verification, and nothing else of the push. The
// permission is granted here, so the app has nothing to ask; it never
// subscribes by itself.
func TestAppPushNotification(t *testing.T) {
	srv := startServer(t)
	pctx := newPhoneBrowser(t, "")
	watchPageErrors(t, pctx)
	origin, _ := url.Parse(srv.base)
	if _, err := chromedp.CallBrowser(pctx, browser.SetPermission, browser.SetPermissionParams{
		Permission: &browser.PermissionDescriptor{Name: "notifications"}, Setting: browser.PermissionSettingGranted, Origin: origin.Scheme + "://" + origin.Host,
	}); err != nil {
		t.Fatalf("phone: grant notifications: %v", err)
	}
	regs := make(chan serviceworker.RegistrationID, 16)
	if err := chromedp.Listen(pctx, func(ev any) {
		if e, ok := ev.(*serviceworker.EventWorkerRegistrationUpdated); ok {
			for _, r := range e.Registrations {
				if r.ScopeURL == srv.base+"/app/" && !r.IsDeleted {
					select {
					case regs <- r.RegistrationID:
					default:
					}
				}
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(pctx, serviceworker.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("phone: enable the service worker domain: %v", err)
	}
	phoneDo(t, pctx, "open the app", chromedp.Navigate(srv.base+"/app/"), chromedp.WaitVisible(chromedp.CSS(`#scan`)))
	if _, err := chromedp.Run(pctx, chromedp.Evaluate[bool](`navigator.serviceWorker.ready.then(() => true)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatalf("phone: service worker: %v", err)
	}
	var reg serviceworker.RegistrationID
	select {
	case reg = <-regs:
	case <-pctx.Done():
		t.Fatal("phone: no service worker registration for /app/")
	}
	if _, err := chromedp.Call(pctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
		Origin: srv.base, RegistrationID: reg, Data: `{"verification_id":"0b7e3f52-9c1d-4e8a-a5b6-3f2e1d0c9b8a","title":"Sign in to shop","body":"Confirm it on this phone"}`,
	}); err != nil {
		t.Fatalf("phone: deliver a push: %v", err)
	}
	type note struct {
		Title string `json:"title"`
		Body  string `json:"body"`
		Tag   string `json:"tag"`
		VID   string `json:"vid"`
	}
	notes, err := chromedp.Run(pctx, chromedp.Evaluate[[]note](`(async () => {
  const reg = await navigator.serviceWorker.ready;
  for (let i = 0; i < 50; i++) {
    const ns = await reg.getNotifications();
    if (ns.length) return ns.map(n => ({title: n.title, body: n.body, tag: n.tag, vid: n.data && n.data.verification_id}));
    await new Promise(r => setTimeout(r, 100));
  }
  return [];
})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("phone: read the notifications: %v", err)
	}
	want := note{Title: "Sign in to shop", Body: "Confirm it on this phone", Tag: "0b7e3f52-9c1d-4e8a-a5b6-3f2e1d0c9b8a", VID: "0b7e3f52-9c1d-4e8a-a5b6-3f2e1d0c9b8a"}
	if len(notes) != 1 || notes[0] != want {
		t.Errorf("notifications %+v; want one %+v", notes, want)
	}
	subscribed, err := chromedp.Run(pctx, chromedp.Evaluate[bool](`navigator.serviceWorker.ready.then(r => r.pushManager.getSubscription()).then(s => !!s)`, chromedp.EvalAwaitPromise))
	if err != nil || subscribed {
		t.Errorf("the app subscribed to push by itself (%v, %v)", subscribed, err)
	}
}

// TestAppNumberMismatch: a wrong pick (one attempt) fails the step; the
// phone says the numbers did not match and the page fails by itself.
func TestAppNumberMismatch(t *testing.T) {
	srv := startServer(t)
	d := openDesktop(t, srv, promptWorkspace, nil)
	pctx := newAppPhone(t, srv, "", 12.94739, 80.24207, 10)
	phoneDo(t, pctx, "open the QR link", chromedp.Navigate(d.qrURL), chromedp.WaitVisible(chromedp.CSS(sessionView+` button.choice`)))
	shown, err := readText(d.bctx, `.big-number`)
	if err != nil {
		t.Fatalf("desktop: read the number: %v", err)
	}
	options, err := chromedp.Run(pctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('button.choice')].map(b => b.dataset.value)`))
	if err != nil {
		t.Fatal(err)
	}
	wrong := ""
	for _, o := range options {
		if o != strings.TrimSpace(shown) {
			wrong = o
			break
		}
	}
	phoneDo(t, pctx, "pick a wrong number",
		chromedp.Click(chromedp.CSS(`button.choice[data-value="`+wrong+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`main[data-view="result"][data-status="failed"]`)))
	if text, _ := chromedp.Run(pctx, chromedp.Text(chromedp.CSS(`main`))); !strings.Contains(text, "did not match") {
		t.Errorf("the phone does not say the numbers did not match:\n%s", text)
	}
	d.waitDesktop(t, "failed")
	if res := d.result(t); res["prompt_success"] != "false" {
		t.Errorf("result %v; want prompt_success false", res)
	}
}

// TestAppAfterAdminRevocation: an administrator revokes the phone; the
// next pairing is refused with device_revoked and the app says so and
// retires the key; the pairing after that uses a new key, which the server
// takes as a new phone.
func TestAppAfterAdminRevocation(t *testing.T) {
	srv := startServer(t)
	d := openDesktop(t, srv, appPANWorkspace, nil)
	pctx := newAppPhone(t, srv, "", 12.94739, 80.24207, 10)
	field := chromedp.CSS(sessionView + ` input[name="pan_number"]`)
	phoneDo(t, pctx, "pair", chromedp.Navigate(d.qrURL), chromedp.WaitVisible(field))
	var devices []struct {
		CredID string `json:"web_2_device_cred_id"`
		State  string `json:"state"`
	}
	srv.do(t, http.MethodGet, "/admin/v1/workspaces/shop/users/mark@gmail.com/devices", srv.admin, "", http.StatusOK, &devices)
	if len(devices) != 1 {
		t.Fatalf("devices %+v", devices)
	}
	first := devices[0].CredID
	srv.do(t, http.MethodPost, "/admin/v1/workspaces/shop/devices/"+first+"/revoke", srv.admin, "", http.StatusOK, nil)

	d.start(t)
	phoneDo(t, pctx, "pair again",
		chromedp.Navigate(d.qrURL),
		chromedp.WaitVisible(chromedp.CSS(`main[data-view="message"][data-status="error"]`)))
	if text, _ := chromedp.Run(pctx, chromedp.Text(chromedp.CSS(`main`))); !strings.Contains(text, "removed") {
		t.Errorf("the phone does not say it was removed:\n%s", text)
	}

	d.start(t)
	phoneDo(t, pctx, "pair as a new phone", chromedp.Navigate(d.qrURL), chromedp.WaitVisible(field))
	srv.do(t, http.MethodGet, "/admin/v1/workspaces/shop/users/mark@gmail.com/devices", srv.admin, "", http.StatusOK, &devices)
	states := map[string]string{}
	for _, dev := range devices {
		states[dev.CredID] = dev.State
	}
	if len(devices) != 2 || states[first] != "revoked" {
		t.Errorf("devices %+v; want the revoked one and a new one", devices)
	}
	type keyInfo struct {
		Type, Algorithm, Export string
		Extractable             bool
	}
	keys, err := chromedp.Run(pctx, chromedp.Evaluate[[]keyInfo](keyCheckJS, chromedp.EvalAwaitPromise))
	if err != nil || len(keys) != 2 {
		t.Errorf("stored keys %+v (%v); want the retired one (its registration is still listed) and the new one", keys, err)
	}
}
