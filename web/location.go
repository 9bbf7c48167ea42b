package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/strictjson"
)

// locationRequest is the body of POST /v/{token}/location: one reading of
// the browser's Geolocation API.
//
//	{"lat": 12.94739, "lon": 80.24207, "accuracy_m": 18.082, "age_ms": 1250}
//
// lat, lon (degrees, WGS-84) and accuracy_m (coords.accuracy: a 95 %
// radius in metres) are required. age_ms is how old the reading was when
// it was sent (Date.now() - position.timestamp), measured on the browser's
// own clock so that a computer whose clock is wrong is not refused; the
// server dates the reading by its own clock minus the age. When it is
// absent the reading counts as taken when the server receives it.
type locationRequest struct {
	Lat       *float64 `json:"lat"`
	Lon       *float64 `json:"lon"`
	AccuracyM *float64 `json:"accuracy_m"`
	AgeMS     *int64   `json:"age_ms"`
}

// statusError is a failure answered with a status of its own instead of
// the one of its code.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// location records this computer's location for the hand-over that waits
// for it (see engine.SetWebLocation), for the browser bound to the
// verification. It answers 204 once recorded; a problem otherwise: 422 with
// the fields in error for a reading that is malformed or out of range, 409
// when no step waits for a location, 403 for another browser, 404 for an
// unknown link, 413 for a body over MaxLocationBytes, 415 for a body that
// is not JSON. The browser's address is recorded with the reading.
func (s *Server) location(w http.ResponseWriter, r *http.Request) error {
	req, err := readLocation(w, r)
	if err != nil {
		return err
	}
	loc := tandem.WebLocation{Lat: *req.Lat, Lon: *req.Lon, AccuracyM: *req.AccuracyM}
	if req.AgeMS != nil {
		loc.ReadAt = s.Now().Add(-time.Duration(*req.AgeMS) * time.Millisecond)
	}
	token, key, addr := r.PathValue("token"), browserKey(r), clientAddr(r)
	if _, err := s.Engine.SetWebLocation(r.Context(), token, key, loc, addr); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readLocation reads and strictly decodes a location body: JSON, at most
// MaxLocationBytes, one object with only the known fields, each of its
// type, and the required ones present.
func readLocation(w http.ResponseWriter, r *http.Request) (*locationRequest, error) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" {
		return nil, &statusError{http.StatusUnsupportedMediaType,
			tandem.Errorf(tandem.EINVALID, "The location must be sent as JSON (Content-Type: application/json).")}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxLocationBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &statusError{http.StatusRequestEntityTooLarge,
				tandem.Errorf(tandem.EINVALID, "The location is larger than %d bytes.", MaxLocationBytes)}
		}
		return nil, tandem.Errorf(tandem.EINVALID, "The location could not be read.")
	}
	var req locationRequest
	if errs := strictjson.Decode(body, &req, ""); len(errs) > 0 {
		return nil, tandem.Invalid("The location reading is not valid.", errs)
	}
	var errs []tandem.FieldError
	missing := func(path, what string) {
		errs = append(errs, tandem.FieldError{Path: path, Message: path + " is missing: send " + what})
	}
	if req.Lat == nil {
		missing("lat", "the latitude in degrees, a number from -90 to 90")
	}
	if req.Lon == nil {
		missing("lon", "the longitude in degrees, a number from -180 to 180")
	}
	if req.AccuracyM == nil {
		missing("accuracy_m", "the reading's accuracy in metres (coords.accuracy)")
	}
	if req.AgeMS != nil && (*req.AgeMS < 0 || *req.AgeMS > 86400000) {
		errs = append(errs, tandem.FieldError{Path: "age_ms", Message: "age_ms must be the reading's age in milliseconds, from 0 to 86400000"})
	}
	if err := tandem.Invalid("The location reading is not valid.", errs); err != nil {
		return nil, err
	}
	return &req, nil
}
