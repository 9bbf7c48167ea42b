package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// jsqrSHA256 pins the vendored QR decoder: the sha256 of
// static/vendor/jsqr/jsQR.js as it is in the npm tarball of jsqr 1.4.0
// (whose sha512 integrity static/vendor/jsqr/SOURCE records).
const jsqrSHA256 = "bc40c8a15196236b2314db0856f72ca0b49980cd5413b8c852a7349f5fee0859"

func newApp(t *testing.T) *App {
	t.Helper()
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type answer struct {
	status int
	header http.Header
	body   string
}

func serve(t *testing.T, a *App, method, path string, hdr map[string]string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return answer{rec.Code, rec.Result().Header, string(b)}
}

func TestJSQRChecksumPin(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("static", "vendor", "jsqr", "jsQR.js"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != jsqrSHA256 {
		t.Errorf("vendor/jsqr/jsQR.js has sha256 %s, want the pinned %s: the vendored decoder changed; vendor it again as SOURCE says", got, jsqrSHA256)
	}
	src, err := os.ReadFile(filepath.Join("static", "vendor", "jsqr", "SOURCE"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version:   1.4.0", "sha512-dxLob7q65Xg2DvstYkRpkYtmKm2sPJ9oFhrhmudT1dZvNFFTlroai3AWSpLey/w5vMcLBXRgOJsbXpdN9HzU/A==", jsqrSHA256} {
		if !strings.Contains(string(src), want) {
			t.Errorf("SOURCE does not record %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join("static", "vendor", "jsqr", "LICENSE")); err != nil {
		t.Errorf("the vendored decoder's LICENSE: %v", err)
	}
	// The served file is the pinned one.
	got := serve(t, newApp(t), http.MethodGet, "/app/vendor/jsqr/jsQR.js", nil)
	if sum := sha256.Sum256([]byte(got.body)); got.status != 200 || hex.EncodeToString(sum[:]) != jsqrSHA256 {
		t.Errorf("served jsQR.js: status %d, a different body", got.status)
	}
}

func TestHeaders(t *testing.T) {
	a := newApp(t)
	want := map[string]string{
		"Content-Security-Policy":      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
		"Permissions-Policy":           "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()",
		"Referrer-Policy":              "no-referrer",
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
	}
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"index", http.MethodGet, "/app/", 200},
		{"module", http.MethodGet, "/app/app.js", 200},
		{"worker", http.MethodGet, "/app/sw.js", 200},
		{"head", http.MethodHead, "/app/style.css", 200},
		{"missing", http.MethodGet, "/app/nothing.js", 404},
		{"traversal", http.MethodGet, "/app/../app.go", 404},
		{"post", http.MethodPost, "/app/", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := serve(t, a, tc.method, tc.path, nil)
			if got.status != tc.status {
				t.Errorf("status %d, want %d", got.status, tc.status)
			}
			for k, v := range want {
				if g := got.header.Get(k); g != v {
					t.Errorf("%s = %q, want %q", k, g, v)
				}
			}
			if tc.status == 405 && got.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", got.header.Get("Allow"))
			}
		})
	}
}

func TestContentTypes(t *testing.T) {
	a := newApp(t)
	for path, want := range map[string]string{
		"/app/":                       "text/html; charset=utf-8",
		"/app/app.js":                 "text/javascript; charset=utf-8",
		"/app/proto.js":               "text/javascript; charset=utf-8",
		"/app/sw.js":                  "text/javascript; charset=utf-8",
		"/app/vendor/jsqr/jsQR.js":    "text/javascript; charset=utf-8",
		"/app/style.css":              "text/css; charset=utf-8",
		"/app/manifest.webmanifest":   "application/manifest+json",
		"/app/icons/icon-192.png":     "image/png",
		"/app/vendor/jsqr/LICENSE":    "text/plain; charset=utf-8",
		"/app/vendor/jsqr/SOURCE":     "text/plain; charset=utf-8",
		"/app/icons/maskable-512.png": "image/png",
	} {
		got := serve(t, a, http.MethodGet, path, nil)
		if got.status != 200 || got.header.Get("Content-Type") != want {
			t.Errorf("%s: status %d, Content-Type %q; want 200, %q", path, got.status, got.header.Get("Content-Type"), want)
		}
		if cc := got.header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q, want no-cache", path, cc)
		}
	}
}

func TestRevalidation(t *testing.T) {
	a := newApp(t)
	first := serve(t, a, http.MethodGet, "/app/app.js", nil)
	etag := first.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := serve(t, a, http.MethodGet, "/app/app.js", map[string]string{"If-None-Match": etag})
	if again.status != http.StatusNotModified || again.body != "" {
		t.Errorf("revalidation: %d with %d bytes, want 304 and no body", again.status, len(again.body))
	}
	if other := serve(t, a, http.MethodGet, "/app/style.css", nil).header.Get("ETag"); other == etag {
		t.Errorf("two files share the ETag %s", etag)
	}
	red := serve(t, a, http.MethodGet, "/app/index.html", nil)
	if red.status != http.StatusMovedPermanently || red.header.Get("Location") != "./" {
		t.Errorf("/app/index.html: %d to %q, want 301 to ./", red.status, red.header.Get("Location"))
	}
}

func TestManifest(t *testing.T) {
	a := newApp(t)
	got := serve(t, a, http.MethodGet, "/app/manifest.webmanifest", nil)
	var m struct {
		ID, Name, ShortName, StartURL, Scope, Display, ThemeColor, BackgroundColor string
		Icons                                                                      []struct{ Src, Sizes, Type, Purpose string }
	}
	dec := map[string]any{}
	if err := json.Unmarshal([]byte(got.body), &dec); err != nil {
		t.Fatalf("manifest is not JSON: %v", err)
	}
	raw, _ := json.Marshal(map[string]any{
		"ID": dec["id"], "Name": dec["name"], "ShortName": dec["short_name"], "StartURL": dec["start_url"], "Scope": dec["scope"],
		"Display": dec["display"], "ThemeColor": dec["theme_color"], "BackgroundColor": dec["background_color"], "Icons": dec["icons"],
	})
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("manifest fields have the wrong types: %v", err)
	}
	if m.Name != "Tandem" || m.ShortName == "" || m.Display != "standalone" || m.ThemeColor == "" || m.BackgroundColor == "" {
		t.Errorf("manifest %+v", m)
	}
	// start_url, scope and id are relative to the manifest, so the app
	// also works under a public URL with a path; from /app/ they are /app/.
	manifestURL, _ := url.Parse("https://verify.example/app/manifest.webmanifest")
	for name, v := range map[string]string{"start_url": m.StartURL, "scope": m.Scope, "id": m.ID} {
		u, err := url.Parse(v)
		if err != nil || manifestURL.ResolveReference(u).String() != "https://verify.example/app/" {
			t.Errorf("%s %q resolves to %v, want https://verify.example/app/", name, v, manifestURL.ResolveReference(u))
		}
	}
	var purposes []string
	for _, ic := range m.Icons {
		f := serve(t, a, http.MethodGet, "/app/"+ic.Src, nil)
		if f.status != 200 || ic.Type != "image/png" {
			t.Errorf("icon %s: status %d, type %q", ic.Src, f.status, ic.Type)
			continue
		}
		img, err := png.Decode(strings.NewReader(f.body))
		if err != nil {
			t.Errorf("icon %s: %v", ic.Src, err)
			continue
		}
		if b := img.Bounds(); ic.Sizes != fmt.Sprintf("%dx%d", b.Dx(), b.Dy()) {
			t.Errorf("icon %s is %dx%d, manifest says %s", ic.Src, b.Dx(), b.Dy(), ic.Sizes)
		}
		purposes = append(purposes, ic.Purpose+" "+ic.Sizes)
	}
	slices.Sort(purposes)
	if diff := cmp.Diff([]string{"any 192x192", "any 512x512", "maskable 192x192", "maskable 512x512"}, purposes); diff != "" {
		t.Errorf("icons (-want +got):\n%s", diff)
	}
}

// TestServiceWorker: the server writes the version and the shell into
// sw.js; the shell lists the app's files and nothing of the device API.
func TestServiceWorker(t *testing.T) {
	a := newApp(t)
	sw := serve(t, a, http.MethodGet, "/app/sw.js", nil).body
	if !strings.Contains(sw, `const VERSION = "`+a.Version()+`";`) || len(a.Version()) != 16 {
		t.Errorf("sw.js does not carry the version %q", a.Version())
	}
	if strings.Contains(sw, "__TANDEM_APP_") {
		t.Error("sw.js still holds a placeholder")
	}
	shell := a.Shell()
	for _, want := range []string{"./", "app.js", "proto.js", "keys.js", "scan.js", "ui.js", "style.css", "manifest.webmanifest", "icons/icon-192.png", "vendor/jsqr/jsQR.js"} {
		if !slices.Contains(shell, want) {
			t.Errorf("shell %v lacks %s", shell, want)
		}
	}
	for _, s := range shell {
		if strings.Contains(s, "device") || s == "sw.js" || s == "vendor/jsqr/LICENSE" {
			t.Errorf("shell holds %s", s)
		}
		if s != "./" && serve(t, a, http.MethodGet, "/app/"+s, nil).status != 200 {
			t.Errorf("shell file %s is not served", s)
		}
	}
	shellJSON, _ := json.Marshal(shell)
	if !strings.Contains(sw, "const SHELL = "+string(shellJSON)+";") {
		t.Errorf("sw.js does not carry the shell %s", shellJSON)
	}
}

// TestVersionFollowsFiles: changing any file changes the version, and so
// sw.js, which makes browsers install the new worker and cache.
func TestVersionFollowsFiles(t *testing.T) {
	files := fstest.MapFS{
		"s/index.html":           {Data: []byte("<!doctype html>")},
		"s/manifest.webmanifest": {Data: []byte("{}")},
		"s/sw.js":                {Data: []byte(`const VERSION = "__TANDEM_APP_VERSION__"; const SHELL = ["__TANDEM_APP_SHELL__"];`)},
		"s/app.js":               {Data: []byte("1")},
	}
	a1, err := newFromFS(files, "s")
	if err != nil {
		t.Fatal(err)
	}
	files["s/app.js"] = &fstest.MapFile{Data: []byte("2")}
	a2, err := newFromFS(files, "s")
	if err != nil {
		t.Fatal(err)
	}
	if a1.Version() == a2.Version() {
		t.Error("the version did not change with app.js")
	}
	if diff := cmp.Diff([]string{"./", "app.js", "manifest.webmanifest"}, a2.Shell()); diff != "" {
		t.Errorf("shell (-want +got):\n%s", diff)
	}
	files["s/sw.js"] = &fstest.MapFile{Data: []byte(`const VERSION = "x";`)}
	if _, err := newFromFS(files, "s"); err == nil {
		t.Error("a sw.js without the placeholders was accepted")
	}
	delete(files, "s/index.html")
	if _, err := newFromFS(files, "s"); err == nil {
		t.Error("a missing index.html was accepted")
	}
}
