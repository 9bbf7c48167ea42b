package httpapi

import (
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
