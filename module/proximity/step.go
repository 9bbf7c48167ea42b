package proximity

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/geo"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/strictjson"
)

// FieldLocation is the name of the location node; the device answers with a
// deviceproto.Location under it.
const FieldLocation = "location"

// ReasonWebLocationMissing is the Outcome's Reason when the browser gave no
// location before the hand-over.
const ReasonWebLocationMissing = "The browser's location is missing: allow location on the web page and try again."

// Why is the text of the prompt and of its location node.
const Why = "We compare your phone's location with your computer's to check that you are near it. Your location is used only for this check."

var _ module.DeviceStep = Step{}

// Step is the device step of proximity.
type Step struct{}

// Start fails the step at once, with ReasonWebLocationMissing, when the
// browser gave no location (none was taken, or it was purged); there is
// nothing to compare the phone's with. Otherwise it keeps no state and the
// web page shows the plain "continue on your phone".
func (Step) Start(_ context.Context, in module.DeviceInput) (module.DeviceStart, error) {
	if webLocation(in) != nil {
		return module.DeviceStart{}, nil
	}
	claims := map[string]string{
		ClaimVerified:   "false",
		ClaimVerifiedAt: unix(in.Now),
	}
	addWebIP(claims, in.Web)
	return module.DeviceStart{Outcome: &module.Outcome{Claims: claims, Reason: ReasonWebLocationMissing}}, nil
}

// Prompt asks the device for its location, saying why.
func (Step) Prompt(module.Config, []byte) []module.Node {
	return []module.Node{
		{Kind: "location", Name: FieldLocation, Label: "Share this phone's location", Text: Why, Required: true},
	}
}

// Answer decodes the device's location, compares it with the browser's
// by geo.Decide under the module's configs, and passes only on a pass. A
// failed or inconclusive decision fails the step with the decision's
// message as the Reason; either way the claims hold the evidence (see
// Claims). An answer that is not a well-formed location (not an object,
// unknown or duplicate members, wrong types, missing lat, lon, accuracy_m or
// read_at, an accuracy_kind other than "p68" and "p95") is a retry that is
// not counted. Values out of range (a latitude of 91, a negative accuracy)
// are well-formed: they make the decision inconclusive.
func (Step) Answer(_ context.Context, in module.DeviceInput, _ []byte, answer map[string]json.RawMessage) (module.Outcome, error) {
	cfg, ok := in.Config.(*Config)
	if !ok || cfg.DistanceM == nil {
		return module.Outcome{}, fmt.Errorf("%s: the step needs a validated *proximity.Config, got %T", Type, in.Config)
	}
	loc, msg := DecodeLocation(answer[FieldLocation])
	if msg != "" {
		return module.Outcome{Retry: []tandem.FieldError{{Path: FieldLocation, Message: msg}}}, nil
	}
	web, device := WebReading(in.Web), DeviceReading(loc)
	d := geo.Decide(web, device, cfg.GeoPolicy(), in.Now)
	out := module.Outcome{Passed: d.Outcome == geo.Pass, Claims: Claims(d, web, device, in.Web, in.Now)}
	if !out.Passed {
		out.Reason = d.Message
	}
	return out, nil
}

// GeoPolicy returns the geo.Policy of the configs: DistanceM, the web accuracy
// cap (WebAccuracyCap), MaxAge, RejectMock, and Strict for PolicyStrict.
func (c *Config) GeoPolicy() geo.Policy {
	return geo.Policy{
		DistanceM:       c.Distance(),
		MaxWebAccuracyM: c.WebAccuracyCap(),
		MaxAge:          c.MaxAge(),
		RejectMock:      c.RejectMock,
		Strict:          c.Policy == PolicyStrict,
	}
}

// webLocation returns the browser's reading, or nil when there is none or
// its coordinates were purged.
func webLocation(in module.DeviceInput) *tandem.WebLocation {
	if l := in.Web.Location; l != nil && !l.Purged {
		return l
	}
	return nil
}

// WebReading returns the browser's reading as a geo.Reading, or nil when
// there is none (or it was purged). The browser's accuracy is a 95 % radius
// (the W3C Geolocation API's). Its time is the browser's ReadAt, or, when the
// browser gave none, RecordedAt, when the server received it.
func WebReading(w tandem.WebContext) *geo.Reading {
	l := w.Location
	if l == nil || l.Purged {
		return nil
	}
	at := l.ReadAt
	if at.IsZero() {
		at = l.RecordedAt
	}
	return &geo.Reading{Lat: l.Lat, Lon: l.Lon, AccuracyM: l.AccuracyM, Kind: geo.KindP95, ReadAt: at}
}

// DeviceReading returns the phone's location as a geo.Reading. An empty
// accuracy_kind is taken as "p68": a platform that does not say what its
// radius is (iOS) is assumed to give a one-sigma radius, which the strict
// policy widens by geo.P68ToP95 — the larger margin, so the safe side.
// Taking it as "p95" would let a phone shrink its margin by staying silent.
func DeviceReading(loc deviceproto.Location) *geo.Reading {
	kind := loc.AccuracyKind
	if kind == "" {
		kind = geo.KindP68
	}
	return &geo.Reading{Lat: loc.Lat, Lon: loc.Lon, AccuracyM: loc.AccuracyM, Kind: kind,
		ReadAt: time.Unix(loc.ReadAt, 0), Mock: loc.Mock}
}

// requiredMembers are the members of a location answer that must be given
// (and not null).
var requiredMembers = []string{"lat", "lon", "accuracy_m", "read_at"}

// DecodeLocation decodes the device's answer to the location node strictly.
// It returns a message for the person (and the app's developer) when raw is
// not a well-formed location: absent, not an object, an unknown or
// duplicate member, a member of the wrong type, lat, lon, accuracy_m or
// read_at missing or null, or an accuracy_kind other than "", "p68" and
// "p95". Range checks are left to geo.Decide.
func DecodeLocation(raw json.RawMessage) (deviceproto.Location, string) {
	const shape = "send an object with lat, lon, accuracy_m, accuracy_kind and read_at."
	var loc deviceproto.Location
	if raw == nil {
		return loc, "location is missing: share this phone's location, " + shape
	}
	if kind := module.JSONKind(raw); kind != "an object" {
		return loc, fmt.Sprintf("location must be an object, not %s: %s", kind, shape)
	}
	if errs := strictjson.Decode(raw, &loc, FieldLocation); len(errs) > 0 {
		e := errs[0]
		if strings.HasPrefix(e.Message, "must ") {
			return loc, e.Path + " " + e.Message + "."
		}
		return loc, e.Path + ": " + e.Message + "."
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil { // cannot fail after Decode
		return loc, "location is not a valid JSON object: " + shape
	}
	for _, m := range requiredMembers {
		if v, ok := members[m]; !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return loc, fmt.Sprintf("location.%s is missing: %s", m, shape)
		}
	}
	switch loc.AccuracyKind {
	case "", geo.KindP68, geo.KindP95:
	default:
		return loc, fmt.Sprintf(`location.accuracy_kind must be "p68" (a one-sigma radius) or "p95" (a 95 %% radius), not %q.`, loc.AccuracyKind)
	}
	return loc, ""
}

// Claims returns the claims of a decision; every value is a string:
//
//   - proximity_verified "true" on a pass, "false" otherwise, and
//     proximity_verified_at now (Unix seconds);
//   - web_lat, web_long (degrees, 6 decimals, about 0.1 m) and web_geo_acc
//     (metres, at most 3 decimals) when the browser's reading is usable;
//   - mob_lat, mob_long (6 decimals) and prx_read_at (the phone's fix time,
//     Unix seconds) when the phone's reading is usable;
//   - web_mob_dist (metres, 1 decimal) when both are;
//   - web_ip, the address the browser opened the link from, or else the
//     one the integrator forwarded, when one is known.
//
// A reading that is missing or unusable (geo.Reading.Problem) adds no
// claims: the claims never carry coordinates that are not coordinates.
func Claims(d geo.Decision, web, device *geo.Reading, w tandem.WebContext, now time.Time) map[string]string {
	claims := map[string]string{
		ClaimVerified:   strconv.FormatBool(d.Outcome == geo.Pass),
		ClaimVerifiedAt: unix(now),
	}
	webOK := web != nil && web.Problem() == ""
	deviceOK := device != nil && device.Problem() == ""
	if webOK {
		claims[ClaimWebLat] = fixed(web.Lat, 6)
		claims[ClaimWebLong] = fixed(web.Lon, 6)
		claims[ClaimWebGeoAcc] = upTo(web.AccuracyM, 3)
	}
	if deviceOK {
		claims[ClaimMobLat] = fixed(device.Lat, 6)
		claims[ClaimMobLong] = fixed(device.Lon, 6)
		claims[ClaimReadAt] = unix(device.ReadAt)
	}
	if webOK && deviceOK {
		claims[ClaimWebMobDist] = fixed(geo.Distance(web.Lat, web.Lon, device.Lat, device.Lon), 1)
	}
	addWebIP(claims, w)
	return claims
}

func addWebIP(claims map[string]string, w tandem.WebContext) {
	ip := w.BrowserIP
	if ip == "" {
		ip = w.IP
	}
	if ip != "" {
		claims[ClaimWebIP] = ip
	}
}

// fixed formats x with prec decimals, without the sign of a value that
// rounds to zero ("-0.000000").
func fixed(x float64, prec int) string {
	s := strconv.FormatFloat(x, 'f', prec, 64)
	if strings.HasPrefix(s, "-") && strings.Trim(s, "-0.") == "" {
		return s[1:]
	}
	return s
}

// upTo formats x rounded to prec decimals, without trailing zeros: 18.082,
// 20, 7.5.
func upTo(x float64, prec int) string {
	p := math.Pow(10, float64(prec))
	return strconv.FormatFloat(math.Round(x*p)/p, 'f', -1, 64)
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
