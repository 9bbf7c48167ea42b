package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

// FuzzReadLocation gives the parser of POST /v/{token}/location arbitrary
// bodies and content types. It must never panic; what it accepts is a JSON
// body of at most MaxLocationBytes, valid UTF-8, one object with only the
// known members, each once, lat, lon and accuracy_m present and finite,
// age_ms (if present) from 0 to one day; what it refuses is an EINVALID
// error (with a status of its own for 413 and 415).
func FuzzReadLocation(f *testing.F) {
	for _, s := range []struct{ body, ctype string }{
		{`{"lat": 12.94739, "lon": 80.24207, "accuracy_m": 18.082, "age_ms": 1250}`, "application/json"},
		{`{"lat": 12.9, "lon": 80.2, "accuracy_m": 10}`, "application/json; charset=utf-8"},
		{`{"lat": 91, "lon": -181, "accuracy_m": -1, "age_ms": -1}`, "application/json"},
		{`{"lat": "12.9", "lon": null, "accuracy_m": 1e400}`, "application/json"},
		{`{"lat": 1, "lat": 2, "lon": 3, "accuracy_m": 4}`, "application/json"},
		{`{"lat": 1, "lon": 2, "accuracy_m": 3, "mock": true}`, "application/json"},
		{`{"lat": 1, "lon": 2, "accuracy_m": 3, "age_ms": 9223372036854775808}`, "application/json"},
		{`[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]`, "application/json"},
		{"{\"lat\": 1, \"lon\": 2, \"accuracy_m\": 3, \"\xff\": 1}", "application/json"},
		{`lat=1&lon=2&accuracy_m=3`, "application/x-www-form-urlencoded"},
		{`{"lat": 1, "lon": 2, "accuracy_m": 3}`, ""},
		{``, "application/json"},
		{strings.Repeat(" ", 1100) + `{}`, "application/json"},
	} {
		f.Add([]byte(s.body), s.ctype)
	}
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		r := httptest.NewRequest(http.MethodPost, "/v/token/location", bytes.NewReader(body))
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		req, err := readLocation(httptest.NewRecorder(), r)
		if err != nil {
			if req != nil {
				t.Fatalf("refused (%v) but returned %+v", err, req)
			}
			if tandem.ErrorCode(err) != tandem.EINVALID || tandem.ErrorMessage(err) == "" {
				t.Fatalf("refused with %v (%T), want an EINVALID error with a message", err, err)
			}
			if se, ok := errors.AsType[*statusError](err); ok && se.status != http.StatusRequestEntityTooLarge && se.status != http.StatusUnsupportedMediaType {
				t.Fatalf("refused with status %d", se.status)
			}
			return
		}
		if mt, _, err := mime.ParseMediaType(ctype); err != nil || mt != "application/json" {
			t.Fatalf("accepted Content-Type %q", ctype)
		}
		if len(body) > MaxLocationBytes {
			t.Fatalf("accepted a body of %d bytes", len(body))
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		var members map[string]json.RawMessage
		if err := dec.Decode(&members); err != nil || members == nil {
			t.Fatalf("accepted %q, which is not a JSON object", body)
		}
		if dec.More() {
			t.Fatalf("accepted %q with trailing data", body)
		}
		if n := countMembers(body); n != len(members) {
			t.Fatalf("accepted %q with a member given twice", body)
		}
		for k := range members {
			switch k {
			case "lat", "lon", "accuracy_m", "age_ms":
			default:
				t.Fatalf("accepted unknown member %q", k)
			}
		}
		if req.Lat == nil || req.Lon == nil || req.AccuracyM == nil {
			t.Fatalf("accepted %q without lat, lon or accuracy_m", body)
		}
		for _, v := range []float64{*req.Lat, *req.Lon, *req.AccuracyM} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted a number that is not finite in %q", body)
			}
		}
		if req.AgeMS != nil && (*req.AgeMS < 0 || *req.AgeMS > 86400000) {
			t.Fatalf("accepted age_ms %d", *req.AgeMS)
		}
	})
}

// countMembers counts the members of the top-level object of data.
func countMembers(data []byte) int {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return -1
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			return -1
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return -1
		}
		n++
	}
	return n
}

// kycDoc has one web application whose workflow is [verify_aadhaar,
// verify_pan].
var kycDoc = tandem.WorkspaceDoc{Name: "acme",
	Applications: []tandem.Application{{Name: "web", VerificationWay: tandem.WayWeb, Workflow: "kyc"}},
	Workflows: []tandem.Workflow{{Name: "kyc", Modules: []tandem.ModuleInstance{
		{Type: "verify_aadhaar", DisplayName: "Aadhaar"}, {Type: "verify_pan", DisplayName: "PAN"}}}},
}

// webTestServer is a web server over an in-memory store holding doc, with
// one verification of its application "web", opened by the browser whose
// key it returns.
func webTestServer(tb testing.TB, doc tandem.WorkspaceDoc) (http.Handler, string, string) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite::memory:", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	env, _ := rules.NewEnv()
	val := &spec.Validator{Modules: all.Registry(), Rules: env}
	if _, err := val.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		tb.Fatal(err)
	}
	eng := &engine.Engine{Store: db, Modules: val.Modules, Rules: env, Events: events.NewHub(), Now: time.Now, PublicURL: "https://verify.example"}
	app, _ := db.GetApplication(ctx, doc.Name, "web")
	c, err := eng.Create(ctx, app, engine.CreateRequest{UserID: "mark"}, "")
	if err != nil {
		tb.Fatal(err)
	}
	token := strings.TrimPrefix(c.URL, "https://verify.example/v/")
	key := newBrowserKey()
	if _, err := eng.Open(ctx, token, key, "203.0.113.1", "Fuzz"); err != nil {
		tb.Fatal(err)
	}
	// Each request sees the clock a minute later: the rate limits never
	// hide the answer of the handler under test.
	var tick atomic.Int64
	start := time.Now()
	srv := &Server{Engine: eng, Events: events.NewHub(), Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return start.Add(time.Duration(tick.Add(1)) * time.Minute) }}
	return srv.Handler(), token, key
}

// FuzzWebRequest sends arbitrary methods, paths (with "{tok}" standing for
// the real link token), content types and bodies to the whole /v/ handler,
// with or without the bound browser's cookie. Whatever the request, the
// answer is never a server failure, and a refusal has a body.
func FuzzWebRequest(f *testing.F) {
	for _, s := range []struct {
		method, path, ctype, body string
		cookie                    bool
	}{
		{"GET", "/v/{tok}", "", "", true},
		{"GET", "/v/{tok}", "", "", false},
		{"POST", "/v/{tok}/steps/0", "application/x-www-form-urlencoded", "aadhaar_number=2341+2341+2346", true},
		{"POST", "/v/{tok}/steps/1", "application/x-www-form-urlencoded", "pan_number=abcpe1234f", true},
		{"POST", "/v/{tok}/steps/-1", "application/x-www-form-urlencoded", "x=%ff", true},
		{"POST", "/v/{tok}/steps/99999999999999999999", "application/x-www-form-urlencoded", "", true},
		{"POST", "/v/{tok}/location", "application/json", `{"lat":1,"lon":2,"accuracy_m":3}`, true},
		{"GET", "/v/{tok}/pairing", "", "", true},
		{"GET", "/v/{tok}/events", "", "", true},
		{"HEAD", "/v/{tok}/events", "", "", false},
		{"GET", "/v/static/app.js", "", "", false},
		{"GET", "/v/static/../../go.mod", "", "", false},
		{"PUT", "/v/%2e%2e%2f{tok}", "text/plain", "x", true},
		{"GET", "/v/' OR 1=1 --", "", "", false},
		{"POST", "/v/{tok}/steps/0", "multipart/form-data; boundary=x", "--x\r\n\r\n--x--", true},
	} {
		f.Add(s.method, s.path, s.ctype, []byte(s.body), s.cookie)
	}
	h, token, key := webTestServer(f, kycDoc)
	f.Fuzz(func(t *testing.T, method, path, ctype string, body []byte, cookie bool) {
		path = strings.ReplaceAll(path, "{tok}", token)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		r, err := http.NewRequestWithContext(ctx, method, "http://verify.example"+path, bytes.NewReader(body))
		if err != nil || r.URL.Path == "" || !strings.HasPrefix(r.URL.Path, "/v/") {
			return // not a request the server would route here
		}
		r.RequestURI = r.URL.RequestURI()
		r.RemoteAddr = "203.0.113.1:4242"
		if ctype != "" {
			r.Header.Set("Content-Type", ctype)
		}
		if cookie {
			r.AddCookie(&http.Cookie{Name: cookieName, Value: key})
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s (%q, %q): status %d\n%s", method, path, ctype, body, res.StatusCode, b)
		}
		if res.StatusCode >= 400 && len(b) == 0 && method != http.MethodHead {
			t.Fatalf("%s %s: status %d with an empty body", method, path, res.StatusCode)
		}
	})
}
