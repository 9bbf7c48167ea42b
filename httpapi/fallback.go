package httpapi

import (
	"mime"
	"net/http"
	"strings"
)

// problemFallback answers the requests that no route of mux matches (an
// unknown path, or a known path with another method) with a problem+json 404
// or 405, instead of ServeMux's plain-text answers.
func problemFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			if !jsonBody(r) {
				writeProblem(w, http.StatusUnsupportedMediaType, "The request body must be JSON: send it with Content-Type: application/json.")
				return
			}
			mux.ServeHTTP(w, r)
			return
		}
		// ServeMux's own answer tells 404 from 405 and sets Allow; keep
		// those, drop its text.
		c := &statusCapture{header: http.Header{}, status: http.StatusOK}
		h.ServeHTTP(c, r)
		switch c.status {
		case http.StatusMethodNotAllowed:
			allow := c.header.Get("Allow")
			w.Header().Set("Allow", allow)
			writeProblem(w, c.status, "Method "+r.Method+" is not allowed on "+r.URL.Path+"; use "+strings.ReplaceAll(allow, ", ", " or ")+".")
		default:
			writeProblem(w, http.StatusNotFound, "No such endpoint: "+r.URL.Path)
		}
	})
}

// statusCapture is a ResponseWriter that keeps only the status and headers.
type statusCapture struct {
	header http.Header
	status int
}

func (c *statusCapture) Header() http.Header         { return c.header }
func (c *statusCapture) Write(b []byte) (int, error) { return len(b), nil }
func (c *statusCapture) WriteHeader(status int)      { c.status = status }

// jsonBody reports whether r's body, if it has one, may be JSON: every body
// of the JSON APIs is JSON, so a body labelled as something else (a form,
// text) is refused rather than parsed anyway. A body without a
// Content-Type is taken as JSON.
func jsonBody(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" || (r.ContentLength == 0 && len(r.TransferEncoding) == 0) {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")))
}
