package deviceproto

import (
	"crypto/ecdh"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/tandem-id/tandem"
)

// Push types of a push registration.
const (
	PushWebPush = "webpush" // Web Push (RFC 8030): the token is a WebPushSubscription
	PushFCM     = "fcm"     // Firebase Cloud Messaging: the token is the FCM registration token
)

// MaxPushToken is the longest push token, in bytes.
const MaxPushToken = 4096

// PushRegistration is the push claim of a push_register request: how the
// server may wake the device when a prompt waits in its inbox. An empty Type
// with an empty Token clears the registration.
type PushRegistration struct {
	Type  string `json:"type"`
	Token string `json:"token"`
}

// Check returns nil when r is a registration the server accepts, and
// otherwise an EINVALID error with reason "bad_push" that says what is
// wrong: an unknown type, a token that is empty, too long or (for webpush)
// not a subscription with an https endpoint and valid keys.
func (r *PushRegistration) Check() error {
	if len(r.Token) > MaxPushToken {
		return badPush("The push token is longer than %d bytes.", MaxPushToken)
	}
	switch r.Type {
	case "":
		if r.Token != "" {
			return badPush("A push token needs a push type (%q or %q); send an empty type and token to clear the registration.", PushWebPush, PushFCM)
		}
		return nil
	case PushWebPush:
		s, err := ParseWebPushSubscription(r.Token)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(s.Endpoint, "https://") {
			return badPush("The Web Push subscription's endpoint must be an https URL.")
		}
		return nil
	case PushFCM:
		if r.Token == "" {
			return badPush("The FCM registration token is empty.")
		}
		for i := 0; i < len(r.Token); i++ {
			if c := r.Token[i]; c <= ' ' || c > '~' {
				return badPush("The FCM registration token must be printable ASCII without spaces.")
			}
		}
		return nil
	}
	return badPush("The push type %q is not known; use %q, %q, or an empty type to clear the registration.", r.Type, PushWebPush, PushFCM)
}

// WebPushSubscription is the token of a "webpush" registration: the JSON of
// the browser's PushSubscription (PushSubscription.toJSON()). Other
// members, such as expirationTime, are ignored.
type WebPushSubscription struct {
	// Endpoint is the push service's URL for this subscription.
	Endpoint string      `json:"endpoint"`
	Keys     WebPushKeys `json:"keys"`
}

// WebPushKeys are the keys of a Web Push subscription (RFC 8291),
// base64url.
type WebPushKeys struct {
	// P256DH is the user agent's ECDH public key: an uncompressed P-256
	// point, 65 bytes.
	P256DH string `json:"p256dh"`
	// Auth is the 16-byte authentication secret.
	Auth string `json:"auth"`
}

// ParseWebPushSubscription parses a webpush token and checks it: an
// absolute http(s) endpoint URL without user information, a p256dh that is
// an uncompressed point of P-256 and a 16-byte auth secret. It does not
// require https; PushRegistration.Check does. Errors are EINVALID with
// reason "bad_push".
func ParseWebPushSubscription(token string) (*WebPushSubscription, error) {
	var s WebPushSubscription
	if err := json.Unmarshal([]byte(token), &s); err != nil {
		return nil, badPush("The Web Push token must be the subscription's JSON, {\"endpoint\": …, \"keys\": {\"p256dh\": …, \"auth\": …}}.")
	}
	u, err := url.Parse(s.Endpoint)
	if s.Endpoint == "" || err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, badPush("The Web Push subscription's endpoint must be an absolute https URL.")
	}
	if u.User != nil {
		return nil, badPush("The Web Push subscription's endpoint must not carry a user name or password.")
	}
	if _, _, err := s.DecodeKeys(); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeKeys decodes and checks the subscription's keys: the user agent's
// public key and the authentication secret. Errors are EINVALID with reason
// "bad_push".
func (s *WebPushSubscription) DecodeKeys() (*ecdh.PublicKey, []byte, error) {
	raw, err := decodeB64URL(s.Keys.P256DH)
	if err != nil || len(raw) != 65 || raw[0] != 4 {
		return nil, nil, badPush("The Web Push subscription's keys.p256dh must be an uncompressed P-256 point: 65 bytes, base64url.")
	}
	pub, err := ecdh.P256().NewPublicKey(raw)
	if err != nil {
		return nil, nil, badPush("The Web Push subscription's keys.p256dh is not a point of the P-256 curve.")
	}
	auth, err := decodeB64URL(s.Keys.Auth)
	if err != nil || len(auth) != 16 {
		return nil, nil, badPush("The Web Push subscription's keys.auth must be 16 bytes, base64url.")
	}
	return pub, auth, nil
}

// decodeB64URL decodes base64url with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func badPush(format string, args ...any) error {
	return tandem.Refusef(tandem.EINVALID, "bad_push", format, args...)
}
