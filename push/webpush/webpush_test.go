package webpush_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/push/webpush"
	"github.com/tandem-id/tandem/push/webpush/webpushtest"
)

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

// The example of RFC 8291 section 5, with the intermediate values of its
// appendix A.
const (
	rfcPlaintext = "When I grow up, I want to be a watermelon"
	rfcASPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
	rfcASPublic  = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
	rfcUAPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
	rfcUAPublic  = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
	rfcSalt      = "DGv6ra1nlYgDCS1FRnbzlw"
	rfcAuth      = "BTBZMqHH6r4Tts7J_aSIgg"
	rfcBody      = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
)

func rfcSubscription() webpush.Subscription {
	return webpush.Subscription{Endpoint: "https://push.example.net/push/JzLQ3raZJfFBR0aqvOMsLrt54w4rJUsV", Keys: webpush.Keys{P256DH: rfcUAPublic, Auth: rfcAuth}}
}

func TestEncryptReproducesTheRFC8291Example(t *testing.T) {
	as, err := ecdh.P256().NewPrivateKey(b64(t, rfcASPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(as.PublicKey().Bytes()); got != rfcASPublic {
		t.Fatalf("the example's application server key has public key %s, want %s", got, rfcASPublic)
	}
	got, err := webpush.Encrypt(rfcSubscription(), []byte(rfcPlaintext), webpush.EncryptOptions{PrivateKey: as, Salt: b64(t, rfcSalt)})
	if err != nil {
		t.Fatal(err)
	}
	if want := b64(t, rfcBody); !bytes.Equal(got, want) {
		t.Fatalf("Encrypt = %s\nwant      %s", base64.RawURLEncoding.EncodeToString(got), rfcBody)
	}
	// The test's decryption reads the RFC's message too.
	ua, err := ecdh.P256().NewPrivateKey(b64(t, rfcUAPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if base64.RawURLEncoding.EncodeToString(ua.PublicKey().Bytes()) != rfcUAPublic {
		t.Fatal("the example's user agent keys do not match")
	}
	plain, err := webpushtest.Decrypt(ua, b64(t, rfcAuth), b64(t, rfcBody))
	if err != nil || string(plain) != rfcPlaintext {
		t.Fatalf("decrypt the RFC's message: %q, %v", plain, err)
	}
}

func newSubscription(t *testing.T) (webpush.Subscription, *ecdh.PrivateKey, []byte) {
	t.Helper()
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	return webpush.Subscription{
		Endpoint: "https://push.example.net/push/abc",
		Keys:     webpush.Keys{P256DH: base64.RawURLEncoding.EncodeToString(ua.PublicKey().Bytes()), Auth: base64.RawURLEncoding.EncodeToString(auth)},
	}, ua, auth
}

func TestEncryptRoundTrip(t *testing.T) {
	sub, ua, auth := newSubscription(t)
	msg := []byte(`{"verification_id":"6f1d2c3b-4a59-4e87-9d6c-5b4a3f2e1d0c"}`)
	a, err := webpush.Encrypt(sub, msg, webpush.EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := webpush.Encrypt(sub, msg, webpush.EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a[:16], b[:16]) || bytes.Equal(a[21:86], b[21:86]) {
		t.Error("two messages share a salt or an ephemeral key")
	}
	if rs, idlen := binary.BigEndian.Uint32(a[16:20]), a[20]; rs != 4096 || idlen != 65 {
		t.Errorf("header: rs %d, idlen %d; want 4096 and 65", rs, idlen)
	}
	if len(a) != 86+len(msg)+1+16 {
		t.Errorf("body is %d bytes, want header + message + delimiter + tag = %d", len(a), 86+len(msg)+1+16)
	}
	plain, err := webpushtest.Decrypt(ua, auth, a)
	if err != nil || !bytes.Equal(plain, msg) {
		t.Fatalf("round trip: %q, %v", plain, err)
	}
	// Another subscription's keys do not open it.
	_, other, _ := newSubscription(t)
	if _, err := webpushtest.Decrypt(other, auth, a); err == nil {
		t.Error("a message opened with another subscription's key")
	}
}

func TestEncryptLimitsAndRefusals(t *testing.T) {
	sub, ua, auth := newSubscription(t)
	full, err := webpush.Encrypt(sub, bytes.Repeat([]byte("x"), webpush.MaxPlaintext), webpush.EncryptOptions{})
	if err != nil || len(full) != 4096 {
		t.Fatalf("largest message: %d bytes, %v; want 4096 bytes", len(full), err)
	}
	if _, err := webpushtest.Decrypt(ua, auth, full); err != nil {
		t.Fatal(err)
	}
	if _, err := webpush.Encrypt(sub, make([]byte, webpush.MaxPlaintext+1), webpush.EncryptOptions{}); err == nil {
		t.Error("a message of MaxPlaintext+1 bytes was encrypted")
	}
	if _, err := webpush.Encrypt(sub, nil, webpush.EncryptOptions{Salt: make([]byte, 15)}); err == nil {
		t.Error("a 15-byte salt was accepted")
	}
	bad := sub
	bad.Keys.Auth = base64.RawURLEncoding.EncodeToString(make([]byte, 12))
	if _, err := webpush.Encrypt(bad, nil, webpush.EncryptOptions{}); err == nil {
		t.Error("a 12-byte auth secret was accepted")
	}
}

func newVAPID(t *testing.T) webpush.VAPID {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return webpush.VAPID{PrivateKey: k, Subject: "mailto:ops@verify.example"}
}

func TestVAPIDHeader(t *testing.T) {
	v := newVAPID(t)
	now := time.Unix(1795600830, 0)
	for endpoint, aud := range map[string]string{
		"https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91b": "https://fcm.googleapis.com",
		"https://Push.Example.net:443/p/1":                       "https://push.example.net",
		"https://push.example.net:8443/p/1":                      "https://push.example.net:8443",
	} {
		h, err := v.Header(endpoint, now)
		if err != nil {
			t.Fatal(err)
		}
		claims, k, err := webpushtest.VerifyVAPID(h, aud, now)
		if err != nil {
			t.Fatalf("%s: %v (header %s)", endpoint, err, h)
		}
		if k != v.PublicKey() {
			t.Errorf("k = %s, want the public key %s", k, v.PublicKey())
		}
		if exp := int64(claims["exp"].(float64)); exp != now.Add(webpush.TokenLifetime).Unix() || webpush.TokenLifetime > 24*time.Hour {
			t.Errorf("exp = %d, want now + %s (≤ 24 h)", exp, webpush.TokenLifetime)
		}
		if claims["sub"] != "mailto:ops@verify.example" {
			t.Errorf("sub = %v", claims["sub"])
		}
		// go-jose reads it the same way.
		tok, err := jwt.ParseSigned(strings.TrimSuffix(strings.TrimPrefix(h, "vapid t="), ", k="+k), []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		var std jwt.Claims
		if err := tok.Claims(&v.PrivateKey.PublicKey, &std); err != nil {
			t.Fatalf("go-jose: %v", err)
		}
		if err := std.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{aud}, Subject: v.Subject, Time: now}, 0); err != nil {
			t.Errorf("go-jose validation: %v", err)
		}
	}
	raw := b64(t, v.PublicKey())
	if len(raw) != 65 || raw[0] != 4 {
		t.Errorf("public key is %d bytes starting %#x; want an uncompressed point", len(raw), raw[0])
	}
	if _, err := (webpush.VAPID{PrivateKey: v.PrivateKey, Subject: "admin@example.com"}).Header("https://push.example.net/x", now); err == nil {
		t.Error("a subject without mailto: or https: was accepted")
	}
}

func TestCheckSubject(t *testing.T) {
	for s, ok := range map[string]bool{
		"mailto:admin@localhost": true, "https://verify.example.com/contact": true,
		"": false, "admin@localhost": false, "mailto:": false, "http://example.com": false, "https://": false,
	} {
		if err := webpush.CheckSubject(s); (err == nil) != ok {
			t.Errorf("CheckSubject(%q) = %v, want ok %v", s, err, ok)
		}
	}
}

func device(token string) *tandem.Device {
	return &tandem.Device{CredID: "9f2c4e1a7b3d5f60718293a4b5c6d7e8", PushType: "webpush", PushToken: token}
}

func TestProviderPushes(t *testing.T) {
	svc := webpushtest.New(t)
	now := time.Unix(1795600830, 0)
	svc.Now = func() time.Time { return now }
	p := &webpush.Provider{HTTP: svc.Client(), VAPID: newVAPID(t), Now: svc.Now}
	msg := engine.PushMessage{VerificationID: "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d", Title: "Sign-in request"}
	if err := p.Push(t.Context(), device(svc.Token("")), msg); err != nil {
		t.Fatalf("push: %v", err)
	}
	got := svc.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	m := got[0]
	if m.DecryptErr != nil || m.VAPIDErr != nil {
		t.Fatalf("decrypt: %v; vapid: %v", m.DecryptErr, m.VAPIDErr)
	}
	var back engine.PushMessage
	if err := json.Unmarshal(m.Plaintext, &back); err != nil || back != msg {
		t.Errorf("payload %s, want the JSON of %+v", m.Plaintext, msg)
	}
	for h, want := range map[string]string{"Content-Encoding": "aes128gcm", "Content-Type": "application/octet-stream", "TTL": "60", "Urgency": "high"} {
		if m.Header.Get(h) != want {
			t.Errorf("%s: %q, want %q", h, m.Header.Get(h), want)
		}
	}
	if m.VAPIDKey != p.VAPID.PublicKey() || m.Path != "/push/sub-7d3f" {
		t.Errorf("k %s, path %s", m.VAPIDKey, m.Path)
	}

	p.TTL, p.Urgency = 5*time.Minute, "normal"
	if err := p.Push(t.Context(), device(svc.Token("")), msg); err != nil {
		t.Fatal(err)
	}
	if m := svc.Messages()[1]; m.Header.Get("TTL") != "300" || m.Header.Get("Urgency") != "normal" {
		t.Errorf("TTL %s, Urgency %s; want 300 and normal", m.Header.Get("TTL"), m.Header.Get("Urgency"))
	}

	svc.SetStatus(http.StatusAccepted)
	if err := p.Push(t.Context(), device(svc.Token("")), msg); err != nil {
		t.Errorf("202: %v, want success", err)
	}
}

func TestProviderErrors(t *testing.T) {
	svc := webpushtest.New(t)
	p := &webpush.Provider{HTTP: svc.Client(), VAPID: newVAPID(t)}
	ctx := t.Context()
	for _, code := range []int{http.StatusGone, http.StatusNotFound} {
		svc.SetStatus(code)
		err := p.Push(ctx, device(svc.Token("")), engine.PushMessage{VerificationID: "v"})
		var se *webpush.StatusError
		if !errors.Is(err, webpush.ErrGone) || !errors.Is(err, engine.ErrPushGone) || !errors.As(err, &se) || se.StatusCode != code {
			t.Errorf("%d: %v; want a StatusError wrapping ErrGone and engine.ErrPushGone", code, err)
		}
		if strings.Contains(err.Error(), "sub-7d3f") {
			t.Errorf("the error %q reveals the endpoint's path", err)
		}
	}
	for _, code := range []int{http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests, http.StatusInternalServerError} {
		svc.SetStatus(code)
		err := p.Push(ctx, device(svc.Token("")), engine.PushMessage{VerificationID: "v"})
		var se *webpush.StatusError
		if err == nil || errors.Is(err, engine.ErrPushGone) || !errors.As(err, &se) || se.StatusCode != code {
			t.Errorf("%d: %v; want a StatusError that is not gone", code, err)
		}
	}
	svc.SetStatus(http.StatusCreated)

	// Only https endpoints, unless AllowHTTP.
	plain := "http" + strings.TrimPrefix(svc.Endpoint(), "https")
	n := len(svc.Messages())
	if err := p.Push(ctx, device(svc.Token(plain)), engine.PushMessage{}); err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("http endpoint: %v, want refused", err)
	}
	if len(svc.Messages()) != n {
		t.Error("an http endpoint was pushed to")
	}
	hp := &webpush.Provider{VAPID: p.VAPID, AllowHTTP: true}
	if err := hp.Push(ctx, device(svc.Token(plain)), engine.PushMessage{}); err == nil || strings.Contains(err.Error(), "not an https") {
		t.Errorf("AllowHTTP: %v; want the request made (and failing on the TLS server)", err)
	}

	d := device(svc.Token(""))
	d.PushType = "fcm"
	if err := p.Push(ctx, d, engine.PushMessage{}); err == nil {
		t.Error("an fcm device was pushed to by Web Push")
	}
	if err := p.Push(ctx, device(`{"endpoint":"https://push.example.net/x"}`), engine.PushMessage{}); err == nil {
		t.Error("a subscription without keys was pushed to")
	}
	ctxDone, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Push(ctxDone, device(svc.Token("")), engine.PushMessage{}); err == nil || strings.Contains(err.Error(), "sub-7d3f") {
		t.Errorf("cancelled push: %v; want an error that hides the endpoint's path", err)
	}
}

type settings map[string][]byte

func (s settings) Setting(_ context.Context, k string) ([]byte, error) {
	v, ok := s[k]
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "setting %q not found", k)
	}
	return v, nil
}

func (s settings) PutSetting(_ context.Context, k string, v []byte) error {
	s[k] = v
	return nil
}

func TestLoadOrCreateKey(t *testing.T) {
	st := settings{}
	secret := []byte("0123456789abcdef0123456789abcdef")
	k1, err := webpush.LoadOrCreateKey(t.Context(), st, secret)
	if err != nil {
		t.Fatal(err)
	}
	sealed := st[webpush.SettingKey]
	if len(sealed) == 0 || sealed[0] != 1 {
		t.Fatalf("stored %x; want the sealed form", sealed)
	}
	d := k1.D.FillBytes(make([]byte, 32))
	if bytes.Contains(sealed, d) {
		t.Fatal("the private key is stored in clear")
	}
	k2, err := webpush.LoadOrCreateKey(t.Context(), st, secret)
	if err != nil || !k2.Equal(k1) {
		t.Fatalf("second load: %v; want the same key", err)
	}
	other := []byte("another secret key, 32 bytes long!")
	if _, err := webpush.LoadOrCreateKey(t.Context(), st, other); !errors.Is(err, webpush.ErrKeyUnreadable) || !strings.Contains(err.Error(), "-secret-key") {
		t.Errorf("another secret: %v; want ErrKeyUnreadable naming -secret-key", err)
	}
	if !bytes.Equal(st[webpush.SettingKey], sealed) {
		t.Error("a key that did not open was replaced")
	}
	if _, err := webpush.LoadOrCreateKey(t.Context(), settings{}, []byte("short")); err == nil {
		t.Error("a short secret was accepted")
	}
}
