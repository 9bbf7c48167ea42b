// Package app serves Tandem's mobile authenticator: an installable web app
// (PWA) under /app/ that speaks the device protocol (docs/device-protocol.md)
// from a phone's browser, as the Go client in authenticator/ does from a
// terminal. The app's files are plain ES modules and CSS, embedded from
// static/ and served as they are, with a strict Content-Security-Policy.
//
// The service worker (sw.js) is the one file that is not served verbatim:
// the server writes into it the app's version, a hash of every embedded
// file, and the list of files of the offline shell. A change to any file
// changes sw.js, so browsers install the new worker, which caches the new
// shell under a new name and deletes the old one.
package app

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed static
var staticFiles embed.FS

// Prefix is the path the app is served under.
const Prefix = "/app/"

// ContentSecurityPolicy is the policy of every answer under /app/. The app
// loads only its own scripts, styles, images, manifest and worker, talks
// only to its own server (connect-src 'self': the device protocol of the
// server that serves it), and may not be framed. The camera preview needs
// no media-src: a <video> whose srcObject is a MediaStream fetches nothing.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; manifest-src 'self'; worker-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// PermissionsPolicy lets the app itself use the camera (QR scanning) and
// geolocation (proximity), and nothing else that could be abused.
const PermissionsPolicy = "camera=(self), geolocation=(self), microphone=(), payment=(), usb=()"

// Placeholders in sw.js that the server replaces.
const (
	versionPlaceholder = `"__TANDEM_APP_VERSION__"`
	shellPlaceholder   = `["__TANDEM_APP_SHELL__"]`
)

// contentTypes maps file extensions to the Content-Type they are served
// with; a file with another extension is not embedded in the shell and is
// served as text/plain (LICENSE, SOURCE).
var contentTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".webmanifest": "application/manifest+json",
	".png":         "image/png",
	".svg":         "image/svg+xml",
	".json":        "application/json",
}

// asset is a file as served.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// App serves the web app. Build it with New.
type App struct {
	assets  map[string]*asset // by path under /app/, "" for index.html
	version string
	shell   []string
}

// New reads the embedded files. It fails only when the embedded files are
// not what the package expects (a programming error).
func New() (*App, error) {
	return newFromFS(staticFiles, "static")
}

func newFromFS(fsys fs.FS, root string) (*App, error) {
	a := &App{assets: map[string]*asset{}}
	raw := map[string][]byte{}
	var names []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, root+"/")
		raw[name] = b
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("app: read embedded files: %w", err)
	}
	slices.Sort(names)
	for _, n := range []string{"index.html", "sw.js", "manifest.webmanifest"} {
		if raw[n] == nil {
			return nil, fmt.Errorf("app: %s is not embedded", n)
		}
	}

	// The version covers every file, sw.js as written.
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(raw[n]))
		h.Write(raw[n])
	}
	a.version = hex.EncodeToString(h.Sum(nil))[:16]

	// The shell is what the app needs offline: its pages, modules, styles,
	// icons and the QR decoder, as URLs relative to /app/.
	a.shell = []string{"./"}
	for _, n := range names {
		if n == "sw.js" || n == "index.html" {
			continue
		}
		if _, ok := contentTypes[path.Ext(n)]; ok {
			a.shell = append(a.shell, n)
		}
	}

	sw := raw["sw.js"]
	shellJSON, _ := json.Marshal(a.shell)
	if bytes.Count(sw, []byte(versionPlaceholder)) != 1 || bytes.Count(sw, []byte(shellPlaceholder)) != 1 {
		return nil, fmt.Errorf("app: sw.js must hold %s and %s once each", versionPlaceholder, shellPlaceholder)
	}
	sw = bytes.Replace(sw, []byte(versionPlaceholder), []byte(`"`+a.version+`"`), 1)
	sw = bytes.Replace(sw, []byte(shellPlaceholder), shellJSON, 1)
	raw["sw.js"] = sw

	for _, n := range names {
		ct, ok := contentTypes[path.Ext(n)]
		if !ok {
			ct = "text/plain; charset=utf-8"
		}
		sum := sha256.Sum256(raw[n])
		key := n
		if n == "index.html" {
			key = ""
		}
		a.assets[key] = &asset{body: raw[n], contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return a, nil
}

// Version is the hash of the embedded files that names the service
// worker's cache.
func (a *App) Version() string { return a.version }

// Shell returns the URLs, relative to /app/, that the service worker
// caches for offline use.
func (a *App) Shell() []string { return slices.Clone(a.shell) }

// Handler serves GET and HEAD of /app/ (index.html) and /app/{file}. Every
// answer, errors included, carries the app's security headers. Files are
// served with an ETag and "Cache-Control: no-cache": browsers revalidate
// them (a 304 when unchanged), and the service worker keeps the offline
// copy. /app/index.html is redirected to /app/. Unknown files are 404 and
// other methods 405, as plain text. The worker, /app/sw.js, needs no
// Service-Worker-Allowed header: its scope is its own directory, /app/.
func (a *App) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("Permissions-Policy", PermissionsPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "Method not allowed: the app's files are read with GET.", http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if name == "index.html" {
			// Relative, so it also works under a public URL with a path.
			h.Set("Location", "./")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		f := a.assets[name]
		if f == nil {
			h.Set("Cache-Control", "no-store")
			http.Error(w, "No such file in the Tandem app: "+name, http.StatusNotFound)
			return
		}
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	})
}
