package deviceproto_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
)

func subJSON(endpoint, p256dh, auth string) string {
	b, _ := json.Marshal(map[string]any{"endpoint": endpoint, "expirationTime": nil, "keys": map[string]string{"p256dh": p256dh, "auth": auth}})
	return string(b)
}

func TestPushRegistrationCheck(t *testing.T) {
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	pub := ua.PublicKey().Bytes()
	p256dh := base64.RawURLEncoding.EncodeToString(pub)
	auth := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	offCurve := append([]byte{4}, make([]byte, 64)...)
	offCurve[64] = 1
	compressed := append([]byte{2 | pub[64]&1}, pub[1:33]...)
	b := base64.RawURLEncoding.EncodeToString
	ok := subJSON("https://fcm.googleapis.com/fcm/send/abc:APA91b", p256dh, auth)

	for _, c := range []struct {
		name, typ, token string
		problem          string // "" for accepted; else a word of the message
	}{
		{"webpush", "webpush", ok, ""},
		{"padded base64url", "webpush", subJSON("https://push.example.net/x", base64.URLEncoding.EncodeToString(pub), base64.URLEncoding.EncodeToString(make([]byte, 16))), ""},
		{"fcm", "fcm", "dXkZ3vR4:APA91bH-x_y", ""},
		{"clear", "", "", ""},
		{"token without type", "", "abc", "needs a push type"},
		{"unknown type", "apns", "abc", "not known"},
		{"empty fcm", "fcm", "", "empty"},
		{"fcm with space", "fcm", "a b", "printable"},
		{"not JSON", "webpush", "https://push.example.net/x", "JSON"},
		{"http endpoint", "webpush", subJSON("http://push.example.net/x", p256dh, auth), "https"},
		{"relative endpoint", "webpush", subJSON("/push/x", p256dh, auth), "absolute https"},
		{"no endpoint", "webpush", subJSON("", p256dh, auth), "absolute https"},
		{"ftp endpoint", "webpush", subJSON("ftp://push.example.net/x", p256dh, auth), "absolute https"},
		{"user info", "webpush", subJSON("https://u:p@push.example.net/x", p256dh, auth), "user name"},
		{"no p256dh", "webpush", subJSON("https://push.example.net/x", "", auth), "p256dh"},
		{"short p256dh", "webpush", subJSON("https://push.example.net/x", b(pub[:64]), auth), "65 bytes"},
		{"compressed p256dh", "webpush", subJSON("https://push.example.net/x", b(compressed), auth), "uncompressed"},
		{"p256dh off the curve", "webpush", subJSON("https://push.example.net/x", b(offCurve), auth), "not a point"},
		{"p256dh standard base64", "webpush", subJSON("https://push.example.net/x", strings.NewReplacer("-", "+", "_", "/").Replace(p256dh)+"+/", auth), "p256dh"},
		{"short auth", "webpush", subJSON("https://push.example.net/x", p256dh, b(make([]byte, 15))), "16 bytes"},
		{"long auth", "webpush", subJSON("https://push.example.net/x", p256dh, b(make([]byte, 32))), "16 bytes"},
		{"too long", "webpush", subJSON("https://push.example.net/"+strings.Repeat("x", deviceproto.MaxPushToken), p256dh, auth), "longer than"},
	} {
		err := (&deviceproto.PushRegistration{Type: c.typ, Token: c.token}).Check()
		switch {
		case c.problem == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.problem != "" && err == nil:
			t.Errorf("%s: accepted", c.name)
		case c.problem != "" && (tandem.ErrorCode(err) != tandem.EINVALID || tandem.ErrorReason(err) != "bad_push" || !strings.Contains(tandem.ErrorMessage(err), c.problem)):
			t.Errorf("%s: %v (%s/%s); want EINVALID bad_push mentioning %q", c.name, err, tandem.ErrorCode(err), tandem.ErrorReason(err), c.problem)
		}
	}

	s, err := deviceproto.ParseWebPushSubscription(subJSON("http://127.0.0.1:8080/x", p256dh, auth))
	if err != nil || s.Endpoint != "http://127.0.0.1:8080/x" || s.Keys.P256DH != p256dh {
		t.Errorf("ParseWebPushSubscription of an http endpoint: %+v, %v; want parsed (Check requires https)", s, err)
	}
	key, secret, err := s.DecodeKeys()
	if err != nil || string(key.Bytes()) != string(pub) || len(secret) != 16 {
		t.Errorf("DecodeKeys: %v", err)
	}
}

func TestPushClaimRoundTrips(t *testing.T) {
	c := deviceproto.RequestClaims{CredID: "c", Challenge: "x", Action: deviceproto.ActionPushRegister, IssuedAt: 1, Push: &deviceproto.PushRegistration{Type: "fcm", Token: "t"}}
	b, _ := json.Marshal(c)
	if !strings.Contains(string(b), `"push":{"type":"fcm","token":"t"}`) || !strings.Contains(string(b), `"action":"push_register"`) {
		t.Errorf("claims JSON %s", b)
	}
	b, _ = json.Marshal(deviceproto.RequestClaims{Action: deviceproto.ActionInbox})
	if strings.Contains(string(b), "push") {
		t.Errorf("a request without a push registration has %s", b)
	}
}
