package deviceapi_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceapi"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

const workspace = `{"name": "acme",
 "applications": [
   {"name": "web", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone", "mobile": {"notification": "qr"}}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "on-phone", "modules": [{"type": "device_register", "display_name": "Register"}]}]}`

type fixture struct {
	srv *httptest.Server
	db  *store.DB
	eng *engine.Engine
}

func setup(t *testing.T, vapidKey string) *fixture {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env, _ := rules.NewEnv()
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(workspace), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	eng := &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Inboxes: events.NewHub(), Now: time.Now, PublicURL: "https://verify.example"}
	ds := &deviceapi.Server{Engine: eng, Logger: slog.New(slog.DiscardHandler), Now: time.Now, VAPIDPublicKey: vapidKey}
	srv := httptest.NewServer(ds.Handler())
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, db: db, eng: eng}
}

func (f *fixture) post(t *testing.T, path string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(f.srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// pairedPhone pairs a new phone through the API and returns its key and
// credential id.
func (f *fixture) pairedPhone(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	ctx := t.Context()
	app, err := f.db.GetApplication(ctx, "acme", "web")
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.eng.Create(ctx, app, engine.CreateRequest{UserID: "mark", AllowNewDevice: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	link := strings.TrimPrefix(c.URL, "https://verify.example/v/")
	if _, err := f.eng.Open(ctx, link, "browser", "198.51.100.7", "Firefox"); err != nil {
		t.Fatal(err)
	}
	p, err := f.eng.NewPairing(ctx, link, "browser", "")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jws, err := deviceproto.SignPair(key, deviceproto.PairClaims{PairingToken: strings.TrimPrefix(p.URL, "https://verify.example/d/"), IssuedAt: time.Now().Unix(), Platform: "web"})
	if err != nil {
		t.Fatal(err)
	}
	st, body := f.post(t, "/device/v1/pair", deviceproto.Envelope{JWS: jws})
	var s deviceproto.Session
	if st != 200 || json.Unmarshal(body, &s) != nil || s.CredID == "" {
		t.Fatalf("pair: %d %s", st, body)
	}
	return key, s.CredID
}

func (f *fixture) registerPush(t *testing.T, key *ecdsa.PrivateKey, credID string, reg *deviceproto.PushRegistration) (int, []byte) {
	t.Helper()
	st, body := f.post(t, "/device/v1/challenge", deviceproto.ChallengeRequest{CredID: credID})
	var ch deviceproto.ChallengeResponse
	if st != 200 || json.Unmarshal(body, &ch) != nil {
		t.Fatalf("challenge: %d %s", st, body)
	}
	jws, err := deviceproto.SignRequest(key, deviceproto.RequestClaims{CredID: credID, Challenge: ch.Challenge, Action: deviceproto.ActionPushRegister, IssuedAt: time.Now().Unix(), Push: reg})
	if err != nil {
		t.Fatal(err)
	}
	return f.post(t, "/device/v1/push", deviceproto.Envelope{JWS: jws})
}

func subscription(endpoint string, p256dh []byte, auth []byte) string {
	b, _ := json.Marshal(map[string]any{"endpoint": endpoint, "expirationTime": nil, "keys": map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(p256dh), "auth": base64.RawURLEncoding.EncodeToString(auth)}})
	return string(b)
}

func TestPushRegistrationOverHTTP(t *testing.T) {
	f := setup(t, "")
	key, credID := f.pairedPhone(t)
	ua, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	uaPub, _ := ua.PublicKey.ECDH()
	good := subscription("https://fcm.googleapis.com/fcm/send/abc:APA91b", uaPub.Bytes(), make([]byte, 16))

	st, body := f.registerPush(t, key, credID, &deviceproto.PushRegistration{Type: "webpush", Token: good})
	var ch deviceproto.ChallengeResponse
	if st != 200 || json.Unmarshal(body, &ch) != nil || ch.Challenge == "" {
		t.Fatalf("register: %d %s; want 200 with a challenge", st, body)
	}
	dev, err := f.db.GetDevice(t.Context(), credID)
	if err != nil || dev.PushType != "webpush" || dev.PushToken != good {
		t.Fatalf("device: %q %q, %v", dev.PushType, dev.PushToken, err)
	}

	offCurve := append([]byte{4}, bytes.Repeat([]byte{7}, 64)...)
	for name, c := range map[string]struct {
		reg    *deviceproto.PushRegistration
		detail string
	}{
		"http endpoint":      {&deviceproto.PushRegistration{Type: "webpush", Token: subscription("http://push.example.net/x", uaPub.Bytes(), make([]byte, 16))}, "endpoint must be an https URL"},
		"p256dh too short":   {&deviceproto.PushRegistration{Type: "webpush", Token: subscription("https://push.example.net/x", uaPub.Bytes()[:33], make([]byte, 16))}, "keys.p256dh must be an uncompressed P-256 point"},
		"p256dh off curve":   {&deviceproto.PushRegistration{Type: "webpush", Token: subscription("https://push.example.net/x", offCurve, make([]byte, 16))}, "keys.p256dh is not a point of the P-256 curve"},
		"auth not 16 bytes":  {&deviceproto.PushRegistration{Type: "webpush", Token: subscription("https://push.example.net/x", uaPub.Bytes(), make([]byte, 8))}, "keys.auth must be 16 bytes"},
		"not a subscription": {&deviceproto.PushRegistration{Type: "webpush", Token: "https://push.example.net/x"}, "must be the subscription's JSON"},
		"unknown type":       {&deviceproto.PushRegistration{Type: "apns", Token: "x"}, `push type "apns" is not known`},
		"no push claim":      {nil, "carries no push registration"},
	} {
		st, body := f.registerPush(t, key, credID, c.reg)
		var p deviceproto.Problem
		if json.Unmarshal(body, &p) != nil || st != 400 || p.Status != 400 || p.Code != "bad_push" || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: %d %s; want 400 bad_push saying %q", name, st, body, c.detail)
		}
	}
	if dev, _ = f.db.GetDevice(t.Context(), credID); dev.PushToken != good {
		t.Error("a refused registration changed the device")
	}

	// An empty type clears the registration.
	if st, body := f.registerPush(t, key, credID, &deviceproto.PushRegistration{}); st != 200 {
		t.Fatalf("clear: %d %s", st, body)
	}
	if dev, _ = f.db.GetDevice(t.Context(), credID); dev.PushType != "" || dev.PushToken != "" {
		t.Errorf("after clearing: %q %q", dev.PushType, dev.PushToken)
	}

	// Without Web Push, the VAPID key route says so.
	resp, err := http.Get(f.srv.URL + "/device/v1/push/vapid-public-key")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "webpush_unavailable") {
		t.Errorf("VAPID key without Web Push: %d %s; want 404 webpush_unavailable", resp.StatusCode, b)
	}
}

func TestVAPIDPublicKeyRoute(t *testing.T) {
	f := setup(t, "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8")
	resp, err := http.Get(f.srv.URL + "/device/v1/push/vapid-public-key")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d, %v", resp.StatusCode, err)
	}
	if out["public_key"] != "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8" || len(out) != 1 {
		t.Errorf("answer %v", out)
	}
	if resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
	}
	// POST is not the route.
	st, _ := f.post(t, "/device/v1/push/vapid-public-key", map[string]string{})
	if st == 200 {
		t.Error("POST to the VAPID key route answered 200")
	}
}
