package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	// qrModulePixels is the size of a QR code module as the page shows
	// it (the img element's width and height); qrPNGModulePixels is its
	// size in the PNG, which the page scales up without smoothing
	// (style.css: image-rendering: pixelated). A small PNG is quick to
	// make and to send; 4 pixels keep it readable even where a browser
	// smooths the scaling.
	qrModulePixels    = 8
	qrPNGModulePixels = 4
	// MaxLocationBytes bounds the body of POST /v/{token}/location.
	MaxLocationBytes = 1 << 10
)

// handoverData is what a hand-over page shows: the QR code while no phone
// has joined (or first, when the phone's steps compare locations, a button
// that shares this computer's location), or what the phone's current step
// shows once one has.
type handoverData struct {
	Paired bool
	// Note tells that a phone was refused; shown while no phone has joined.
	Note string

	// LocationPath, when set, is the URL app.js posts this computer's
	// location to: the page asks for it instead of showing a code.
	LocationPath string

	// While not paired. Pairing is nil when no code could be made (the
	// hand-over moved on meanwhile): the page then only waits.
	Pairing *pairingData
	// PairingPath is the URL app.js fetches a new code from.
	PairingPath string
	Push        bool

	// Once paired.
	PhoneStep string
	Nodes     []phoneNode

	// Page is the URL of the page, for the "check again" link.
	Page string
}

// phoneNode is a node of what the phone's current step shows on the web
// page; a "deadline" node comes with its countdown.
type phoneNode struct {
	module.Node
	Countdown *countdown
}

// countdown is a <time class="countdown"> that app.js counts down each
// second: the time left until At.
type countdown struct {
	At        string // RFC 3339, UTC
	In        int    // seconds from now
	Remaining string // In as m:ss
}

func newCountdown(at, now time.Time) countdown {
	in := secondsUntil(at, now)
	return countdown{At: at.UTC().Format(time.RFC3339), In: in, Remaining: fmt.Sprintf("%d:%02d", in/60, in%60)}
}

// pairingData is one pairing code as the page shows it.
type pairingData struct {
	URL     string
	QR      template.URL // data:image/png;base64,...
	QRSize  int          // the image's width and height on the page, in CSS pixels
	Expires countdown
}

// newPairingData encodes p's URL as a QR code.
func newPairingData(p *engine.Pairing, now time.Time) (*pairingData, error) {
	qr, size, err := qrDataURL(p.URL)
	if err != nil {
		return nil, err
	}
	return &pairingData{
		URL:     p.URL,
		QR:      template.URL(qr), // a data URL made here, not input
		QRSize:  size,
		Expires: newCountdown(p.ExpiresAt, now),
	}, nil
}

// qrPalette is the PNG's: light (the background and quiet zone), dark.
var qrPalette = color.Palette{color.White, color.Black}

// qrPNGBuffers reuses the PNG encoder's buffers (its zlib writer is
// ~800 KiB) across QR codes.
var qrPNGBuffers = &pngBufferPool{}

// pngBufferPool is a png.EncoderBufferPool over a sync.Pool.
type pngBufferPool struct{ p sync.Pool }

func (b *pngBufferPool) Get() *png.EncoderBuffer {
	e, _ := b.p.Get().(*png.EncoderBuffer)
	return e
}
func (b *pngBufferPool) Put(e *png.EncoderBuffer) { b.p.Put(e) }

// qrDataURL returns content as a QR code (level M, with its 4-module
// quiet zone) in a PNG data URL, and the size in CSS pixels the page shows
// it at (qrModulePixels per module). The PNG is 1 bit per pixel with
// qrPNGModulePixels per module, compressed for speed: its size is a few
// hundred bytes whatever the level, and every hand-over page view and
// code refresh makes one.
func qrDataURL(content string) (string, int, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return "", 0, fmt.Errorf("encode QR code: %w", err)
	}
	bits := q.Bitmap() // the modules, quiet zone included; square
	n := len(bits) * qrPNGModulePixels
	img := image.NewPaletted(image.Rect(0, 0, n, n), qrPalette)
	for y, row := range bits {
		line := img.Pix[y*qrPNGModulePixels*img.Stride:][:n]
		for x, dark := range row {
			if dark {
				for i := range qrPNGModulePixels {
					line[x*qrPNGModulePixels+i] = 1
				}
			}
		}
		for i := 1; i < qrPNGModulePixels; i++ {
			copy(img.Pix[(y*qrPNGModulePixels+i)*img.Stride:][:n], line)
		}
	}
	var b bytes.Buffer
	b.WriteString("data:image/png;base64,")
	enc := base64.NewEncoder(base64.StdEncoding, &b)
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: qrPNGBuffers}).Encode(enc, img); err != nil {
		return "", 0, fmt.Errorf("encode QR code: %w", err)
	}
	enc.Close()
	return b.String(), len(bits) * qrModulePixels, nil
}

// secondsUntil returns the whole seconds from now to t (rounded up), at
// least 0.
func secondsUntil(t, now time.Time) int {
	return max(0, int(math.Ceil(t.Sub(now).Seconds())))
}

// needsWebLocation reports whether the hand-over h waits for this
// computer's location before it shows a code.
func needsWebLocation(h *engine.HandoverView) bool {
	return h != nil && !h.Paired && h.NeedsLocation && !h.HasLocation
}

// handoverPage describes the running hand-over of the page of token, and
// the page's refresh without JavaScript (0 for none). For a hand-over that
// waits for a phone, pairing is the code to show (nil when none could be
// made).
func handoverPage(token string, h *engine.HandoverView, pairing *engine.Pairing, now time.Time) (*handoverData, int, error) {
	d := &handoverData{Paired: h.Paired, Page: pagePath(token)}
	if h.Paired {
		d.PhoneStep = h.Step
		refresh := pairedRefresh
		d.Nodes = make([]phoneNode, len(h.Nodes))
		for i, n := range h.Nodes {
			d.Nodes[i] = phoneNode{Node: n}
			if n.Kind != "deadline" {
				continue
			}
			sec, err := strconv.ParseInt(n.Value, 10, 64)
			if err != nil {
				continue // not a time: shown as nothing
			}
			c := newCountdown(time.Unix(sec, 0), now)
			d.Nodes[i].Countdown = &c
			// Without JavaScript, reload soon after the time is up: the
			// server then ends the step.
			refresh = min(refresh, max(minRefresh, c.In+1))
		}
		return d, refresh, nil
	}
	d.Note = h.Note
	if needsWebLocation(h) {
		// Nothing changes by itself until this browser shares its
		// location, which takes JavaScript: no refresh.
		d.LocationPath = pagePath(token) + "/location"
		return d, 0, nil
	}
	d.PairingPath = pagePath(token) + "/pairing"
	if pairing == nil {
		return d, pairedRefresh, nil
	}
	p, err := newPairingData(pairing, now)
	if err != nil {
		return nil, 0, err
	}
	d.Pairing, d.Push = p, pairing.Push
	return d, max(minRefresh, p.Expires.In-int(pairingLead/time.Second)), nil
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
	// Errors name the fields of the request in error (for 422).
	Errors []tandem.FieldError `json:"errors,omitempty"`
}

// handleJSON is handle for routes that answer JSON: a failure is a JSON
// problem instead of an error page.
func (s *Server) handleJSON(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &responseWriter{ResponseWriter: w}
		if err := h(rw, r); err != nil {
			s.failJSON(rw, r, err)
		}
	})
}

// failJSON logs err and, unless the response has started, writes it as a
// JSON problem. Invalid input is 422 (with its fields) unless err carries
// a status of its own.
func (s *Server) failJSON(w *responseWriter, r *http.Request, err error) {
	status, p := errorPage(err)
	if tandem.ErrorCode(err) == tandem.EINVALID {
		status = http.StatusUnprocessableEntity
	}
	if se, ok := errors.AsType[*statusError](err); ok {
		status = se.status
	}
	s.logFailure(r, status, err)
	if w.started {
		return
	}
	if ra, ok := errors.AsType[*rateLimitError](err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(ra.seconds()))
	}
	msg := p.Error.Heading + "."
	if len(p.Error.Paragraphs) > 0 {
		msg += " " + p.Error.Paragraphs[0]
	}
	body, _ := json.Marshal(problemJSON{Status: status, Code: tandem.ErrorCode(err), Message: msg, Errors: tandem.ErrorFields(err)})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// jsonRoute reports whether r is for a route that answers JSON, whose
// refusals (cross-site, rate limited) are JSON problems too.
func jsonRoute(r *http.Request) bool {
	p := r.URL.Path
	return strings.Count(p, "/") == 3 && !strings.HasPrefix(p, "/v/static/") &&
		(strings.HasSuffix(p, "/pairing") || strings.HasSuffix(p, "/location"))
}
