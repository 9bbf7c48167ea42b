package deviceapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/ratelimit"
)

// Names of the device API's limits in refusals and metrics.
const (
	surface     = "device"
	limitAddr   = "address"
	limitDevice = "device"
)

func (s *Server) initLimits() {
	s.RateLimits = ratelimit.OrDefault(s.RateLimits, s.Now)
	cfg := s.RateLimits.Config()
	s.byAddr = s.RateLimits.Limit(limitAddr, cfg.DeviceAddr, "requests from this address")
	s.byDevice = s.RateLimits.Limit(limitDevice, cfg.Device, "requests from this device")
}

// limit refuses a request over the rate of its client address (unless the
// address is exempt) and a POST over the rate of the device it names: the
// kid of its signed message, or the cred_id of a challenge request. The
// device is read before the signature is checked, which is enough to
// limit: a client that names another device only spends that device's
// budget, as the per-address limit bounds it.
func (s *Server) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ref := s.byAddr.AllowAddr(surface, ratelimit.ClientAddr(r)); ref != nil {
			s.refuse(w, r, ref)
			return
		}
		if r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/device/") {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				w.Header().Set("Cache-Control", "no-store")
				s.writeProblem(w, r, err)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			if cred := namedDevice(body); cred != "" {
				if ref := s.byDevice.Allow(surface, cred); ref != nil {
					s.refuse(w, r, ref)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a refused request: 429, Retry-After, a problem with code
// "rate_limited".
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, ref *ratelimit.Refusal) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Retry-After", strconv.Itoa(ref.RetryAfter()))
	s.writeProblem(w, r, ref)
}

// namedDevice returns the credential id that a device request body names,
// unverified, or "" when it names none (a pairing request, a malformed
// body: the handler refuses those).
func namedDevice(body []byte) string {
	var req struct {
		JWS    string `json:"jws"`
		CredID string `json:"cred_id"`
	}
	if json.Unmarshal(body, &req) != nil {
		return ""
	}
	if req.JWS != "" {
		kid, err := deviceproto.KeyID(req.JWS)
		if err != nil || len(kid) > 64 {
			return ""
		}
		return kid
	}
	if len(req.CredID) > 64 {
		return ""
	}
	return req.CredID
}
