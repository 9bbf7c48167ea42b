package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandem-id/tandem"
)

// BenchmarkQRDataURL measures the QR code of a hand-over page: a pairing
// link encoded as a QR code (go-qrcode tries all 8 masks: most of the
// time), drawn as a 1-bit PNG (4 pixels per module, fast compression) and
// put in a data URL. Every hand-over page view and every code refresh
// makes one.
func BenchmarkQRDataURL(b *testing.B) {
	link := "https://verify.example/d/" + strings.Repeat("Vq3l8Qv2cU1a7bC0yZ9xW4t6s5r2p1o0n9m8l7k6j5i", 1)
	for b.Loop() {
		if _, _, err := qrDataURL(link); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPage GETs path from h with the browser's cookie, in a loop.
func benchPage(b *testing.B, h http.Handler, path, key string, want int) {
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = "203.0.113.1:4242"
		r.AddCookie(&http.Cookie{Name: cookieName, Value: key})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			b.Fatalf("GET %s: %d\n%s", path, w.Code, w.Body)
		}
	}
}

// BenchmarkStepPage measures a step page with its form (the Aadhaar
// step): lookup of the link, binding check, template rendering, headers.
func BenchmarkStepPage(b *testing.B) {
	h, token, key := webTestServer(b, kycDoc)
	benchPage(b, h, "/v/"+token, key, http.StatusOK)
}

// handoverDoc hands over to a phone that runs a number prompt.
var handoverDoc = tandem.WorkspaceDoc{Name: "acme",
	Applications: []tandem.Application{
		{Name: "web", VerificationWay: tandem.WayWeb, Workflow: "login"},
		{Name: "phone", VerificationWay: tandem.WayMobile, Workflow: "on-phone"}},
	Workflows: []tandem.Workflow{
		{Name: "login", Modules: []tandem.ModuleInstance{{Type: "web_to_device", DisplayName: "Continue on your phone",
			Configs: []byte(`{"device_application":"phone","number_prompt":true}`)}}},
		{Name: "on-phone", Modules: []tandem.ModuleInstance{{Type: "number_prompt", DisplayName: "Match the number"}}}},
}

// BenchmarkHandoverPage measures the page a browser shows while it waits
// for a phone: a new pairing code (a write) and its QR code on every view.
func BenchmarkHandoverPage(b *testing.B) {
	h, token, key := webTestServer(b, handoverDoc)
	benchPage(b, h, "/v/"+token, key, http.StatusOK)
}

// BenchmarkPairingJSON measures GET /v/{token}/pairing, the code refresh
// app.js makes before a code expires.
func BenchmarkPairingJSON(b *testing.B) {
	h, token, key := webTestServer(b, handoverDoc)
	benchPage(b, h, "/v/"+token+"/pairing", key, http.StatusOK)
}
