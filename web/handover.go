package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/skip2/go-qrcode"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/module"
)

// Hand-over timing.
const (
	// pairingLead is how long before a pairing code expires the page
	// fetches a new one (app.js) or reloads (without JavaScript).
	pairingLead = 10 * time.Second
	// minRefresh is the shortest meta refresh of a hand-over page.
	minRefresh = 5
	// pairedRefresh is the meta refresh, without JavaScript, of a page
	// that follows a phone: it shows what the phone's current step shows.
	pairedRefresh = 15
	// qrModulePixels is the size of a QR code module in the PNG.
	qrModulePixels = 8
)

// handoverData is what a hand-over page shows: the QR code while no phone
// has joined, or what the phone's current step shows once one has.
type handoverData struct {
	Paired bool
	// Note tells that a phone was refused; shown while no phone has joined.
	Note string

	// While not paired. Pairing is nil when no code could be made (the
	// hand-over moved on meanwhile): the page then only waits.
	Pairing *pairingData
	// PairingPath is the URL app.js fetches a new code from.
	PairingPath string
	Push        bool

	// Once paired.
	PhoneStep string
	Nodes     []module.Node

	// Page is the URL of the page, for the "check again" link.
	Page string
}

// pairingData is one pairing code as the page shows it.
type pairingData struct {
	URL       string
	QR        template.URL // data:image/png;base64,...
	QRSize    int          // the PNG's width and height in pixels
	ExpiresAt string       // RFC 3339, UTC
	ExpiresIn int          // seconds from now
	Remaining string       // ExpiresIn as m:ss
}

// newPairingData encodes p's URL as a QR code.
func newPairingData(p *engine.Pairing, now time.Time) (*pairingData, error) {
	qr, size, err := qrDataURL(p.URL)
	if err != nil {
		return nil, err
	}
	in := secondsUntil(p.ExpiresAt, now)
	return &pairingData{
		URL:       p.URL,
		QR:        template.URL(qr), // a data URL made here, not input
		QRSize:    size,
		ExpiresAt: p.ExpiresAt.UTC().Format(time.RFC3339),
		ExpiresIn: in,
		Remaining: fmt.Sprintf("%d:%02d", in/60, in%60),
	}, nil
}

// qrDataURL returns content as a QR code in a PNG data URL, and the
// image's size in pixels.
func qrDataURL(content string) (string, int, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return "", 0, fmt.Errorf("encode QR code: %w", err)
	}
	img := q.Image(-qrModulePixels)
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&b, img); err != nil {
		return "", 0, fmt.Errorf("encode QR code: %w", err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()), img.Bounds().Dx(), nil
}

// secondsUntil returns the whole seconds from now to t (rounded up), at
// least 0.
func secondsUntil(t, now time.Time) int {
	return max(0, int(math.Ceil(t.Sub(now).Seconds())))
}

// handoverPage describes the running hand-over of the page of token. For a
// hand-over that waits for a phone, pairing is the code to show (nil when
// none could be made).
func handoverPage(token string, h *engine.HandoverView, pairing *engine.Pairing, now time.Time) (*handoverData, int, error) {
	d := &handoverData{Paired: h.Paired, Page: pagePath(token)}
	if h.Paired {
		d.PhoneStep = h.Step
		d.Nodes = h.Nodes
		return d, pairedRefresh, nil
	}
	d.Note = h.Note
	d.PairingPath = pagePath(token) + "/pairing"
	if pairing == nil {
		return d, pairedRefresh, nil
	}
	p, err := newPairingData(pairing, now)
	if err != nil {
		return nil, 0, err
	}
	d.Pairing, d.Push = p, pairing.Push
	return d, max(minRefresh, p.ExpiresIn-int(pairingLead/time.Second)), nil
}

// pairingResponse is the body of GET /v/{token}/pairing.
type pairingResponse struct {
	URL       string `json:"url"`
	QR        string `json:"qr"`
	ExpiresAt int64  `json:"expires_at"` // Unix seconds
	// ExpiresIn is the seconds from now to ExpiresAt: the browser counts
	// down from it, whatever its own clock says.
	ExpiresIn int `json:"expires_in"`
}

var errCrossSiteRead = tandem.Errorf(tandem.EFORBIDDEN, "This address can only be read by the verification page.")

// pairing makes a new pairing code for the hand-over that waits for a
// phone, for the browser bound to the verification: app.js calls it
// before the shown code expires. It answers ECONFLICT (409) when no
// hand-over waits (a phone joined, the verification moved on).
func (s *Server) pairing(w http.ResponseWriter, r *http.Request) error {
	// Only the page itself reads codes; a cross-site request does not even
	// make one.
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return errCrossSiteRead
	}
	token, key, addr := r.PathValue("token"), browserKey(r), clientAddr(r)
	if r.Method == http.MethodHead {
		if _, err := s.Engine.Lookup(r.Context(), token, key, addr); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		return nil
	}
	p, err := s.Engine.NewPairing(r.Context(), token, key, addr)
	if err != nil {
		return err
	}
	qr, _, err := qrDataURL(p.URL)
	if err != nil {
		return err
	}
	body, err := json.Marshal(pairingResponse{URL: p.URL, QR: qr, ExpiresAt: p.ExpiresAt.Unix(), ExpiresIn: secondsUntil(p.ExpiresAt, s.Now())})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// problemJSON is the body of a failed JSON request.
type problemJSON struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// handleJSON is handle for routes that answer JSON: a failure is a JSON
// problem instead of an error page.
func (s *Server) handleJSON(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &responseWriter{ResponseWriter: w}
		err := h(rw, r)
		if err == nil {
			return
		}
		status, p := errorPage(err)
		s.logFailure(r, status, err)
		if rw.started {
			return
		}
		if ra, ok := errors.AsType[*rateLimitError](err); ok {
			w.Header().Set("Retry-After", strconv.Itoa(ra.seconds()))
		}
		msg := p.Error.Heading + "."
		if len(p.Error.Paragraphs) > 0 {
			msg += " " + p.Error.Paragraphs[0]
		}
		body, _ := json.Marshal(problemJSON{Status: status, Code: tandem.ErrorCode(err), Message: msg})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(status)
		w.Write(body)
	})
}
